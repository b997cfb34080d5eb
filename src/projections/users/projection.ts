import type { GroupEvent } from '../../domain/group/events.js';
import type { ApiKeyEvent } from '../../domain/api-key/events.js';
import type { UserEvent, UserProfile, UserStateValue } from '../../domain/user/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import type { ProjectionDocuments } from '../projection.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/**
 * A user as the API reads it (the seed's userRead), plus the document id and
 * `subjectKey`, the subject lower-cased, which the organizations query uses to
 * find the organizations an email belongs to.
 */
export interface UserDocument extends Document {
  subjectKey: string;
  /**
   * The login name lower-cased: the user's own login name (seed 001's
   * `metadata.name`, docs/compat.md) when it has one, else its subject. With
   * `loginName`, the one it has (absent: none). Neither is part of the seed 004 user.
   */
  loginNameKey?: string;
  loginName?: string;
  metadata: OrganizationScopedResourceReadMetadata;
  spec: { subject: string; state: UserStateValue; groupIDs: string[] };
  /**
   * needToChangePassword: the password is a temporary one an administrator set
   * (user.password.changed with temporary), shown by the compatible APIs (docs/compat.md).
   */
  status: { lastActive?: string; identities?: ReadIdentity[]; needToChangePassword?: boolean };
  /**
   * What the accounts API (docs/accounts.md) shows beyond the other APIs: the
   * account's number, profile and the expiry of its live API key (never the key).
   * Not part of the seed 004 user (UserQueries leaves it out).
   */
  account?: { number?: number; profile?: UserProfile; apiKeyId?: string; apiKeyExpiresAt?: string };
}

type AccountFields = NonNullable<UserDocument['account']>;
/** The account fields with a change applied; absent ones dropped, and no `account` at all when empty. */
const withAccount = (doc: UserDocument, change: Partial<Record<keyof AccountFields, AccountFields[keyof AccountFields] | undefined>>): UserDocument => {
  const merged = Object.fromEntries(Object.entries({ ...doc.account, ...change }).filter(([, value]) => value !== undefined)) as AccountFields;
  const { account: _old, ...rest } = doc;
  return Object.keys(merged).length > 0 ? { ...rest, account: merged } : rest;
};

/** A linked federated identity as the API shows it (read-only); absent when the user has none. */
export interface ReadIdentity {
  id: string;
  issuer: string;
  subject: string;
  providerID: string;
  linkedAt: string;
}

const withIdentities = (status: UserDocument['status'], identities: ReadIdentity[]): UserDocument['status'] => {
  const { identities: _old, ...rest } = status;
  return identities.length > 0 ? { ...rest, identities } : rest;
};

const readIdentity = (i: { identityId: string; issuer: string; subject: string; providerID: string; linkedAt: string }): ReadIdentity => ({
  id: i.identityId,
  issuer: i.issuer,
  subject: i.subject,
  providerID: i.providerID,
  linkedAt: new Date(i.linkedAt).toISOString(),
});

/** The login-name fields of a user document (whole-state events carry the login name, absent when none). */
const withLoginName = (subject: string, loginName: string | undefined): Pick<UserDocument, 'loginName' | 'loginNameKey'> => ({
  loginNameKey: (loginName ?? subject).toLowerCase(),
  ...(loginName !== undefined && { loginName }),
});
const withoutLoginName = ({ loginName: _name, loginNameKey: _key, ...doc }: UserDocument): UserDocument => doc;

type Event<T extends UserEvent['type'] | GroupEvent['type'] | ApiKeyEvent['type']> = RecordedEvent<
  T,
  Extract<UserEvent | GroupEvent | ApiKeyEvent, { type: T }>['data']
>;

export const USERS = 'users';

/** The text a user `search` reads: name, description and subject (the email), as USER_FIELDS declares them searchable. */
export const USER_SEARCH_FIELDS = ['metadata.name', 'metadata.description', 'spec.subject'] as const;

