import { openingBalances, type SnapshotPolicy } from '../../ports/snapshots.js';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { LinkedIdentity, UserEvent, UserProfile, UserStateValue } from './events.js';

export interface UserDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly subject: string;
  /** A login name beside the subject (docs/compat.md); absent: the subject is the login name. */
  readonly loginName?: string;
  readonly state: UserStateValue;
}

/** `status` is the aggregate's lifecycle; `state` (active, pending, suspended) is the user's own field. */
export type UserState =
  | { readonly status: 'absent' }
  | ({
      readonly status: 'exists';
      readonly id: string;
      readonly organizationId: string;
      readonly identities: readonly LinkedIdentity[];
      /** The accounts API's fields (docs/accounts.md); absent until set. */
      readonly profile?: UserProfile;
      readonly accountNumber?: number;
    } & UserDetails)
  | { readonly status: 'deleted'; readonly id: string; readonly organizationId: string; readonly subject: string };

/**
 * Every user event but activity carries the user's whole state (or its
 * deletion), so a load reads the stream backwards only to the newest of them.
 * (Activity, which older versions wrote into this stream, is passed over.)
 * Bump the version when UserState or evolve changes.
 */
const userSnapshots = openingBalances<UserState, UserEvent>('user-4', ['user.created', 'user.updated', 'user.deleted']);

/** At most this many federated identities per user. */
export const MAX_LINKED_IDENTITIES = 20;

export const userDecider: Decider<UserState, UserEvent> & { readonly snapshot: SnapshotPolicy<UserState, UserEvent> } = {
  snapshot: userSnapshots,
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'user.created':
      case 'user.updated': {
        const { userId, organizationId, identities, profile, accountNumber, ...details } = event.data;
        // Events written before accounts carry neither; a number once assigned is kept.
        const kept = state.status === 'exists' ? state : undefined;
        return {
          status: 'exists',
          id: userId,
          organizationId,
          identities: identities ?? [],
          ...details,
          ...((profile ?? kept?.profile) !== undefined && { profile: profile ?? kept?.profile }),
          ...((accountNumber ?? kept?.accountNumber) !== undefined && { accountNumber: accountNumber ?? kept?.accountNumber }),
        };
      }
      case 'user.profile.changed':
        return state.status === 'exists' ? { ...state, profile: event.data.profile } : state;
      case 'user.account_number.assigned':
        return state.status === 'exists' && state.accountNumber === undefined ? { ...state, accountNumber: event.data.accountNumber } : state;
      case 'user.identity.linked':
        return state.status === 'exists' ? { ...state, identities: [...state.identities, event.data.identity] } : state;
      case 'user.identity.unlinked':
        return state.status === 'exists' ? { ...state, identities: state.identities.filter((i) => i.identityId !== event.data.identityId) } : state;
      case 'user.deleted':
        return { status: 'deleted', id: event.data.userId, organizationId: event.data.organizationId, subject: event.data.subject };
      case 'user.activity.recorded':
        return state; // activity is for the read model; it decides nothing
      default:
        return assertNever(event);
    }
  },
};

export interface UserCommand extends UserDetails {
  readonly userId: string;
  readonly organizationId: string;
}

/** Is this a user of that organization? Used wherever a user is referenced by id. */
export const isUserOf = (state: UserState, organizationId: string): state is Extract<UserState, { status: 'exists' }> =>
  state.status === 'exists' && state.organizationId === organizationId;

function stateData(
  userId: string,
  organizationId: string,
  details: UserDetails,
  identities: readonly LinkedIdentity[] = [],
  account: { readonly profile?: UserProfile; readonly accountNumber?: number } = {},
) {
  const { name, description, tags, subject, loginName, state } = details;
  // Every whole-state event carries the linked identities too: a load that starts at it must not lose them.
  return {
    userId,
    organizationId,
    name,
    ...(description !== undefined && { description }),
    tags: [...tags],
    subject,
    ...(loginName !== undefined && { loginName }),
    state,
    ...(identities.length > 0 && { identities: [...identities] }),
    // And the account's fields: a load that starts at it must not lose them either.
    ...(account.profile !== undefined && { profile: { ...account.profile } }),
    ...(account.accountNumber !== undefined && { accountNumber: account.accountNumber }),
  };
}

