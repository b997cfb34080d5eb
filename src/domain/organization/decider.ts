import { assertNever, type CommandMetadata, type Decider } from '../shared/decider.js';
import { ConflictError, InvalidCommandError, NotFoundError } from '../shared/errors.js';
import type { Tag } from '../shared/resource.js';
import type { PasswordPolicy } from '../credentials/password-policy.js';
import type { OrganizationEvent, OrganizationSpec } from './events.js';

export interface OrganizationDetails {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly Tag[];
  readonly spec: OrganizationSpec;
  /** The tenant number, once assigned (organization.tenant_number.assigned). */
  readonly tenantId?: number;
}

/** Its own password policy, once one was set (organization.password_policy.changed). */
interface WithPasswordPolicy {
  readonly passwordPolicy?: PasswordPolicy;
}

/** Where provisioning stands: the provisioning process moves it on from `pending`. */
export type Provisioning = 'pending' | 'provisioned' | 'failed';

export type OrganizationState =
  | { readonly status: 'absent' }
  | ({ readonly status: 'active'; readonly id: string; readonly provisioning: Provisioning } & OrganizationDetails & WithPasswordPolicy)
  /** `failure` is set when the cascade stopped for good; a new request clears it. */
  | ({ readonly status: 'deleting'; readonly id: string; readonly failure?: string } & OrganizationDetails & WithPasswordPolicy)
  | { readonly status: 'deleted'; readonly id: string; readonly name: string };

const detailsOf = (data: { name: string; description?: string; tags: Tag[]; spec: OrganizationSpec }): OrganizationDetails => ({
  name: data.name,
  description: data.description,
  tags: data.tags,
  spec: data.spec,
});

export const organizationDecider: Decider<OrganizationState, OrganizationEvent> = {
  initialState: () => ({ status: 'absent' }),
  evolve(state, event) {
    switch (event.type) {
      case 'organization.created':
        return { status: 'active', id: event.data.organizationId, provisioning: 'pending', ...detailsOf(event.data) };
      case 'organization.updated':
        return state.status === 'active' || state.status === 'deleting' ? { ...state, ...detailsOf(event.data) } : state;
      case 'organization.provisioned':
        return state.status === 'active' ? { ...state, provisioning: 'provisioned' } : state;
      case 'organization.provisioning_failed':
        return state.status === 'active' ? { ...state, provisioning: 'failed' } : state;
      case 'organization.deletion_requested': {
        if (state.status !== 'active' && state.status !== 'deleting') return state;
        const { id, name, description, tags, spec, tenantId, passwordPolicy } = state;
        return { status: 'deleting', id, name, description, tags, spec, ...(tenantId !== undefined && { tenantId }), ...(passwordPolicy !== undefined && { passwordPolicy }) };
      }
      case 'organization.deletion_failed':
        return state.status === 'deleting' ? { ...state, failure: event.data.reason } : state;
      case 'organization.deleted':
        return { status: 'deleted', id: event.data.organizationId, name: event.data.name };
      case 'organization.tenant_number.assigned':
        return state.status === 'active' || state.status === 'deleting' ? { ...state, tenantId: event.data.tenantId } : state;
      case 'organization.password_policy.changed':
        return state.status === 'active' || state.status === 'deleting' ? { ...state, passwordPolicy: event.data.policy } : state;
      default:
        return assertNever(event);
    }
  },
};

const sameDetails = (a: OrganizationDetails, b: OrganizationDetails): boolean =>
  JSON.stringify([a.name, a.description ?? null, a.tags, a.spec]) ===
  JSON.stringify([b.name, b.description ?? null, b.tags, b.spec]);

const notFound = (id: string) => new NotFoundError(`organization ${id} not found`);

export function createOrganization(
  state: OrganizationState,
  command: { organizationId: string } & OrganizationDetails,
  _meta?: CommandMetadata,
): OrganizationEvent[] {
  if (state.status !== 'absent') throw new ConflictError(`organization ${command.organizationId} already exists`);
  const { organizationId, name, description, tags, spec } = command;
  return [{ type: 'organization.created', data: { organizationId, name, description, tags: [...tags], spec } }];
}