/**
 * spec.groupIDs is derived: the group streams are the one record of who is in
 * which group. A member event changes the one user it names; an event that
 * states a group's whole list (version 1 of group.created and group.updated,
 * upcast: `members`) brings the users it lists (and only those) in line with it.
 */
async function syncGroupMembership(
  docs: ProjectionDocuments<UserDocument>,
  group: { groupId: string; organizationId: string; members?: { userIDs: readonly string[] } | undefined },
): Promise<void> {
  const { groupId, organizationId, members } = group;
  if (!members) return;
  const userIDs = new Set(members.userIDs);
  await docs.updateWhere(
    // The organization stays at the top level, where the index serves it.
    { 'metadata.organizationId': organizationId, $or: [{ _id: { $in: [...userIDs] } }, { 'spec.groupIDs': groupId }] },
    (doc) => {
      const listed = userIDs.has(doc._id);
      const others = doc.spec.groupIDs.filter((id) => id !== groupId);
      return { ...doc, spec: { ...doc.spec, groupIDs: listed ? [...others, groupId] : others } };
    },
  );
}

/** One user joined or left one group: that user's document alone changes. */
async function applyMember(docs: ProjectionDocuments<UserDocument>, data: { groupId: string; organizationId: string; userId: string }, joined: boolean) {
  const { groupId, organizationId, userId } = data;
  await docs.update(userId, (doc) => {
    if (!doc || doc.metadata.organizationId !== organizationId) return doc;
    if (doc.spec.groupIDs.includes(groupId) === joined) return doc;
    const others = doc.spec.groupIDs.filter((id) => id !== groupId);
    return { ...doc, spec: { ...doc.spec, groupIDs: joined ? [...others, groupId] : others } };
  });
}

