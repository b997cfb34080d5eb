import type { GroupEvent } from '../../domain/group/events.js';
import type { OrganizationEvent } from '../../domain/organization/events.js';
import type { ServiceAccountEvent } from '../../domain/service-account/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection, type ProjectionDocuments } from '../projection.js';
import { createdMetadata, withModified, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/** A service account as the API reads it (the seed's serviceAccountRead), plus the document id. Never a token. */
export interface ServiceAccountDocument extends Document {
  metadata: OrganizationScopedResourceReadMetadata;
  /** Derived from the group events: the groups are the one source of truth for membership. */
  spec: { groupIDs: string[] };
  status: { expiry: string };
}

/** What the bearer-token resolver needs, apart from the API's documents: never returned by the API. */
export interface ServiceAccountCredentialDocument extends Document {
  organizationId: string;
  /** The caller's subject. */
  name: string;
  tokenSha256: string;
  expiry: string;
}

type SaEvent<T extends ServiceAccountEvent['type']> = RecordedEvent<T, Extract<ServiceAccountEvent, { type: T }>['data']>;
type GrEvent<T extends GroupEvent['type']> = RecordedEvent<T, Extract<GroupEvent, { type: T }>['data']>;
type OrgEvent<T extends OrganizationEvent['type']> = RecordedEvent<T, Extract<OrganizationEvent, { type: T }>['data']>;

export const SERVICE_ACCOUNTS = 'serviceaccounts';
export const SERVICE_ACCOUNT_CREDENTIALS = 'serviceaccount_credentials';

/**
 * spec.groupIDs is derived from the group streams. A member event changes
 * the one service account it names; an event that states a group's whole
 * lists (version 1 of created and updated, upcast: `members`) brings every
 * service account in line with it: added to those it lists, removed from
 * those it no longer does.
 */
async function applyMembership(
  event: GrEvent<'group.created'> | GrEvent<'group.updated'>,
  docs: ProjectionDocuments<ServiceAccountDocument>,
) {
  const { groupId, organizationId, members } = event.data;
  if (!members) return;
  const { serviceAccountIDs } = members;
  const listed = new Set(serviceAccountIDs);
  await docs.updateWhere(
    { 'metadata.organizationId': organizationId, $or: [{ _id: { $in: serviceAccountIDs } }, { 'spec.groupIDs': groupId }] },
    (doc) => {
      const others = doc.spec.groupIDs.filter((id) => id !== groupId);
      return { ...doc, spec: { groupIDs: listed.has(doc._id) ? [...others, groupId] : others } };
    },
  );
}

/** One service account joined or left one group: its document alone changes. */
const applyMember =
  (joined: boolean) =>
  async (event: GrEvent<'group.service_account.added'> | GrEvent<'group.service_account.removed'>, docs: ProjectionDocuments<ServiceAccountDocument>) => {
    const { groupId, organizationId, serviceAccountId } = event.data;
    await docs.update(serviceAccountId, (doc) => {
      if (!doc || doc.metadata.organizationId !== organizationId) return doc;
      if (doc.spec.groupIDs.includes(groupId) === joined) return doc;
      const others = doc.spec.groupIDs.filter((id) => id !== groupId);
      return { ...doc, spec: { groupIDs: joined ? [...others, groupId] : others } };
    });
  };

export const serviceAccountsProjection = defineProjection<ServiceAccountDocument>({
  name: 'service-accounts',
  collection: SERVICE_ACCOUNTS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['spec.groupIDs'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }],
  handlers: {
    'serviceaccount.created': async (event: SaEvent<'serviceaccount.created'>, docs) => {
      const { serviceAccountId, organizationId, expiry } = event.data;
      await docs.update(serviceAccountId, () => ({
        _id: serviceAccountId,
        metadata: { ...createdMetadata(event, serviceAccountId), organizationId },
        spec: { groupIDs: [] },
        status: { expiry },
      }));
    },
    'serviceaccount.updated': async (event: SaEvent<'serviceaccount.updated'>, docs) => {
      await docs.update(event.data.serviceAccountId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event) });
    },
    'serviceaccount.token.rotated': async (event: SaEvent<'serviceaccount.token.rotated'>, docs) => {
      await docs.update(event.data.serviceAccountId, (doc) =>
        doc && { ...doc, metadata: withModified(doc.metadata, event), status: { expiry: event.data.expiry } },
      );
    },
    'serviceaccount.deleted': async (event: SaEvent<'serviceaccount.deleted'>, docs) => {
      await docs.update(event.data.serviceAccountId, () => undefined);
    },
    'group.created': applyMembership,
    'group.updated': applyMembership,
    'group.service_account.added': applyMember(true),
    'group.service_account.removed': applyMember(false),
    'group.deleted': async (event: GrEvent<'group.deleted'>, docs) => {
      const { groupId, organizationId } = event.data;
      await docs.updateWhere({ 'metadata.organizationId': organizationId, 'spec.groupIDs': groupId }, (doc) => ({
        ...doc,
        spec: { groupIDs: doc.spec.groupIDs.filter((id) => id !== groupId) },
      }));
    },
  },
});

/**
 * The bearer-token resolver's view: one document per live service account
 * with the digest of its one valid token. A write answers only after this has
 * applied it, so a rotated or deleted token is refused from the next request on.
 */
export const serviceAccountCredentialsProjection = defineProjection<ServiceAccountCredentialDocument>({
  name: 'service-account-credentials',
  collection: SERVICE_ACCOUNT_CREDENTIALS,
  indexes: [{ fields: ['organizationId'] }],
  handlers: {
    'serviceaccount.created': async (event: SaEvent<'serviceaccount.created'>, docs) => {
      const { serviceAccountId, organizationId, name, tokenSha256, expiry } = event.data;
      await docs.update(serviceAccountId, () => ({ _id: serviceAccountId, organizationId, name, tokenSha256, expiry }));
    },
    'serviceaccount.updated': async (event: SaEvent<'serviceaccount.updated'>, docs) => {
      await docs.update(event.data.serviceAccountId, (doc) => doc && { ...doc, name: event.data.name });
    },
    'serviceaccount.token.rotated': async (event: SaEvent<'serviceaccount.token.rotated'>, docs) => {
      const { tokenSha256, expiry } = event.data;
      await docs.update(event.data.serviceAccountId, (doc) => doc && { ...doc, tokenSha256, expiry });
    },
    'serviceaccount.deleted': async (event: SaEvent<'serviceaccount.deleted'>, docs) => {
      await docs.update(event.data.serviceAccountId, () => undefined);
    },
    // The tokens of an organization being deleted stop working as soon as the deletion is asked for,
    // not when the cascade reaches the account: that is a security property, not a shortcut. The
    // accounts themselves still leave the API's read model only through their own deleted events.
    'organization.deletion_requested': async (event: OrgEvent<'organization.deletion_requested'>, docs) => {
      await docs.updateWhere({ organizationId: event.data.organizationId }, () => undefined);
    },
  },
});
