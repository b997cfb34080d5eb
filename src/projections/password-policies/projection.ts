import { effectivePasswordPolicy, type PasswordPolicy } from '../../domain/credentials/password-policy.js';
import type { OrganizationEvent } from '../../domain/organization/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document, ReadModelStore } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';

/** An organization's own password policy, one document per organization (id = the organization's). */
export interface PasswordPolicyDocument extends Document {
  metadata: { organizationId: string; updated: string };
  policy: PasswordPolicy;
}

type Event<T extends OrganizationEvent['type']> = RecordedEvent<T, Extract<OrganizationEvent, { type: T }>['data']>;

export const PASSWORD_POLICIES = 'password_policies';

export const passwordPoliciesProjection = defineProjection<PasswordPolicyDocument>({
  name: 'password-policies',
  collection: PASSWORD_POLICIES,
  indexes: [],
  handlers: {
    'organization.password_policy.changed': async (event: Event<'organization.password_policy.changed'>, docs) => {
      const { organizationId, policy } = event.data;
      await docs.update(organizationId, () => ({ _id: organizationId, metadata: { organizationId, updated: event.metadata.occurredAt }, policy }));
    },
    'organization.deleted': async (event: Event<'organization.deleted'>, docs) => {
      await docs.update(event.data.organizationId, () => undefined);
    },
  },
});

/** The password policy an organization has set, and the one in force (its own when enabled, else the platform default). */
export class PasswordPolicyQueries {
  constructor(
    private readonly readModels: ReadModelStore,
    readonly platformDefault: PasswordPolicy,
  ) {}

  /** The organization's own policy, if it set one. */
  async own(organizationId: string): Promise<PasswordPolicy | undefined> {
    return (await this.readModels.collection<PasswordPolicyDocument>(PASSWORD_POLICIES).findById(organizationId))?.policy;
  }

  /** The policy in force; an unknown organization (a login at a name that is none) gets the platform default. */
  async effective(organizationId: string | undefined): Promise<PasswordPolicy> {
    return effectivePasswordPolicy(organizationId === undefined ? undefined : await this.own(organizationId), this.platformDefault);
  }
}
