import type { IdentityProviderCommands, IdentityProviderInput } from '../../commands/identity-provider/handlers.js';
import { IDENTITY_PROVIDER_FIELDS, type IdentityProviderQueries, SYSTEM_PROVIDER_FIELDS, type SystemProviderQueries } from '../../projections/identity-providers/queries.js';
import { type OutboundUrlPolicy, outboundUrlProblem } from '../../infra/net/address-guard.js';
import { InvalidRequestError, NotFoundHttpError } from '../http/errors.js';
import { listQuerySchema, listReply } from '../http/list-query.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { WriteContext } from '../write-context.js';
import {
  oauth2ProviderPathSchema,
  oauth2ProviderReadSchema,
  oauth2ProvidersSchema,
  oauth2ProviderWriteSchema,
  type OAuth2ProviderWrite,
  systemOauth2ProvidersSchema,
} from './schemas.js';

const TAGS = ['oauth2providers'];
const FAMILY = 'identity:oauth2providers';

const toInput = ({ metadata, spec }: OAuth2ProviderWrite): IdentityProviderInput => ({
  name: metadata.name,
  description: metadata.description,
  tags: metadata.tags ?? [],
  type: spec.type,
  issuer: spec.issuer,
  clientID: spec.clientID,
  clientSecret: spec.clientSecret,
});

export function identityProviderRoutes(deps: {
  commands: IdentityProviderCommands;
  queries: IdentityProviderQueries;
  system: SystemProviderQueries;
  writes: WriteContext;
  /** Which issuer addresses this service will agree to call: https only, and no internal address unless allowed. */
  issuerPolicy: OutboundUrlPolicy;
}) {
  const { commands, queries, system, writes, issuerPolicy } = deps;

  /** The issuer is where federation will fetch discovery documents and keys from: refuse internal targets now. */
  const checkedInput = async (body: OAuth2ProviderWrite): Promise<IdentityProviderInput> => {
    const problem = await outboundUrlProblem(body.spec.issuer, issuerPolicy);
    if (problem) throw new InvalidRequestError(`body.spec.issuer: ${problem}`);
    return toInput(body);
  };

  const readAfterWrite = async (organizationId: string, providerId: string) => {
    const provider = await queries.get(organizationId, providerId);
    if (!provider) throw new NotFoundHttpError(`identity provider ${providerId} not found`);
    return provider;
  };

  return [
    defineRoute({
      method: 'get',
      path: '/api/v1/oauth2providers',
      summary: "List the platform's built-in identity providers.",
      tags: TAGS,
      // They come from configuration and hold no secret: anyone signed in may see them.
      access: 'authenticated',
      request: { query: listQuerySchema },
      responses: { 200: { description: 'A list of OAuth 2.0 providers.', schema: systemOauth2ProvidersSchema } },
      filterable: SYSTEM_PROVIDER_FIELDS,
      handler: async ({ query }) => listReply(await system.list(query)),
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/oauth2providers',
      timeTravel: true,
      summary: "List an organization's identity providers.",
      tags: TAGS,
      access: { family: FAMILY, operation: 'read' },
      request: { params: organizationPathSchema, query: listQuerySchema },
      responses: { 200: { description: 'A list of OAuth 2.0 providers.', schema: oauth2ProvidersSchema } },
      filterable: IDENTITY_PROVIDER_FIELDS,
      handler: async ({ params, query }) => listReply(await queries.list(params.organizationID, query)),
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/oauth2providers',
      summary: "Create an organization's identity provider; its client secret is kept encrypted and never shown.",
      tags: TAGS,
      access: { family: FAMILY, operation: 'create' },
      request: { params: organizationPathSchema, body: oauth2ProviderWriteSchema },
      responses: { 201: { description: 'An OAuth 2.0 provider.', schema: oauth2ProviderReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const created = await commands.create(params.organizationID, await checkedInput(body), writes.meta(caller, requestId));
        await writes.settle(created.position);
        return { status: 201, body: await readAfterWrite(params.organizationID, created.providerId) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/organizations/{organizationID}/oauth2providers/{providerID}',
      timeTravel: true,
      history: { kind: 'identityProvider', idParam: 'providerID' },
      summary: "Get an organization's identity provider (never its client secret).",
      tags: TAGS,
      access: { family: FAMILY, operation: 'read' },
      request: { params: oauth2ProviderPathSchema },
      responses: { 200: { description: 'An OAuth 2.0 provider.', schema: oauth2ProviderReadSchema } },
      handler: async ({ params }) => ({ status: 200, body: await readAfterWrite(params.organizationID, params.providerID) }),
    }),
    defineRoute({
      method: 'put',
      path: '/api/v1/organizations/{organizationID}/oauth2providers/{providerID}',
      summary: "Update an organization's identity provider; without spec.clientSecret the current secret is kept.",
      tags: TAGS,
      access: { family: FAMILY, operation: 'update' },
      request: { params: oauth2ProviderPathSchema, body: oauth2ProviderWriteSchema },
      // The seed gives this 200 no body; like the organizations' PUT, it answers with the updated provider.
      responses: { 200: { description: 'Organizational identity provider updated.', schema: oauth2ProviderReadSchema } },
      handler: async ({ params, body, caller, requestId }) => {
        const result = await commands.update(params.organizationID, params.providerID, await checkedInput(body), writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: await readAfterWrite(params.organizationID, params.providerID) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/oauth2providers/{providerID}',
      summary: "Delete an organization's identity provider.",
      tags: TAGS,
      access: { family: FAMILY, operation: 'delete' },
      request: { params: oauth2ProviderPathSchema },
      responses: { 200: { description: 'Identity provider successfully deleted.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.delete(params.organizationID, params.providerID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200 };
      },
    }),
  ];
}
