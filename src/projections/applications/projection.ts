import type { ApplicationEvent, GrantType, Jwks } from '../../domain/application/events.js';
import { defaultAuthMethod, TLS_CLIENT_AUTH_FIELDS, type TlsClientAuthIdentity, type TokenEndpointAuthMethod } from '../../domain/application/tls-client-auth.js';
import type { OrganizationEvent } from '../../domain/organization/events.js';
import type { SessionEvent as SessionEvents } from '../../domain/session/events.js';
import type { RecordedEvent } from '../../ports/event-store.js';
import type { Document } from '../../ports/read-models.js';
import { defineProjection } from '../projection.js';
import { createdMetadata, withModified, type OrganizationScopedResourceReadMetadata, updatedMetadata } from '../resource-metadata.js';

/** RFC 8705: how a client authenticates, and the certificate or keys that prove it. */
export interface ClientAuthentication extends TlsClientAuthIdentity {
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  jwks?: Jwks;
  tlsClientCertificates?: string[];
}

export interface ApplicationSpec extends ClientAuthentication {
  redirectURIs: string[];
  grantTypes: GrantType[];
  public: boolean;
  enabled: boolean;
  groupIDs: string[];
  platform: boolean;
  homeURI?: string;
  errorURI?: string;
  onboardingURI?: string;
  /** Set: the application hosts its own sign-in chooser (docs/federation.md). */
  loginURI?: string;
}

/**
 * An application as the API reads it (metadata and spec), plus the document id.
 * Access control reads metadata.id, metadata.organizationId and spec.groupIDs.
 * No secret, not even its digest: that lives in application_credentials only.
 */
export interface ApplicationDocument extends Document {
  metadata: OrganizationScopedResourceReadMetadata;
  spec: ApplicationSpec;
  /** When the application last signed in as itself (a client-credentials session started); seed 003's lastLogin. */
  activity?: { lastLogin: string };
}

/** What the token service needs to know of a client, by client id, in one lookup. */
export interface ApplicationCredentialsDocument extends Document, ClientAuthentication {
  organizationId: string;
  name: string;
  /** Absent for a public or certificate (RFC 8705) client. */
  secretSha256?: string;
  enabled: boolean;
  public: boolean;
  platform: boolean;
  loginURI?: string;
  redirectURIs: string[];
  grantTypes: GrantType[];
  groupIDs: string[];
  homeURI?: string;
  errorURI?: string;
  onboardingURI?: string;
}

type Event<T extends ApplicationEvent['type']> = RecordedEvent<T, Extract<ApplicationEvent, { type: T }>['data']>;
type OrgEvent<T extends OrganizationEvent['type']> = RecordedEvent<T, Extract<OrganizationEvent, { type: T }>['data']>;
type SessionEvent<T extends SessionEvents['type']> = RecordedEvent<T, Extract<SessionEvents, { type: T }>['data']>;

export const APPLICATIONS = 'applications';
export const APPLICATION_CREDENTIALS = 'application_credentials';

/** The method (for older events: from `public`) and only the certificate settings that are set. */
const clientAuthenticationOf = (data: Event<'application.updated'>['data']): ClientAuthentication => ({
  tokenEndpointAuthMethod: data.tokenEndpointAuthMethod ?? defaultAuthMethod(data.public),
  ...Object.fromEntries(TLS_CLIENT_AUTH_FIELDS.filter((field) => data[field] !== undefined).map((field) => [field, data[field]])),
  ...(data.jwks !== undefined && { jwks: data.jwks }),
  ...(data.tlsClientCertificates !== undefined && { tlsClientCertificates: data.tlsClientCertificates }),
});

/** The application's own pages, only those that are set. */
const pagesOf = (data: Event<'application.updated'>['data']) => ({
  ...(data.homeURI !== undefined && { homeURI: data.homeURI }),
  ...(data.errorURI !== undefined && { errorURI: data.errorURI }),
  ...(data.onboardingURI !== undefined && { onboardingURI: data.onboardingURI }),
});

