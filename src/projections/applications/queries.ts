import { timingSafeEqual } from 'node:crypto';
import { type ListFields, listPage, type ListQuery, ORGANIZATION_SCOPED_FIELDS } from '../../query/index.js';
import type { GrantType } from '../../domain/application/events.js';
import { clientSecretDigest } from '../../domain/application/secret.js';
import type { ReadModelStore } from '../../ports/read-models.js';
import { credentialKind, defaultAuthMethod } from '../../domain/application/tls-client-auth.js';
import { APPLICATION_CREDENTIALS, APPLICATIONS, type ApplicationCredentialsDocument, type ApplicationDocument, type ClientAuthentication } from './projection.js';

export const APPLICATION_FIELDS: ListFields = {
  ...ORGANIZATION_SCOPED_FIELDS,
  public: { path: 'spec.public', type: 'boolean' },
  enabled: { path: 'spec.enabled', type: 'boolean' },
  platform: { path: 'spec.platform', type: 'boolean' },
  // Array paths: grantTypes==client_credentials matches applications that have it.
  grantTypes: { path: 'spec.grantTypes', type: 'string', searchable: false },
  tokenEndpointAuthMethod: { path: 'spec.tokenEndpointAuthMethod', type: 'string', searchable: false },
  groupIDs: { path: 'spec.groupIDs', type: 'string', searchable: false },
};

/** An OAuth client, as the token service sees it. Its id is the application's id. */
export interface OAuthClient extends Readonly<ClientAuthentication> {
  readonly clientId: string;
  readonly organizationId: string;
  readonly name: string;
  /** No secret: it must use PKCE. */
  readonly public: boolean;
  readonly enabled: boolean;
  /** Accepts users of every organization, not only its own. */
  readonly platform: boolean;
  readonly redirectURIs: readonly string[];
  readonly grantTypes: readonly GrantType[];
  readonly groupIDs: readonly string[];
  readonly homeURI?: string;
  readonly errorURI?: string;
  readonly onboardingURI?: string;
  /** Set: the application hosts its own sign-in chooser; the authorization endpoint redirects there with the signed request. */
  readonly loginURI?: string;
}

/** The API's read shape: a secret is only ever added by the response that hands it out. */
const toResource = ({ _id, _position, activity: _activity, ...resource }: ApplicationDocument) => ({ ...resource, status: {} as { clientSecret?: string } });

const toClient = (doc: ApplicationCredentialsDocument): OAuthClient => ({
  clientId: doc._id,
  organizationId: doc.organizationId,
  name: doc.name,
  public: doc.public,
  enabled: doc.enabled,
  platform: doc.platform,
  redirectURIs: doc.redirectURIs,
  grantTypes: doc.grantTypes,
  groupIDs: doc.groupIDs,
  ...(doc.loginURI !== undefined && { loginURI: doc.loginURI }),
  // Documents written before methods existed (a MongoDB read model keeps them) have none: from `public`.
  tokenEndpointAuthMethod: doc.tokenEndpointAuthMethod ?? defaultAuthMethod(doc.public),
  ...(doc.tlsClientAuthSubjectDN !== undefined && { tlsClientAuthSubjectDN: doc.tlsClientAuthSubjectDN }),
  ...(doc.tlsClientAuthSanDNS !== undefined && { tlsClientAuthSanDNS: doc.tlsClientAuthSanDNS }),
  ...(doc.tlsClientAuthSanURI !== undefined && { tlsClientAuthSanURI: doc.tlsClientAuthSanURI }),
  ...(doc.tlsClientAuthSanIP !== undefined && { tlsClientAuthSanIP: doc.tlsClientAuthSanIP }),
  ...(doc.tlsClientAuthSanEmail !== undefined && { tlsClientAuthSanEmail: doc.tlsClientAuthSanEmail }),
  ...(doc.jwks !== undefined && { jwks: doc.jwks }),
  ...(doc.tlsClientCertificates !== undefined && { tlsClientCertificates: doc.tlsClientCertificates }),
  ...(doc.homeURI !== undefined && { homeURI: doc.homeURI }),
  ...(doc.errorURI !== undefined && { errorURI: doc.errorURI }),
  ...(doc.onboardingURI !== undefined && { onboardingURI: doc.onboardingURI }),
});

/** A digest that matches no secret, compared against when there is nothing to compare, so every path does the same work. */
const NO_DIGEST = Buffer.alloc(32);

export class ApplicationQueries {
  constructor(private readonly readModels: ReadModelStore) {}

  private get applications() {
    return this.readModels.collection<ApplicationDocument>(APPLICATIONS);
  }

  private get credentials() {
    return this.readModels.collection<ApplicationCredentialsDocument>(APPLICATION_CREDENTIALS);
  }

  /** An application of the organization; one of another organization is not found. */
  async get(organizationId: string, applicationId: string) {
    const doc = await this.applications.findById(applicationId);
    return doc?.metadata.organizationId === organizationId ? toResource(doc) : undefined;
  }

  async list(organizationId: string, query: ListQuery) {
    return listPage(this.applications, query, APPLICATION_FIELDS, { 'metadata.organizationId': organizationId }, toResource);
  }

  /** The client with this id, enabled or not; undefined when unknown or deleted. */
  async client(clientId: string): Promise<OAuthClient | undefined> {
    const doc = await this.credentials.findById(clientId);
    return doc && toClient(doc);
  }

  /**
   * The confidential, enabled client these credentials prove, or undefined:
   * unknown, deleted, disabled, public and certificate (RFC 8705) clients fail
   * like a wrong secret.
   * The digests are compared in constant time.
   */
  async authenticateClient(clientId: string, secret: string): Promise<OAuthClient | undefined> {
    const doc = await this.credentials.findById(clientId);
    const presented = Buffer.from(clientSecretDigest(secret), 'hex');
    const stored = doc?.secretSha256 !== undefined ? Buffer.from(doc.secretSha256, 'hex') : NO_DIGEST;
    const matches = timingSafeEqual(presented, stored.length === presented.length ? stored : NO_DIGEST);
    if (!doc || !matches || doc.secretSha256 === undefined || doc.public || !doc.enabled) return undefined;
    if (credentialKind(doc.tokenEndpointAuthMethod ?? defaultAuthMethod(doc.public)) !== 'secret') return undefined;
    return toClient(doc);
  }
}