export function updateOrganization(
  state: OrganizationState,
  command: { organizationId: string } & OrganizationDetails,
): OrganizationEvent[] {
  switch (state.status) {
    case 'absent':
    case 'deleted':
      throw notFound(command.organizationId);
    case 'deleting':
      throw new ConflictError(`organization ${state.id} is being deleted`);
    case 'active': {
      if (sameDetails(state, command)) return [];
      const { organizationId, name, description, tags, spec } = command;
      return [{ type: 'organization.updated', data: { organizationId, name, description, tags: [...tags], spec } }];
    }
    default:
      return assertNever(state);
  }
}

/** The provisioning process has seen the organization; nothing to record twice, or once it is on its way out. */
export function markOrganizationProvisioned(state: OrganizationState, command: { organizationId: string }): OrganizationEvent[] {
  if (state.status === 'absent') throw notFound(command.organizationId);
  return state.status === 'active' && state.provisioning === 'pending' ? [{ type: 'organization.provisioned', data: { organizationId: state.id } }] : [];
}

export function recordOrganizationProvisioningFailure(state: OrganizationState, command: { organizationId: string; reason: string }): OrganizationEvent[] {
  if (state.status !== 'active' || state.provisioning !== 'pending') return [];
  return [{ type: 'organization.provisioning_failed', data: { organizationId: state.id, reason: command.reason } }];
}

/**
 * Deleting is asynchronous: this only marks the organization; a process
 * manager carries out the cascade. A repeated request is harmless, except after
 * the cascade failed for good, where it is how a client starts it again.
 */
export function requestOrganizationDeletion(
  state: OrganizationState,
  command: { organizationId: string },
): OrganizationEvent[] {
  switch (state.status) {
    case 'absent':
    case 'deleted':
      throw notFound(command.organizationId);
    case 'deleting':
      return state.failure === undefined ? [] : [{ type: 'organization.deletion_requested', data: { organizationId: state.id } }];
    case 'active':
      return [{ type: 'organization.deletion_requested', data: { organizationId: state.id } }];
    default:
      return assertNever(state);
  }
}

/** Is a cascade due? Not once it failed (until requested again), nor once it is done. */
export const isDeletionPending = (state: OrganizationState): boolean => state.status === 'deleting' && state.failure === undefined;

/** The cascade stopped for good: record why, once, so the status says error rather than hang. */
export function recordOrganizationDeletionFailure(state: OrganizationState, command: { organizationId: string; reason: string }): OrganizationEvent[] {
  if (!isDeletionPending(state)) return [];
  return [{ type: 'organization.deletion_failed', data: { organizationId: command.organizationId, reason: command.reason } }];
}

export function completeOrganizationDeletion(
  state: OrganizationState,
  command: { organizationId: string },
): OrganizationEvent[] {
  switch (state.status) {
    case 'deleting':
      return [{ type: 'organization.deleted', data: { organizationId: state.id, name: state.name } }];
    case 'deleted':
      return [];
    case 'absent':
      throw notFound(command.organizationId);
    case 'active':
      throw new InvalidCommandError(`organization ${state.id} has no pending deletion`);
    default:
      return assertNever(state);
  }
}

/** Record the tenant number the organization drew; once: a number, once assigned, never changes. */
export function assignTenantNumber(state: OrganizationState, command: { organizationId: string; tenantId: number }): OrganizationEvent[] {
  if (state.status === 'absent' || state.status === 'deleted') throw notFound(command.organizationId);
  if (state.tenantId !== undefined) return [];
  return [{ type: 'organization.tenant_number.assigned', data: { organizationId: state.id, tenantId: command.tenantId } }];
}

/** Set the organization's password policy (the whole object); nothing to record when it is the same. */
export function changePasswordPolicy(state: OrganizationState, command: { organizationId: string; policy: PasswordPolicy }): OrganizationEvent[] {
  if (state.status === 'absent' || state.status === 'deleted') throw notFound(command.organizationId);
  if (state.status === 'deleting') throw new ConflictError(`organization ${state.id} is being deleted`);
  if (state.passwordPolicy !== undefined && samePolicy(state.passwordPolicy, command.policy)) return [];
  return [{ type: 'organization.password_policy.changed', data: { organizationId: state.id, policy: { ...command.policy } } }];
}

const samePolicy = (a: PasswordPolicy, b: PasswordPolicy): boolean =>
  (Object.keys(b) as (keyof PasswordPolicy)[]).every((key) => a[key] === b[key]) && Object.keys(a).length === Object.keys(b).length;
