import type { ReadModelStore } from '../../ports/read-models.js';
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
   * The user signing in with this email: in the application's organization, or,
   * for a platform application (organizationId undefined), in any organization;
   * when the email is a member of several, the oldest membership signs in.
   */
  async forLogin(email: string, organizationId: string | undefined): Promise<DirectoryUser | undefined> {
    const filter = { subjectKey: email.toLowerCase(), ...(organizationId !== undefined && { 'metadata.organizationId': organizationId }) };
    const [doc] = await this.readModels.collection<UserDocument>(USERS).find(filter, { sort: { 'metadata.creationTime': 1, _id: 1 }, limit: 1 });
    return doc && toUser(doc);
  }
}