const sameDetails = (a: UserDetails, b: UserDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.subject, a.loginName ?? null, a.state]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, b.subject, b.loginName ?? null, b.state]);

const notFound = (userId: string) => new NotFoundError(`user ${userId} not found`);

/**
 * A login name is not an email address (no `@`): a verified email from a
 * federated login then never matches another user's login name, and an email
 * typed at sign-in always means a subject.
 */
const checkLoginName = (command: UserCommand): void => {
  if (command.loginName?.includes('@')) throw new InvalidCommandError('a login name must not contain "@" (an email address is the subject)');
};

export function createUser(state: UserState, command: UserCommand): UserEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`user ${command.userId} already exists`);
  checkLoginName(command);
  return [{ type: 'user.created', data: stateData(command.userId, command.organizationId, command) }];
}

export function updateUser(state: UserState, command: UserCommand): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  checkLoginName(command);
  if (sameDetails(state, command)) return [];
  return [{ type: 'user.updated', data: stateData(state.id, state.organizationId, command, state.identities, state) }];
}

const sameProfile = (a: UserProfile | undefined, b: UserProfile): boolean => {
  const keys = ['firstName', 'lastName', 'apiClientId', 'ldapPrincipal'] as const;
  return keys.every((key) => (a?.[key] ?? null) === (b[key] ?? null));
};

/** Set the account fields of the accounts API (the whole profile); the same profile again changes nothing. */
export function changeProfile(state: UserState, command: { userId: string; organizationId: string; profile: UserProfile }): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  if (sameProfile(state.profile, command.profile)) return [];
  const profile = Object.fromEntries(Object.entries(command.profile).filter(([, value]) => value !== undefined)) as UserProfile;
  return [{ type: 'user.profile.changed', data: { userId: state.id, organizationId: state.organizationId, profile } }];
}

/** Record the account number the user drew; a user keeps its first number (a second draw is ignored). */
export function assignAccountNumber(state: UserState, command: { userId: string; organizationId: string; accountNumber: number }): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  if (state.accountNumber !== undefined) return [];
  return [{ type: 'user.account_number.assigned', data: { userId: state.id, organizationId: state.organizationId, accountNumber: command.accountNumber } }];
}

export function deleteUser(state: UserState, command: { userId: string; organizationId: string }): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  return [{ type: 'user.deleted', data: { userId: state.id, organizationId: state.organizationId, subject: state.subject } }];
}

export interface LinkIdentityCommand {
  readonly userId: string;
  readonly organizationId: string;
  readonly identity: LinkedIdentity;
}

const samePair = (a: { issuer: string; subject: string }, b: { issuer: string; subject: string }) => a.issuer === b.issuer && a.subject === b.subject;

/** Link a federated identity; linking the same pair again changes nothing. */
export function linkIdentity(state: UserState, command: LinkIdentityCommand): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  if (state.identities.some((i) => samePair(i, command.identity))) return [];
  if (state.identities.length >= MAX_LINKED_IDENTITIES) throw new InvalidCommandError(`a user may have at most ${MAX_LINKED_IDENTITIES} linked identities`);
  return [{ type: 'user.identity.linked', data: { userId: state.id, organizationId: state.organizationId, identity: command.identity } }];
}

export function unlinkIdentity(state: UserState, command: { userId: string; organizationId: string; identityId: string }): UserEvent[] {
  if (!isUserOf(state, command.organizationId)) throw notFound(command.userId);
  const identity = state.identities.find((i) => i.identityId === command.identityId);
  if (!identity) throw new NotFoundError(`identity ${command.identityId} not found`);
  const { issuer, subject } = identity;
  return [{ type: 'user.identity.unlinked', data: { userId: state.id, organizationId: state.organizationId, identityId: identity.identityId, issuer, subject } }];
}
