import { randomBytes } from 'node:crypto';
import { v4 as uuidv4 } from 'uuid';
import {
  type ActiveApplication,
  applicationDecider,
  authMethodOf,
  type ApplicationSettings,
  createApplication,
  deleteApplication,
  rotateApplicationSecret,
  updateApplication,
} from '../../domain/application/decider.js';
import { applicationStream } from '../../domain/application/events.js';
import { clientSecretDigest } from '../../domain/application/secret.js';
import { credentialKind } from '../../domain/application/tls-client-auth.js';
import type { CommandMetadata } from '../../domain/shared/decider.js';
import { ConflictError, NotFoundError } from '../../domain/shared/errors.js';
import type { EventStore } from '../../ports/event-store.js';
import { requireOrganizationGroups } from '../group/handlers.js';
import { requireActiveOrganization } from '../organization/guards.js';
import { handleCommand, loadState } from '../pipeline.js';
import { claimUnique, releaseUnique } from '../reservations.js';

/** Application names are unique within their organization. */
const nameScope = (organizationId: string) => `application-name:${organizationId}`;

/** A new client secret: 256 random bits, base64url. Only its digest goes into the log. */
function issueSecret(): { secret: string; secretSha256: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, secretSha256: clientSecretDigest(secret) };
}

/** Who asks, as far as the rules care: only platform administrators touch platform applications. */
export interface ApplicationActor {
  readonly platformAdministrator: boolean;
}

export class ApplicationCommands {
  constructor(private readonly store: EventStore) {}

  /** The application as the write side has it; one of another organization is not found. */
  async current(organizationId: string, applicationId: string): Promise<ActiveApplication> {
    const { state } = await loadState(this.store, applicationStream(applicationId), applicationDecider);
    if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError(`application ${applicationId} not found`);
    return state;
  }

  private async claimName(organizationId: string, name: string, applicationId: string, meta: CommandMetadata) {
    try {
      await claimUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: applicationId }, applicationStream, meta);
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`an application named "${name}" already exists in this organization`);
      throw error;
    }
  }

  private releaseName(organizationId: string, name: string, applicationId: string, meta: CommandMetadata) {
    return releaseUnique(this.store, { scope: nameScope(organizationId), value: name, ownerId: applicationId }, meta);
  }

  /**
   * Create the application; one that authenticates with a secret gets its
   * first secret, which is in the result only (the log keeps its digest).
   * Public and certificate (RFC 8705) clients get none.
   */
  async create(organizationId: string, settings: ApplicationSettings, actor: ApplicationActor, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const applicationId = uuidv4();
    const secret = credentialKind(authMethodOf(settings)) === 'secret' ? issueSecret() : undefined;
    const decide = (state: Parameters<typeof createApplication>[0]) =>
      createApplication(state, { applicationId, organizationId, ...settings, platformAdministrator: actor.platformAdministrator, secretSha256: secret?.secretSha256 });
    // A dry run first, so that a broken rule is answered before the name is reserved.
    decide(applicationDecider.initialState());
    await requireOrganizationGroups(this.store, organizationId, settings.groupIDs);
    await this.claimName(organizationId, settings.name, applicationId, meta);
    try {
      const result = await handleCommand(this.store, applicationStream(applicationId), applicationDecider, decide, meta);
      return { applicationId, clientSecret: secret?.secret, position: result.position };
    } catch (error) {
      await this.releaseName(organizationId, settings.name, applicationId, meta);
      throw error;
    }
  }

  /**
   * Replace the settings. With an expected version (a PATCH computed from
   * that version), a concurrent change makes it fail rather than be lost.
   */
  async update(
    organizationId: string,
    applicationId: string,
    settings: ApplicationSettings,
    actor: ApplicationActor,
    meta: CommandMetadata,
    expectedVersion?: number,
  ) {
    await requireActiveOrganization(this.store, organizationId);
    const before = await this.current(organizationId, applicationId);
    const decide = (state: Parameters<typeof updateApplication>[0]) =>
      updateApplication(state, { applicationId, organizationId, ...settings, platformAdministrator: actor.platformAdministrator, expectedVersion });
    decide(before);
    // Groups already listed stay as they are (one deleted since is harmless: it grants nothing); new ones must be real.
    await requireOrganizationGroups(this.store, organizationId, settings.groupIDs.filter((id) => !before.groupIDs.includes(id)));
    const renamed = before.name.toLowerCase() !== settings.name.toLowerCase();
    if (renamed) await this.claimName(organizationId, settings.name, applicationId, meta);
    try {
      const result = await handleCommand(this.store, applicationStream(applicationId), applicationDecider, decide, meta);
      if (renamed) await this.releaseName(organizationId, before.name, applicationId, meta);
      return result;
    } catch (error) {
      if (renamed) await this.releaseName(organizationId, settings.name, applicationId, meta);
      throw error;
    }
  }

  /** Issue a new secret; the old one stops working with this event. */
  async rotateSecret(organizationId: string, applicationId: string, actor: ApplicationActor, meta: CommandMetadata) {
    await requireActiveOrganization(this.store, organizationId);
    const secret = issueSecret();
    const result = await handleCommand(
      this.store,
      applicationStream(applicationId),
      applicationDecider,
      (state) => rotateApplicationSecret(state, { applicationId, organizationId, platformAdministrator: actor.platformAdministrator, secretSha256: secret.secretSha256 }),
      meta,
    );
    return { clientSecret: secret.secret, position: result.position };
  }

  /** Delete it: its client id is refused from this event on, and its name is free again. */
  async delete(organizationId: string, applicationId: string, actor: ApplicationActor, meta: CommandMetadata) {
    const result = await handleCommand(
      this.store,
      applicationStream(applicationId),
      applicationDecider,
      (state) => deleteApplication(state, { applicationId, organizationId, platformAdministrator: actor.platformAdministrator }),
      meta,
    );
    if (result.state.status === 'deleted') await this.releaseName(organizationId, result.state.name, applicationId, meta);
    return result;
  }
}
