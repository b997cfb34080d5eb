import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';
import { ERASED } from '../personal-data/map.js';

export const USER_STATES = ['active', 'pending', 'suspended'] as const;
export type UserStateValue = (typeof USER_STATES)[number];

/** A subject is usually an email address: no control characters, no surrounding spaces. */
export const subjectSchema = z
  .string()
  .min(1)
  .max(320)
  // No flags on the pattern, so that it reads the same in the OpenAPI document.
  .regex(/^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$/, 'must not contain control characters or start or end with a space');

/**
 * A user's group memberships are not part of its events: the group streams are
 * their one source of truth (see group.user.added / group.user.removed).
 */
const userState = {
  userId: z.string(),
  organizationId: z.string(),
  /** `[erased]` once the user was erased (docs/crypto-shredding.md). */
  name: resourceNameSchema.or(z.literal(ERASED)),
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  subject: subjectSchema,
  /**
   * A login name beside the subject (seed 001's `metadata.name`, e.g. "jane" for
   * jane@example.com): unique in the organization together with the subjects
   * (one reservation scope), so either signs in. Absent: the subject is the
   * login name (every event written before it existed).
   */
  loginName: subjectSchema.optional(),
  state: z.enum(USER_STATES),
  /** The federated identities linked to the user when the event was written (absent: none, or written before linking existed). */
  identities: z.array(z.lazy(() => linkedIdentitySchema)).optional(),
  /** The account fields of the accounts API (docs/accounts.md), when set; carried by every whole-state event. */
  profile: z.lazy(() => userProfileSchema).optional(),
  /** The account's stable number (the accounts API's integer `id`), once assigned. */
  accountNumber: z.number().int().positive().optional(),
};

/** The account fields of the accounts API (seed 002) that no other API has. */
export const userProfileSchema = z
  .object({
    firstName: z.string().max(256).optional(),
    lastName: z.string().max(256).optional(),
    apiClientId: z.string().max(256).optional(),
    ldapPrincipal: z.string().max(1024).optional(),
  })
  .strict();
export type UserProfile = z.infer<typeof userProfileSchema>;

/**
 * A federated identity: the pair (issuer, upstream subject) an identity
 * provider asserted, linked to one local user. Never a token or a secret.
 */
export const linkedIdentitySchema = z.object({
  identityId: z.string(),
  issuer: z.string().max(2048),
  subject: z.string().min(1).max(1024),
  /** The provider it came through: an organization's provider id, or a platform provider's id (OAUTH2_PROVIDERS). */
  providerID: z.string(),
  linkedAt: z.iso.datetime({ offset: true }),
});
export type LinkedIdentity = z.infer<typeof linkedIdentitySchema>;

export const userEventSchemas = {
  'user.created': z.object(userState),
  'user.updated': z.object(userState),
  'user.deleted': z.object({ userId: z.string(), organizationId: z.string(), subject: subjectSchema }),
  /** A first federated login matched the user by verified email: from now on the pair signs in as this user. */
  'user.identity.linked': z.object({ userId: z.string(), organizationId: z.string(), identity: linkedIdentitySchema }),
  /** An administrator unlinked it: the pair signs in as nobody until a login links it again. */
  'user.identity.unlinked': z.object({ userId: z.string(), organizationId: z.string(), identityId: z.string(), issuer: z.string(), subject: z.string() }),
  /** Written by the token service when a user acts; feeds status.lastActive. */
  'user.activity.recorded': z.object({ userId: z.string(), organizationId: z.string(), at: z.iso.datetime({ offset: true }) }),
  /** The account fields of the accounts API changed (the whole profile). */
  'user.profile.changed': z.object({ userId: z.string(), organizationId: z.string(), profile: userProfileSchema }),
  /** The user got its stable account number (drawn from the platform's counter); once. */
  'user.account_number.assigned': z.object({ userId: z.string(), organizationId: z.string(), accountNumber: z.number().int().positive() }),
} as const;

type Schemas = typeof userEventSchemas;
export type UserEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

export const userStream = (userId: string): string => `user-${userId}`;
/**
 * Where a user's activity goes (about one event a minute while active): beside
 * the user's stream, not in it, so that commands on the user never read it.
 * The users projection folds it into status.lastActive. (Logs written before
 * this have activity in the user's stream; the decider passes over it.)
 */
export const userActivityStream = (userId: string): string => `useractivity-${userId}`;
