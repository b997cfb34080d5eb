import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { z } from 'zod';
import type { GroupCommands } from '../../commands/group/handlers.js';
import type { OrganizationCommands } from '../../commands/organization/handlers.js';
import type { UserCommands } from '../../commands/user/handlers.js';
import { BUILT_IN_ROLES } from '../../domain/rbac/roles.js';
import { DomainError } from '../../domain/shared/errors.js';
import { resourceNameSchema } from '../../domain/shared/resource.js';
import type { UpstreamIdentity } from '../../infra/oidc-rp/upstream.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import type { LoginFlow, PendingAuthorization } from './login-routes.js';
import { formField, htmlError, type OidcDependencies, redirectWithParameters, systemMeta } from './shared.js';

/** An onboarding hand-off lives 10 minutes, as the seed's origin does it. */
export const ONBOARDING_TTL_SECONDS = 600;
export const ONBOARD_PATH = '/oauth2/v2/onboard';
const AUDIENCE = 'onboarding-state';

/** What the sealed onboarding state carries: the client's pending request, and the upstream identity to link. */
interface OnboardingState {
  readonly id: string;
  readonly pending: PendingAuthorization;
  readonly providerID: string;
  readonly identity: Pick<UpstreamIdentity, 'issuer' | 'subject' | 'email'>;
}

/** Roles an onboarded user may ask for: the organization's built-in ones, never a protected (platform) role. */
const GRANTABLE_ROLES = new Set(BUILT_IN_ROLES.filter((role) => !role.protected).map((role) => role.id));

export interface OnboardingDependencies {
  readonly key: Uint8Array;
  readonly organizations: Pick<OrganizationCommands, 'create' | 'requestDeletion'>;
  readonly groups: Pick<GroupCommands, 'create'>;
  readonly users: Pick<UserCommands, 'create' | 'linkIdentity'>;
  /** Whether an organization of that name exists (checked before the state is spent). */
  readonly organizationNameTaken: (name: string) => Promise<boolean>;
}

/**
 * Onboarding, as the seed's origin does it: a federated user with no account,
 * signing in to a platform application that has an `onboardingURI`, is handed
 * there with a sealed, single-use, 10-minute state and the upstream's email and
 * names. `POST /oauth2/v2/onboard` then makes an adhoc organization, a group
 * with the asked roles and the user linked to its upstream identity, and
 * completes the original authorization with a code.
 */
export class Onboarding {
  constructor(
    private readonly deps: OnboardingDependencies,
    private readonly issuer: string,
  ) {}

