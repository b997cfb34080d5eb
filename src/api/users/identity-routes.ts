import type { UserCommands } from '../../commands/user/handlers.js';
import { z } from 'zod';
import { defineRoute } from '../http/route.js';
import type { WriteContext } from '../write-context.js';
import { userPathSchema } from './schemas.js';

const identityPathSchema = userPathSchema.extend({ identityID: z.string().min(1).max(128) });

/**
 * A user's linked federated identities are read-only on the user
 * (status.identities); an administrator can unlink one. The identity then
 * signs in as nobody until a login links it again (by verified email).
 */
export function userIdentityRoutes(deps: { readonly commands: Pick<UserCommands, 'unlinkIdentity'>; readonly writes: WriteContext }) {
  const { commands, writes } = deps;
  return [
    defineRoute({
      method: 'delete',
      path: '/api/v1/organizations/{organizationID}/users/{userID}/identities/{identityID}',
      summary: "Unlink a federated identity from a user (status.identities[].id).",
      tags: ['users'],
      // Whoever may update the user may unlink its identities.
      access: { family: 'identity:users', operation: 'update' },
      request: { params: identityPathSchema },
      responses: { 200: { description: 'The identity is unlinked.' } },
      handler: async ({ params, caller, requestId }) => {
        const result = await commands.unlinkIdentity(params.organizationID, params.userID, params.identityID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200 };
      },
    }),
  ];
}
