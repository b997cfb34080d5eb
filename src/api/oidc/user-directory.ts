import type { ReadModelStore } from '../../ports/read-models.js';
import { ORGANIZATIONS, type OrganizationDocument } from '../../projections/organizations/projection.js';
import { USERS, type UserDocument } from '../../projections/users/projection.js';

export interface DirectoryUser {
  readonly id: string;
  readonly organizationId: string;
  readonly subject: string;
  readonly name: string;
  readonly state: 'active' | 'pending' | 'suspended';
}

const toUser = (doc: UserDocument): DirectoryUser => ({
  id: doc.metadata.id,
  organizationId: doc.metadata.organizationId,
  subject: doc.spec.subject,
  name: doc.metadata.name,
  state: doc.spec.state,
});

/** Users as the login and the token service need them, from the users read model. */
export class UserDirectory {
  constructor(private readonly readModels: ReadModelStore) {}

  async byId(userId: string): Promise<DirectoryUser | undefined> {
    const doc = await this.readModels.collection<UserDocument>(USERS).findById(userId);
    return doc && toUser(doc);
  }

  /**
   * The account signing in with this email in this organization. An email is
   * unique within an organization only: the login always names the
   * organization (the application's, or the one a platform login chose), so an
   * account in one organization never answers for another's.
   */
  async forLogin(email: string, organizationId: string): Promise<DirectoryUser | undefined> {
    const users = this.readModels.collection<UserDocument>(USERS);
    const [doc] = await users.find({ subjectKey: email.toLowerCase(), 'metadata.organizationId': organizationId }, { limit: 1 });
    if (doc) return toUser(doc);
    // Or its login name (docs/compat.md): subjects and login names share one reservation scope, so at most one user holds it.
    const [named] = await users.find({ loginNameKey: email.toLowerCase(), 'metadata.organizationId': organizationId }, { limit: 1 });
    return named && toUser(named);
  }

  /** The organization a platform login names, by id or by (unique) name; undefined if there is none, or it is being deleted. */
  async organizationId(idOrName: string): Promise<string | undefined> {
    if (!idOrName || idOrName.length > 256) return undefined;
    const organizations = this.readModels.collection<OrganizationDocument>(ORGANIZATIONS);
    const doc = (await organizations.findById(idOrName)) ?? (await organizations.find({ 'metadata.name': idOrName }, { limit: 1 }))[0];
    return doc && doc.metadata.provisioningStatus !== 'deprovisioning' ? doc.metadata.id : undefined;
  }
}
