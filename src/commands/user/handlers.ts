import { createHash, createHmac } from 'node:crypto';
import { v4 as uuidv4 } from 'uuid';
import { createUser, deleteUser, isUserOf, linkIdentity, unlinkIdentity, updateUser, userDecider, type UserDetails } from '../../domain/user/decider.js';
import { reservationDecider, reservationStream } from '../../domain/reservation/decider.js';
import { userStream } from '../../domain/user/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { ConflictError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore, GlobalPosition } from '../../ports/event-store.js';
import type { GroupCommands } from '../group/handlers.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';

/** Subjects are unique within their organization, whatever their case. */
const subjectScope = (organizationId: string) => `user-subject:${organizationId}`;

/**
 * Joining a group grants its roles. The API layer passes the check that the
 * caller may grant them (it knows the caller; commands do not).
 */
export type GrantCheck = (roleIds: readonly string[]) => Promise<void>;

export interface UserInput extends Omit<UserDetails, 'loginName'> {
  /** The groups the user should be in; undefined leaves its memberships as they are. */
  readonly groupIDs?: readonly string[];
  /**
   * A login name beside the subject (docs/compat.md): undefined keeps the
   * user's (none on a create), null removes it. The same as the subject (any
   * case) is no separate login name.
   */
  readonly loginName?: string | null;
}

/** A subject or login name that another user of the organization holds (they share one reservation scope). */
export class UniqueValueTakenError extends ConflictError {
  constructor(
    readonly field: 'subject' | 'loginName',
    readonly value: string,
  ) {
    super(`${field === 'subject' ? 'subject' : 'login name'} "${value}" is already taken in this organization`);
  }
}

export interface UserResult {
  readonly userId: string;
  /** Where the last event of the command landed; undefined when nothing changed. */
  readonly position?: GlobalPosition;
}

/**
 * A federated identity (issuer, upstream subject) belongs to one user at most,
 * platform-wide. The reservation's value is a digest of the pair: upstream
 * subjects are case-sensitive, reservations compare lower-cased.
 */
const IDENTITY_SCOPE = 'federated-identity';
export const identityKey = (issuer: string, subject: string): string => createHash('sha256').update(`${issuer}\u0000${subject}`).digest('hex');

/** The user's details from the input; a login name the same as the subject is none. */
const detailsOf = ({ groupIDs: _groups, loginName, ...details }: UserInput, kept?: string): UserDetails => {
  const login = loginName === undefined ? kept : (loginName ?? undefined);
  return login === undefined || login.toLowerCase() === details.subject.toLowerCase() ? details : { ...details, loginName: login };
};

/** The values a user holds in its organization's subject scope: its subject and its login name (lower-cased, no repeats). */
const heldValues = (details: { subject: string; loginName?: string }): Map<string, { field: 'subject' | 'loginName'; value: string }> => {
  const held = new Map<string, { field: 'subject' | 'loginName'; value: string }>();
  held.set(details.subject.toLowerCase(), { field: 'subject', value: details.subject });
  if (details.loginName !== undefined && !held.has(details.loginName.toLowerCase())) held.set(details.loginName.toLowerCase(), { field: 'loginName', value: details.loginName });
  return held;
};

export class UserCommands {
  constructor(
    private readonly store: EventStore,
    private readonly groups: GroupCommands,
    /**
     * The key of the reservations' keyed hashes (docs/crypto-shredding.md): with it, a subject's or a
     * federated identity's reservation stream and event hold HMAC-SHA-256(key, value), never the value.
     * Without it (tools, older tests), the value as before.
     */
    private readonly uniqueValueKey?: Uint8Array,
    /**
     * A new user's id: by default a random UUID; the service draws ids whose data keys
     * are made already (src/infra/crypto/keyed-id-pool.ts), so the user's first event
     * does not wait for a key to be written.
     */
    private readonly newUserId: () => string = uuidv4,
  ) {}

  /** What a subject's reservation holds: a keyed hash of it lower-cased (reservations compare without case). */
  private subjectValue(subject: string): string {
    return this.uniqueValueKey ? createHmac('sha256', this.uniqueValueKey).update(`subject\u0000${subject.toLowerCase()}`).digest('hex') : subject;
  }

  private identityValue(issuer: string, subject: string): string {
    return this.uniqueValueKey ? createHmac('sha256', this.uniqueValueKey).update(`identity\u0000${issuer}\u0000${subject}`).digest('hex') : identityKey(issuer, subject);
  }