const specOf = (data: Event<'application.updated'>['data']): ApplicationSpec => ({
  redirectURIs: data.redirectURIs,
  grantTypes: data.grantTypes,
  public: data.public,
  enabled: data.enabled,
  groupIDs: data.groupIDs,
  platform: data.platform,
  ...(data.loginURI !== undefined && { loginURI: data.loginURI }),
  ...clientAuthenticationOf(data),
  ...pagesOf(data),
});

export const applicationsProjection = defineProjection<ApplicationDocument>({
  name: 'applications',
  collection: APPLICATIONS,
  indexes: [{ fields: ['metadata.organizationId'] }, { fields: ['metadata.organizationId', 'metadata.name', '_id'] }],
  handlers: {
    'application.created': async (event: Event<'application.created'>, docs) => {
      const { applicationId, organizationId } = event.data;
      await docs.update(applicationId, () => ({
        _id: applicationId,
        metadata: { ...createdMetadata(event, applicationId), organizationId },
        spec: specOf(event.data),
      }));
    },
    'application.updated': async (event: Event<'application.updated'>, docs) => {
      await docs.update(event.data.applicationId, (doc) => doc && { ...doc, metadata: updatedMetadata(doc.metadata, event), spec: specOf(event.data) });
    },
    // The digest is not kept here; that the application changed is.
    'application.secret.rotated': async (event: Event<'application.secret.rotated'>, docs) => {
      await docs.update(event.data.applicationId, (doc) => doc && { ...doc, metadata: withModified(doc.metadata, event) });
    },
    'application.deleted': async (event: Event<'application.deleted'>, docs) => {
      await docs.update(event.data.applicationId, () => undefined);
    },
    // An application signing in as itself (client credentials) starts a session: one write per session, not per token.
    'session.started': async (event: SessionEvent<'session.started'>, docs) => {
      if (event.data.subjectKind !== 'application') return;
      await docs.update(event.data.subjectId, (doc) => doc && { ...doc, activity: { lastLogin: event.metadata.occurredAt } });
    },
  },
});

const credentialsOf = (data: Event<'application.updated'>['data']) => ({
  ...clientAuthenticationOf(data),
  organizationId: data.organizationId,
  name: data.name,
  enabled: data.enabled,
  public: data.public,
  platform: data.platform,
  ...(data.loginURI !== undefined && { loginURI: data.loginURI }),
  redirectURIs: data.redirectURIs,
  grantTypes: data.grantTypes,
  groupIDs: data.groupIDs,
  ...pagesOf(data),
});

export const applicationCredentialsProjection = defineProjection<ApplicationCredentialsDocument>({
  name: 'application_credentials',
  collection: APPLICATION_CREDENTIALS,
  indexes: [{ fields: ['organizationId'] }],
  handlers: {
    'application.created': async (event: Event<'application.created'>, docs) => {
      const { applicationId, secretSha256 } = event.data;
      await docs.update(applicationId, () => ({
        _id: applicationId,
        ...credentialsOf(event.data),
        ...(secretSha256 !== undefined && { secretSha256 }),
      }));
    },
    'application.updated': async (event: Event<'application.updated'>, docs) => {
      // Rebuilt from the event (an optional setting it leaves out is gone); the secret's digest stays.
      await docs.update(
        event.data.applicationId,
        (doc) => doc && { _id: doc._id, ...credentialsOf(event.data), ...(doc.secretSha256 !== undefined && { secretSha256: doc.secretSha256 }) },
      );
    },
    'application.secret.rotated': async (event: Event<'application.secret.rotated'>, docs) => {
      await docs.update(event.data.applicationId, (doc) => doc && { ...doc, secretSha256: event.data.secretSha256 });
    },
    'application.deleted': async (event: Event<'application.deleted'>, docs) => {
      await docs.update(event.data.applicationId, () => undefined);
    },
    // An organization on its way out logs nobody in any more, from the request on rather than when the
    // cascade reaches the application: a security property, not a shortcut. The applications still
    // leave the API's read model only through their own deleted events.
    'organization.deletion_requested': async (event: OrgEvent<'organization.deletion_requested'>, docs) => {
      await docs.updateWhere({ organizationId: event.data.organizationId }, () => undefined);
    },
  },
});
