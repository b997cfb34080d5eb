import { z } from 'zod';
import type { UserErasure } from '../../commands/user/erasure.js';
import { defineRoute } from '../http/route.js';
import type { WriteContext } from '../write-context.js';
import { userPathSchema } from './schemas.js';

export const userErasureSchema = z.object({
  userID: z.string(),
  organizationID: z.string(),
  /** Always true once the call answers: the user's data key is destroyed. */
  erased: z.literal(true),
  /** False when the user had been erased before (the call is idempotent). */
  erasedNow: z.boolean(),
});

/**
 * Erasure (GDPR art. 17, docs/crypto-shredding.md): the one way personal data
 * leaves the service. No endpoint removes or rewrites events; this one deletes
 * the user if needed, destroys the key its data was sealed under, and the log
 * reads `[erased]` in its place while every ledger proof still verifies.
 */
export function userErasureRoutes(deps: { readonly erasure: Pick<UserErasure, 'erase'>; readonly writes: WriteContext }) {
  const { erasure, writes } = deps;
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/users/{userID}/erasure',
      summary: "Erase a user's personal data (GDPR art. 17): delete the user if it exists and destroy its data key. Idempotent.",
      tags: ['users'],
      // Whoever may delete the user may erase it.
      access: { family: 'identity:users', operation: 'delete' },
      request: { params: userPathSchema },
      responses: { 200: { description: 'The user is erased.', schema: userErasureSchema } },
      handler: async ({ params, caller, requestId }) => {
        const result = await erasure.erase(params.organizationID, params.userID, writes.meta(caller, requestId));
        await writes.settle(result.position);
        return { status: 200, body: { userID: params.userID, organizationID: params.organizationID, erased: true as const, erasedNow: result.erasedNow } };
      },
    }),
  ];
}
