import type { ApplicationCommands } from '../commands/application/handlers.js';
import type { GroupCommands } from '../commands/group/handlers.js';
import type { IdentityProviderCommands } from '../commands/identity-provider/handlers.js';
import type { OrganizationCommands } from '../commands/organization/handlers.js';
import type { ProjectCommands } from '../commands/project/handlers.js';
import type { ResourceLedgerCommands } from '../commands/quota/handlers.js';
import type { ServiceAccountCommands } from '../commands/service-account/handlers.js';
import type { UserCommands } from '../commands/user/handlers.js';
import { isDeletionPending } from '../domain/organization/decider.js';
import type { CommandMetadata } from '../domain/shared/decider.js';
import { NotFoundError } from '../domain/shared/errors.js';
import type { RecordedEvent } from '../ports/event-store.js';
import { forEachConcurrently } from './concurrency.js';
import { type Children, countChildren, type OrganizationChildren } from './organization-children.js';
import { causedBy, type ProcessDefinition } from './process-manager.js';
import type { ReadModelSync } from './read-model-sync.js';
import type { SessionEnder } from './session-revocation.js';

/** The commands the cascade runs: the same ones the API runs, each appending the child's own deleted event. */
export interface CascadeCommands {
  readonly organizations: Pick<OrganizationCommands, 'state' | 'completeDeletion' | 'recordDeletionFailure'>;
  readonly projects: Pick<ProjectCommands, 'requestDeletion' | 'completeDeletion'>;
  readonly ledger: Pick<ResourceLedgerCommands, 'closeProjects' | 'close'>;
  readonly groups: Pick<GroupCommands, 'delete'>;
  readonly users: Pick<UserCommands, 'delete'>;
  readonly serviceAccounts: Pick<ServiceAccountCommands, 'delete'>;
  readonly applications: Pick<ApplicationCommands, 'delete'>;
  readonly identityProviders: Pick<IdentityProviderCommands, 'delete'>;
}

export interface CascadeDependencies {
  readonly commands: CascadeCommands;
  readonly children: OrganizationChildren;
  readonly sessions: SessionEnder;
  readonly sync: ReadModelSync;
  /** Commands in flight at once; enough for the event store to commit them in batches. */
  readonly concurrency?: number;
}

const DEFAULT_CONCURRENCY = 32;

/** A child that is already gone (a replay after a crash, or a DELETE that got there first) is done. */
const unlessGone = async (command: Promise<unknown>): Promise<void> => {
  try {
    await command;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
};

type OrganizationEvent = RecordedEvent<string, { organizationId: string }>;

/**
 * Deleting an organization: once it is requested, remove every child with the
 * ordinary commands, end the sessions of its users and applications, close its
 * resource ledger, then the organization itself (which frees its name). Every
 * step is idempotent, so after a crash the redelivered request picks up where
 * the log says it stopped. A step that fails for good ends in
 * organization.deletion_failed (status error); a new DELETE starts it again.
 */
export function organizationDeletionProcess(deps: CascadeDependencies): ProcessDefinition {
  const { commands, children, sessions, sync } = deps;
  const concurrency = deps.concurrency ?? DEFAULT_CONCURRENCY;

  /**
   * One pass over the children found. Projects and groups go before users and
   * service accounts, so that those find no group left to leave and do not
   * all queue on the same group streams.
   */
  async function removeChildren(organizationId: string, found: Children, meta: CommandMetadata, signal: AbortSignal): Promise<void> {
    const each = (ids: readonly string[], remove: (id: string) => Promise<unknown>) =>
      forEachConcurrently(ids, concurrency, (id) => unlessGone(remove(id)), signal);

    // A project: marked, then its allocations released (all projects in one ledger append, since
    // the ledger is one stream per organization), then deleted.
    await each(found.projects, (id) => commands.projects.requestDeletion(organizationId, id, meta));
    if (found.projects.length > 0) await commands.ledger.closeProjects(organizationId, found.projects, meta);
    await each(found.projects, (id) => commands.projects.completeDeletion(organizationId, id, meta));

    await each(found.groups, (id) => commands.groups.delete(organizationId, id, meta));
    // Users and service accounts look up their groups in the read model: let it see the groups gone.
    await sync.reachHead(signal);
    await each(found.users, (id) => commands.users.delete(organizationId, id, meta));
    await each(found.serviceAccounts, (id) => commands.serviceAccounts.delete(organizationId, id, meta));
    // The cascade acts for the platform, which may remove platform applications too.
    await each(found.applications, (id) => commands.applications.delete(organizationId, id, { platformAdministrator: true }, meta));
    await each(found.identityProviders, (id) => commands.identityProviders.delete(organizationId, id, meta));
  }

  return {
    name: 'organization-deletion',
    handlers: {
      'organization.deletion_requested': async (event: OrganizationEvent, { signal }) => {
        const { organizationId } = event.data;
        // Done already, or failed for good and waiting for a new request: nothing to do for this one.
        if (!isDeletionPending(await commands.organizations.state(organizationId))) return;
        const meta = causedBy(event);
        // The read models must have seen everything up to the request before they are asked for children.
        await sync.reach(event.position, signal);
        // Then look again after each pass, with the read models at the head of the log, until a look
        // finds nothing: a child whose create raced the request is found by a later look, not orphaned.
        let previous: string | undefined;
        for (;;) {
          await sync.reachHead(signal);
          const found = await children.of(organizationId);
          if (countChildren(found) === 0) break;
          // The same children after a pass that removed them means the read models do not follow the
          // log (a failed projection): an error, retried and then recorded, rather than a loop forever.
          const key = JSON.stringify(Object.values(found).map((ids) => [...ids].sort()));
          if (key === previous) throw new Error(`organization ${organizationId}: ${countChildren(found)} children are still listed after they were removed`);
          previous = key;
          await removeChildren(organizationId, found, meta, signal);
        }
        // The users and applications are gone: end their sessions (after the last pass, so that a
        // crash anywhere before it still finds them on the next run).
        await sessions.ofOrganization(organizationId, meta);
        await commands.ledger.close(organizationId, meta);
        await commands.organizations.completeDeletion(organizationId, meta);
      },
    },
    onFailure: async (event: OrganizationEvent, reason) => {
      await commands.organizations.recordDeletionFailure(event.data.organizationId, reason, causedBy(event));
    },
  };
}