  /** The hand-off, or undefined when this login cannot onboard (the caller answers access_denied). */
  async handOff(context: { pending: PendingAuthorization; identity: UpstreamIdentity; providerID: string; client: { platform: boolean; onboardingURI?: string } }): Promise<RouteReply | undefined> {
    const { pending, identity, providerID, client } = context;
    // Only a platform application serves users of every organization; an organization's own application has its own users.
    if (!client.platform || !client.onboardingURI || !identity.emailVerified || !identity.email) return undefined;
    const content: OnboardingState = { id: randomBytes(16).toString('base64url'), pending, providerID, identity: { issuer: identity.issuer, subject: identity.subject, email: identity.email } };
    const state = await new EncryptJWT(content as unknown as Record<string, unknown>)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: 'onboarding-state+jwt' })
      .setIssuer(this.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${ONBOARDING_TTL_SECONDS}s`)
      .encrypt(this.deps.key);
    return redirectWithParameters(client.onboardingURI, {
      state,
      email: identity.email,
      name: identity.name,
      given_name: identity.givenName,
      family_name: identity.familyName,
    });
  }

  private async open(state: string | undefined): Promise<OnboardingState | undefined> {
    if (!state || state.length > 16_384) return undefined;
    try {
      const { payload } = await jwtDecrypt(state, this.deps.key, { issuer: this.issuer, audience: AUDIENCE, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return payload as unknown as OnboardingState;
    } catch {
      return undefined;
    }
  }

  route(oidc: Pick<OidcDependencies, 'issuer' | 'writes' | 'logins'>, flow: LoginFlow) {
    const { deps } = this;
    const pageError = (message: string) => htmlError(400, 'Onboarding refused', message);
    return defineRoute({
      method: 'post',
      path: ONBOARD_PATH,
      summary: 'Onboarding: make an organization, a group and the federated user, then return to the client with a code.',
      tags: ['oidc'],
      access: 'public',
      request: {
        body: z.object({
          state: formField,
          organization_name: formField,
          organization_description: formField,
          group_name: formField,
          group_description: formField,
          roles: z.union([z.string().max(256), z.array(z.string().max(64)).max(16)]).optional(),
        }),
        bodyType: 'form',
      },
      responses: {
        302: { description: 'Back to the client with a code.' },
        400: { description: 'An expired, altered or used state, or names that are not valid.', html: true },
        409: { description: 'The organization name is taken.', html: true },
      },
      handler: async ({ body, req }): Promise<RouteReply> => {
        const state = await this.open(body.state);
        if (!state) return pageError('This onboarding has expired or is not valid. Go back to the application and sign in again.');
        const organizationName = resourceNameSchema.safeParse(body.organization_name ?? '');
        const groupName = resourceNameSchema.safeParse(body.group_name ?? '');
        if (!organizationName.success) return pageError('The organization name must be 1-63 letters, digits, - _ or ., starting and ending with a letter or digit.');
        if (!groupName.success) return pageError('The group name must be 1-63 letters, digits, - _ or ., starting and ending with a letter or digit.');
        const asked = (Array.isArray(body.roles) ? body.roles : (body.roles ?? '').split(/[\s,]+/)).filter(Boolean);
        // Roles only the platform may grant, or that do not exist, are dropped.
        const roles = [...new Set(asked.length === 0 ? ['administrator'] : asked.filter((role) => GRANTABLE_ROLES.has(role)))];
        if (roles.length === 0) roles.push('administrator');
        // A taken name is said before the state is spent, so the person can choose another.
        if (await deps.organizationNameTaken(organizationName.data)) {
          return htmlError(409, 'Name taken', 'An organization with that name exists. Go back and choose another name.');
        }
        const meta = systemMeta(oidc.writes, req as Request, state.pending.client_id, 'application');
        // Once, across instances: the first append to the state's stream wins.
        const first = await oidc.logins.consumeState({ stateId: state.id, clientId: state.pending.client_id, providerID: state.providerID }, meta);
        if (!first) return pageError('This onboarding was already completed. Go back to the application and sign in.');

        let organizationId: string | undefined;
        try {
          const organization = await deps.organizations.create(
            {
              name: organizationName.data,
              ...(body.organization_description && { description: body.organization_description.slice(0, 1024) }),
              tags: [],
              spec: { organizationType: 'adhoc' },
            },
            meta,
          );
          organizationId = (organization.state as { id: string }).id;
          const user = await deps.users.create(organizationId, { name: nameFrom(state.identity.email!), tags: [], subject: state.identity.email!, state: 'active' }, meta, async () => {});
          await deps.groups.create(
            organizationId,
            { name: groupName.data, ...(body.group_description && { description: body.group_description.slice(0, 1024) }), tags: [], roleIDs: roles, userIDs: [user.userId], serviceAccountIDs: [] },
            meta,
          );
          await deps.users.linkIdentity(organizationId, user.userId, { issuer: state.identity.issuer, subject: state.identity.subject, providerID: state.providerID }, meta);
          return await flow.finishLogin(req as Request, state.pending, { id: user.userId, organizationId, subject: state.identity.email! }, { method: 'federated', providerID: state.providerID, issuer: state.identity.issuer });
        } catch (error) {
          // Nothing half-made: an organization made for this onboarding goes again (its deletion cascade removes what was made in it).
          if (organizationId !== undefined) await deps.organizations.requestDeletion(organizationId, meta).catch(() => undefined);
          if (error instanceof DomainError) {
            req.log?.warn({ reason: error.message }, 'onboarding failed');
            return redirectWithParameters(state.pending.redirect_uri, { error: 'access_denied', error_description: 'the account could not be created', state: state.pending.state, iss: oidc.issuer });
          }
          throw error;
        }
      },
    });
  }
}

/** A user's name from its email's local part, as a valid resource name. */
function nameFrom(email: string): string {
  // Cut to length first, then trim: a name must start and end with a letter or digit.
  const local = email.split('@')[0]!.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return local || 'user';
}

