import type { PlatformProvider } from '../../config.js';
import type { IdentityProviderCommands } from '../../commands/identity-provider/handlers.js';
import type { UpstreamProvider } from '../../infra/oidc-rp/upstream.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { ORGANIZATIONS, type OrganizationDocument } from '../../projections/organizations/projection.js';
import type { IdentityProviderQueries } from '../../projections/identity-providers/queries.js';

/** Which provider a login goes to, and how its secret is read when (only when) the code is exchanged. */
export interface ResolvedProvider extends UpstreamProvider {
  /** `organization`: an organization's provider (its id below); `platform`: one of OAUTH2_PROVIDERS. */
  readonly scope: 'organization' | 'platform';
  /** The provider's id: an organization provider's id, or a platform provider's. */
  readonly id: string;
  /** The organization that registered it (organization scope). */
  readonly ownerOrganizationId?: string;
  /** The client secret in clear, for the code exchange only; undefined for a public client. */
  clientSecret(): Promise<string | undefined>;
}

/** A reference to a provider as the sealed state carries it (no issuer, no secret: read again at the callback). */
export interface ProviderRef {
  readonly scope: 'organization' | 'platform';
  readonly id: string;
  readonly org?: string;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Provider choice: an email's domain finds the `domain` organization whose
 * spec.domain it is (case-insensitive), whose spec.providerID names the
 * provider (spec.providerScope: `organization`, one of its own; `global`, one
 * of the platform's); the login page's buttons name a platform provider.
 */
export class FederationProviders {
  constructor(
    private readonly readModels: ReadModelStore,
    private readonly providers: IdentityProviderQueries,
    private readonly commands: Pick<IdentityProviderCommands, 'clientSecret'>,
    private readonly platform: readonly PlatformProvider[],
  ) {}

  /** The platform's providers, for the login page's buttons. */
  platformProviders(): readonly { id: string; name: string }[] {
    return this.platform.map(({ id, name }) => ({ id, name }));
  }

  /** The domain organization an email belongs to, with its provider; undefined when none routes it. */
  async forEmail(email: string): Promise<{ organizationId: string; provider: ProviderRef } | undefined> {
    const at = email.lastIndexOf('@');
    const domain = at < 0 ? '' : email.slice(at + 1).trim().toLowerCase();
    if (!/^[a-z0-9.-]{1,253}$/.test(domain)) return undefined;
    const [doc] = await this.readModels
      .collection<OrganizationDocument>(ORGANIZATIONS)
      .find({ 'spec.organizationType': 'domain', 'spec.domain': { $regex: `^${escapeRegex(domain)}$`, $options: 'i' } }, { limit: 1 });
    const spec = doc?.spec as { providerID?: string; providerScope?: 'global' | 'organization' } | undefined;
    if (!doc || !spec?.providerID || doc.metadata.provisioningStatus === 'deprovisioning') return undefined;
    const organizationId = doc.metadata.id;
    const provider: ProviderRef =
      spec.providerScope === 'organization' ? { scope: 'organization', id: spec.providerID, org: organizationId } : { scope: 'platform', id: spec.providerID };
    return { organizationId, provider };
  }

  /** The provider a reference names, as it is now; undefined when it is gone. */
  async resolve(ref: ProviderRef): Promise<ResolvedProvider | undefined> {
    if (ref.scope === 'platform') {
      const provider = this.platform.find((p) => p.id === ref.id);
      if (!provider) return undefined;
      return {
        scope: 'platform',
        id: provider.id,
        key: `platform:${provider.id}`,
        issuer: provider.issuer,
        clientID: provider.clientID,
        clientSecret: async () => provider.clientSecret?.(),
      };
    }
    if (!ref.org) return undefined;
    const provider = (await this.providers.get(ref.org, ref.id)) as { spec: { issuer: string; clientID: string } } | undefined;
    if (!provider) return undefined;
    const organizationId = ref.org;
    return {
      scope: 'organization',
      id: ref.id,
      ownerOrganizationId: organizationId,
      key: `organization:${ref.id}`,
      issuer: provider.spec.issuer,
      clientID: provider.spec.clientID,
      // Unsealed from the provider's stream at the moment of the exchange, and dropped after it.
      clientSecret: () => this.commands.clientSecret(organizationId, ref.id),
    };
  }
}