  /**
   * Claim a subject in its organization. A reservation made before keyed hashes (the subject in
   * clear) still holds it; a conflict names the subject the caller sent, never the hash.
   */
  private async claimSubject(organizationId: string, subject: string, userId: string, meta: CommandMetadata, field: 'subject' | 'loginName' = 'subject'): Promise<void> {
    const scope = subjectScope(organizationId);
    const taken = () => new UniqueValueTakenError(field, subject);
    if (this.uniqueValueKey) {
      const { state } = await loadState(this.store, reservationStream(scope, subject), reservationDecider);
      if (state.status === 'held' && state.ownerId !== userId) throw taken();
    }
    try {
      await claimUnique(this.store, { scope, value: this.subjectValue(subject), ownerId: userId }, userStream, meta);
    } catch (error) {
      if (error instanceof ConflictError) throw taken();
      throw error;
    }
  }

  private async releaseSubject(organizationId: string, subject: string, userId: string, meta: CommandMetadata): Promise<void> {
    const scope = subjectScope(organizationId);
    await releaseUnique(this.store, { scope, value: this.subjectValue(subject), ownerId: userId }, meta);
    // A reservation in clear from before keyed hashes: released too (nothing is written when there is none).
    if (this.uniqueValueKey) await releaseUnique(this.store, { scope, value: subject, ownerId: userId }, meta);
  }

  private async releaseIdentity(issuer: string, subject: string, userId: string, meta: CommandMetadata): Promise<void> {
    await releaseUnique(this.store, { scope: IDENTITY_SCOPE, value: this.identityValue(issuer, subject), ownerId: userId }, meta);
    if (this.uniqueValueKey) await releaseUnique(this.store, { scope: IDENTITY_SCOPE, value: identityKey(issuer, subject), ownerId: userId }, meta);
  }

  /** The roles of the listed groups that do not list the user yet, checked before anything is written. */
  private async checkJoins(organizationId: string, userId: string, groupIds: readonly string[] | undefined, canGrant: GrantCheck) {
    if (groupIds === undefined || groupIds.length === 0) return;
    const joining = (await this.groups.groupsOf(organizationId, groupIds, { kind: 'user', id: userId })).filter((group) => !group.listsMember);
    await canGrant([...new Set(joining.flatMap((group) => group.roleIDs))]);
  }

  /**
   * Claim every value of `after` the user does not hold in `before` (its
   * subject, its login name); on a conflict, release what this call claimed.
   * Returns the values to release once the change is written.
   */
  private async claimValues(organizationId: string, userId: string, before: Map<string, { value: string }>, after: ReturnType<typeof heldValues>, meta: CommandMetadata) {
    const claimed: string[] = [];
    try {
      for (const [key, { field, value }] of after) {
        if (before.has(key)) continue;
        await this.claimSubject(organizationId, value, userId, meta, field);
        claimed.push(value);
      }
    } catch (error) {
      await this.releaseValues(organizationId, userId, claimed, meta);
      throw error;
    }
    return { claimed, stale: [...before].filter(([key]) => !after.has(key)).map(([, { value }]) => value) };
  }

  private async releaseValues(organizationId: string, userId: string, values: readonly string[], meta: CommandMetadata): Promise<void> {
    for (const value of values) await this.releaseSubject(organizationId, value, userId, meta);
  }

  async create(organizationId: string, input: UserInput, meta: CommandMetadata, canGrant: GrantCheck): Promise<UserResult> {
    await requireActiveOrganization(this.store, organizationId);
    const userId = this.newUserId();
    await this.checkJoins(organizationId, userId, input.groupIDs, canGrant);
    const details = detailsOf(input);
    const { claimed } = await this.claimValues(organizationId, userId, new Map(), heldValues(details), meta);
    let position: GlobalPosition | undefined;
    try {
      const result = await handleCommand(this.store, userStream(userId), userDecider, (state) => createUser(state, { userId, organizationId, ...details }), meta);
      position = result.position;
    } catch (error) {
      await this.releaseValues(organizationId, userId, claimed, meta);
      throw error;
    }
    if (input.groupIDs && input.groupIDs.length > 0) {
      try {
        position = (await this.groups.setMemberships(organizationId, { kind: 'user', id: userId }, input.groupIDs, meta)) ?? position;
      } catch (error) {
        // The create fails as a whole: take the new user away again rather than leave it half-made.
        await this.delete(organizationId, userId, meta);
        throw error;
      }
    }
    return { userId, position };
  }