export const usersProjection = defineProjection<UserDocument>({
  name: 'users',
  collection: USERS,
  // spec.groupIDs: a deleted group finds its members through the index, not by scanning the organization.
  // spec.state: lists filtered by state walk one (organization, state) partition of a sorted index.
  // search: the searchable text fields of USER_FIELDS (queries.ts), through a trigram index (docs/search.md).
  // account.number: the accounts API finds an account by its number in its organization.
  // Version 2: loginName and loginNameKey.
  version: 2,
  indexes: [{ fields: ['metadata.organizationId', 'loginNameKey'] }, { fields: ['metadata.organizationId', 'account.number'] }, { fields: ['metadata.organizationId'] }, { fields: ['subjectKey'] }, { fields: ['spec.groupIDs'] }, { fields: ['spec.state'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }, { fields: ['metadata.organizationId', 'subjectKey'] }, { fields: ['metadata.organizationId'], search: USER_SEARCH_FIELDS }],
  handlers: {
    'user.created': async (event: Event<'user.created'>, docs) => {
      const { userId, organizationId, subject, loginName, state, profile, accountNumber } = event.data;
      await docs.update(userId, () =>
        withAccount(
          {
            _id: userId,
            subjectKey: subject.toLowerCase(),
            ...withLoginName(subject, loginName),
            metadata: { ...createdMetadata(event, userId), organizationId },
            // A new user is in no group yet: groups can only list users that exist.
            spec: { subject, state, groupIDs: [] },
            status: withIdentities({}, (event.data.identities ?? []).map(readIdentity)),
          },
          { profile, number: accountNumber },
        ),
      );
    },
    'user.updated': async (event: Event<'user.updated'>, docs) => {
      const { userId, subject, loginName, state, identities, profile, accountNumber } = event.data;
      await docs.update(userId, (doc) =>
        doc && {
          ...withoutLoginName(withAccount(doc, { ...(profile !== undefined && { profile }), ...(accountNumber !== undefined && { number: accountNumber }) })),
          subjectKey: subject.toLowerCase(),
          ...withLoginName(subject, loginName),
          metadata: updatedMetadata(doc.metadata, event),
          spec: { ...doc.spec, subject, state },
          // Events written before linking existed carry no identities and change none.
          status: identities === undefined ? doc.status : withIdentities(doc.status, identities.map(readIdentity)),
        },
      );
    },
    'user.identity.linked': async (event: Event<'user.identity.linked'>, docs) => {
      const identity = readIdentity(event.data.identity);
      await docs.update(event.data.userId, (doc) =>
        doc && { ...doc, status: withIdentities(doc.status, [...(doc.status.identities ?? []).filter((i) => i.id !== identity.id), identity]) },
      );
    },
    'user.identity.unlinked': async (event: Event<'user.identity.unlinked'>, docs) => {
      await docs.update(event.data.userId, (doc) =>
        doc && { ...doc, status: withIdentities(doc.status, (doc.status.identities ?? []).filter((i) => i.id !== event.data.identityId)) },
      );
    },
    'user.profile.changed': async (event: Event<'user.profile.changed'>, docs) => {
      await docs.update(event.data.userId, (doc) => doc && withAccount(doc, { profile: event.data.profile }));
    },
    'user.account_number.assigned': async (event: Event<'user.account_number.assigned'>, docs) => {
      await docs.update(event.data.userId, (doc) => doc && (doc.account?.number !== undefined ? doc : withAccount(doc, { number: event.data.accountNumber })));
    },
    'api_key.generated': async (event: Event<'api_key.generated'>, docs) => {
      const { userId, keyId, expiresAt } = event.data;
      await docs.update(userId, (doc) => doc && withAccount(doc, { apiKeyId: keyId, apiKeyExpiresAt: new Date(expiresAt).toISOString() }));
    },
    'api_key.revoked': async (event: Event<'api_key.revoked'>, docs) => {
      const { userId, keyId } = event.data;
      await docs.update(userId, (doc) => doc && (doc.account?.apiKeyId === keyId ? withAccount(doc, { apiKeyId: undefined, apiKeyExpiresAt: undefined }) : doc));
    },
    'user.deleted': async (event: Event<'user.deleted'>, docs) => {
      await docs.update(event.data.userId, () => undefined);
    },
    'user.activity.recorded': async (event: Event<'user.activity.recorded'>, docs) => {
      const at = new Date(event.data.at).toISOString();
      await docs.update(event.data.userId, (doc) => {
        if (!doc) return undefined;
        // Activity may be reported out of order; lastActive only moves forward.
        if (doc.status.lastActive !== undefined && doc.status.lastActive >= at) return doc;
        return { ...doc, status: { ...doc.status, lastActive: at } };
      });
    },
    'user.password.changed': async (event: RecordedEvent<'user.password.changed', { userId: string; temporary: boolean }>, docs) => {
      await docs.update(event.data.userId, (doc) => {
        if (!doc) return undefined;
        const { needToChangePassword: _old, ...rest } = doc.status;
        return { ...doc, status: event.data.temporary ? { ...rest, needToChangePassword: true } : rest };
      });
    },
    'group.created': async (event: Event<'group.created'>, docs) => syncGroupMembership(docs, event.data),
    'group.updated': async (event: Event<'group.updated'>, docs) => syncGroupMembership(docs, event.data),
    'group.user.added': async (event: Event<'group.user.added'>, docs) => applyMember(docs, event.data, true),
    'group.user.removed': async (event: Event<'group.user.removed'>, docs) => applyMember(docs, event.data, false),
    'group.deleted': async (event: Event<'group.deleted'>, docs) => {
      const { groupId, organizationId } = event.data;
      await docs.updateWhere({ 'metadata.organizationId': organizationId, 'spec.groupIDs': groupId }, (doc) => ({
        ...doc,
        spec: { ...doc.spec, groupIDs: doc.spec.groupIDs.filter((id) => id !== groupId) },
      }));
    },
  },
});
