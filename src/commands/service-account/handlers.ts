import { v4 as uuidv4 } from 'uuid';
import {
  createServiceAccount,
  deleteServiceAccount,
  rotateServiceAccountToken,
  serviceAccountDecider,
  type ServiceAccountDetails,
  updateServiceAccount,
} from '../../domain/service-account/decider.js';
import { serviceAccountStream } from '../../domain/service-account/events.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { ConflictError, NotFoundError } from '../../domain/shared/errors.js';
import { comparePositions, type EventStore, type GlobalPosition } from '../../ports/event-store.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';
import { issueToken } from './token.js';

export type Member = { readonly kind: 'user' | 'serviceAccount'; readonly id: string };

/** The group commands that own membership (src/commands/group/handlers.ts): the one place it is written. */
export interface GroupMemberships {
  setMemberships(organizationId: string, member: Member, groupIds: readonly string[], meta: CommandMetadata): Promise<GlobalPosition | undefined>;
  removeMemberEverywhere(organizationId: string, member: Member, meta: CommandMetadata): Promise<GlobalPosition | undefined>;
}

/** The last of some write positions: waiting for it waits for all of them. */
export const latest = (...positions: (GlobalPosition | undefined)[]): GlobalPosition | undefined =>
  positions.reduce<GlobalPosition | undefined>((a, b) => (!a ? b : !b ? a : comparePositions(a, b) >= 0 ? a : b), undefined);

const DAY_MS = 24 * 60 * 60 * 1000;
const nameScope = (organizationId: string) => `serviceaccount-name.${organizationId}`;

export class ServiceAccountCommands {
  constructor(
    private readonly store: EventStore,
    private readonly memberships: GroupMemberships,
    private readonly tokenTtlDays: number,
  ) {}

  private expiryFrom(now: Date): string {
    return new Date(now.getTime() + this.tokenTtlDays * DAY_MS).toISOString();
  }

  private async claimName(organizationId: string, name: string, serviceAccountId: string, meta: CommandMetadata) {
    try {
      await claimUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: serviceAccountId }, serviceAccountStream, meta);
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`a service account named "${name}" already exists in this organization`);
      throw error;
    }
  }

  private releaseName(organizationId: string, name: string, serviceAccountId: string, meta: CommandMetadata) {
    return releaseUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: serviceAccountId }, meta);
  }

  /**
   * Create the account with its first token and put it in its groups. The
   * token is in the result only: the log keeps its digest.
   */
  async create(organizationId: string, details: ServiceAccountDetails, groupIds: readonly string[], meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const serviceAccountId = uuidv4();
    await this.claimName(organizationId, details.name, serviceAccountId, meta);
    const { token, tokenSha256 } = issueToken(serviceAccountId);
    const created = await handleCommand(
      this.store,
      serviceAccountStream(serviceAccountId),
      serviceAccountDecider,
      (state) => createServiceAccount(state, { serviceAccountId, organizationId, ...details, tokenSha256, expiry: this.expiryFrom(meta.now) }),
      meta,
    );
    let joined: GlobalPosition | undefined;
    if (groupIds.length > 0) {
      try {
        joined = await this.memberships.setMemberships(organizationId, { kind: 'serviceAccount', id: serviceAccountId }, groupIds, meta);
      } catch (error) {
        // Nothing half-made: an account whose groups could not be set is removed again (its token was never handed out).
        await handleCommand(this.store, serviceAccountStream(serviceAccountId), serviceAccountDecider, (state) => deleteServiceAccount(state, { serviceAccountId, organizationId }), meta);
        await this.releaseName(organizationId, details.name, serviceAccountId, meta);
        throw error;
      }
    }
    return { serviceAccountId, token, position: latest(created.position, joined) };
  }

  /** Replace the details and the group memberships. */
  async update(organizationId: string, serviceAccountId: string, details: ServiceAccountDetails, groupIds: readonly string[], meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const stream = serviceAccountStream(serviceAccountId);
    const { state: before } = await loadState(this.store, stream, serviceAccountDecider);
    if (before.status !== 'active' || before.organizationId !== organizationId) throw new NotFoundError(`service account ${serviceAccountId} not found`);
    const renamed = before.name.toLowerCase() !== details.name.toLowerCase();
    if (renamed) await this.claimName(organizationId, details.name, serviceAccountId, meta);
    let updated;
    try {
      updated = await handleCommand(this.store, stream, serviceAccountDecider, (state) => updateServiceAccount(state, { serviceAccountId, organizationId, ...details }), meta);
    } catch (error) {
      if (renamed) await this.releaseName(organizationId, details.name, serviceAccountId, meta);
      throw error;
    }
    if (renamed) await this.releaseName(organizationId, before.name, serviceAccountId, meta);
    const joined = await this.memberships.setMemberships(organizationId, { kind: 'serviceAccount', id: serviceAccountId }, groupIds, meta);
    return { position: latest(updated.position, joined) };
  }

  /** Issue a new token; the old one is invalid from this event on. */
  async rotate(organizationId: string, serviceAccountId: string, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const { token, tokenSha256 } = issueToken(serviceAccountId);
    const rotated = await handleCommand(
      this.store,
      serviceAccountStream(serviceAccountId),
      serviceAccountDecider,
      (state) => rotateServiceAccountToken(state, { serviceAccountId, organizationId, tokenSha256, expiry: this.expiryFrom(meta.now) }),
      meta,
    );
    return { token, position: rotated.position };
  }

  /** Leave every group, then go: the token dies with the account. */
  async delete(organizationId: string, serviceAccountId: string, meta: CommandMetadata) {
    const stream = serviceAccountStream(serviceAccountId);
    const { state } = await loadState(this.store, stream, serviceAccountDecider);
    if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError(`service account ${serviceAccountId} not found`);
    const left = await this.memberships.removeMemberEverywhere(organizationId, { kind: 'serviceAccount', id: serviceAccountId }, meta);
    const deleted = await handleCommand(this.store, stream, serviceAccountDecider, (current) => deleteServiceAccount(current, { serviceAccountId, organizationId }), meta);
    if (deleted.state.status === 'deleted') await this.releaseName(organizationId, deleted.state.name, serviceAccountId, meta);
    return { position: latest(left, deleted.position) };
  }
}