  async update(organizationId: string, userId: string, input: UserInput, meta: CommandMetadata, canGrant: GrantCheck): Promise<UserResult> {
    const stream = userStream(userId);
    const { state: before } = await loadState(this.store, stream, userDecider);
    if (!isUserOf(before, organizationId)) throw new NotFoundError(`user ${userId} not found`);
    await this.checkJoins(organizationId, userId, input.groupIDs, canGrant);
    // A new subject or login name is claimed first; the ones the user no longer holds are released after.
    const details = detailsOf(input, before.loginName);
    const { claimed, stale } = await this.claimValues(organizationId, userId, heldValues(before), heldValues(details), meta);
    let position: GlobalPosition | undefined;
    try {
      const result = await handleCommand(this.store, stream, userDecider, (state) => updateUser(state, { userId, organizationId, ...details }), meta);
      position = result.position;
    } catch (error) {
      await this.releaseValues(organizationId, userId, claimed, meta);
      throw error;
    }
    await this.releaseValues(organizationId, userId, stale, meta);
    if (input.groupIDs !== undefined) {
      position = (await this.groups.setMemberships(organizationId, { kind: 'user', id: userId }, input.groupIDs, meta)) ?? position;
    }
    return { userId, position };
  }

  /**
   * Leave every group first, so that a failure part-way leaves a user that a
   * retried DELETE can still address; then the user goes, then its subject is free.
   */
  async delete(organizationId: string, userId: string, meta: CommandMetadata): Promise<UserResult> {
    const stream = userStream(userId);
    const { state: before } = await loadState(this.store, stream, userDecider);
    if (!isUserOf(before, organizationId)) throw new NotFoundError(`user ${userId} not found`);
    await this.groups.removeMemberEverywhere(organizationId, { kind: 'user', id: userId }, meta);
    const result = await handleCommand(this.store, stream, userDecider, (state) => deleteUser(state, { userId, organizationId }), meta);
    // Its federated identities are free to link to another user.
    for (const identity of before.identities) await this.releaseIdentity(identity.issuer, identity.subject, userId, meta);
    if (result.state.status === 'deleted') await this.releaseValues(organizationId, userId, [...heldValues(before).values()].map(({ value }) => value), meta);
    return { userId, position: result.position };
  }

  /**
   * The user a federated identity is linked to, from the write side (the
   * reservation of the pair names its owner); undefined when none is.
   */
  async linkedUser(issuer: string, subject: string): Promise<string | undefined> {
    const { state } = await loadState(this.store, reservationStream(IDENTITY_SCOPE, this.identityValue(issuer, subject)), reservationDecider);
    if (state.status === 'held') return state.ownerId;
    if (!this.uniqueValueKey) return undefined;
    // Linked before keyed hashes: the unkeyed digest's reservation.
    const { state: legacy } = await loadState(this.store, reservationStream(IDENTITY_SCOPE, identityKey(issuer, subject)), reservationDecider);
    return legacy.status === 'held' ? legacy.ownerId : undefined;
  }

  /**
   * Link (issuer, subject) to the user: the pair is claimed first, so two
   * users never hold it, then `user.identity.linked` is appended. A pair
   * another user holds is a ConflictError.
   */
  async linkIdentity(
    organizationId: string,
    userId: string,
    identity: { issuer: string; subject: string; providerID: string },
    meta: CommandMetadata,
  ): Promise<UserResult & { identityId: string }> {
    const claim = { scope: IDENTITY_SCOPE, value: this.identityValue(identity.issuer, identity.subject), ownerId: userId };
    try {
      const legacyOwner = this.uniqueValueKey ? await this.linkedUser(identity.issuer, identity.subject) : undefined;
      if (legacyOwner !== undefined && legacyOwner !== userId) throw new ConflictError('linked before keyed hashes');
      await claimUnique(this.store, claim, userStream, meta);
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('this identity is linked to another user');
      throw error;
    }
    const identityId = uuidv4();
    let result;
    try {
      result = await handleCommand(
        this.store,
        userStream(userId),
        userDecider,
        (state) => linkIdentity(state, { userId, organizationId, identity: { identityId, ...identity, linkedAt: meta.now.toISOString() } }),
        meta,
      );
    } catch (error) {
      await releaseUnique(this.store, claim, meta);
      throw error;
    }
    const linked = result.state.status === 'exists' ? result.state.identities.find((i) => i.issuer === identity.issuer && i.subject === identity.subject) : undefined;
    return { userId, identityId: linked?.identityId ?? identityId, position: result.position };
  }

  /** Unlink one identity of the user; the pair is then free. */
  async unlinkIdentity(organizationId: string, userId: string, identityId: string, meta: CommandMetadata): Promise<UserResult> {
    const result = await handleCommand(this.store, userStream(userId), userDecider, (state) => unlinkIdentity(state, { userId, organizationId, identityId }), meta);
    for (const event of result.newEvents) {
      if (event.type !== 'user.identity.unlinked') continue;
      const { issuer, subject } = event.data as { issuer: string; subject: string };
      await this.releaseIdentity(issuer, subject, userId, meta);
    }
    return { userId, position: result.position };
  }
}
