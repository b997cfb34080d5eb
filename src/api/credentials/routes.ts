import { z } from 'zod';
import type { CredentialCommands } from '../../commands/credentials/handlers.js';
import { MAX_PASSWORD_LENGTH, WrongCurrentPasswordError } from '../../commands/credentials/handlers.js';
import type { LoginFlowRejections } from '../../commands/login-flow/rejections.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { UserQueries } from '../../projections/users/queries.js';
import { ForbiddenHttpError, NotFoundHttpError, TooManyRequestsError } from '../http/errors.js';
import { defineRoute } from '../http/route.js';
import { organizationPathSchema } from '../organizations/schemas.js';
import type { SessionEnder } from '../../processes/session-revocation.js';
import type { WriteContext } from '../write-context.js';

const userPasswordPathSchema = organizationPathSchema.extend({ userID: z.string().min(1).max(128) });
const tempPasswordSchema = z.object({ tempPassword: z.string() }).meta({ id: 'tempPassword' });
const ownPasswordChangeSchema = z
  .object({ currentPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH), newPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH) })
  .strict()
  .meta({ id: 'passwordChange' });

export function credentialRoutes(deps: {
  passwords: CredentialCommands;
  users: UserQueries;
  writes: WriteContext;
  sessions: Pick<SessionEnder, 'ofUser'>;
  /** Wrong current passwords slow down the caller's source; they never lock the account. */
  throttle: LoginThrottle;
  audit: LoginFlowRejections;
}) {
  const { passwords, users, writes, sessions, throttle, audit } = deps;
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/users/{userID}/password',
      oneTimeSecret: true,
      summary: "Reset a user's password: answers a temporary one, once; the user must choose a new one at the next login.",
      tags: ['users'],
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userPasswordPathSchema },
      responses: { 200: { description: 'The temporary password.', schema: tempPasswordSchema } },
      handler: async ({ params, caller, requestId }) => {
        const user = await users.get(params.organizationID, params.userID);
        if (!user) throw new NotFoundHttpError(`user ${params.userID} not found`);
        const meta = writes.meta(caller, requestId);
        // Made up to satisfy the organization's password policy; shown once, and only good until the user picks their own.
        const { tempPassword, position } = await passwords.setTemporaryPassword({ userId: params.userID, organizationId: params.organizationID }, meta);
        // Whoever held the old password is signed out everywhere before the answer.
        await writes.settle((await sessions.ofUser(params.userID, meta, 'password_reset')) ?? position);
        return { status: 200, body: { tempPassword }, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/me/password',
      summary: 'A signed-in user changes their own password.',
      tags: ['users'],
      access: 'authenticated',
      request: { body: ownPasswordChangeSchema },
      responses: { 204: { description: 'Changed.' } },
      handler: async ({ body, caller, requestId, req }) => {
        if (caller.kind !== 'user' || !caller.principalId || !caller.organizationId) {
          throw new ForbiddenHttpError('only a signed-in user has a password to change');
        }
        const meta = writes.meta(caller, requestId);
        const source = throttle.sourceOf(req);
        const account = `user\u0000${caller.principalId}`;
        const verdict = ((rate) => (rate.allowed ? throttle.attempt(account, source) : rate))(throttle.request(source));
        if (!verdict.allowed) {
          // The caller's own account: named when a delay slows it (not for its address's rate).
          const named = verdict.limit === 'source_rate' ? {} : { userId: caller.principalId, organizationId: caller.organizationId };
          await audit.throttled({ limit: verdict.limit, sourceAddress: source, ...named }, meta);
          throw new TooManyRequestsError(verdict.retryAfterSeconds, 'too many attempts to change the password; try again later');
        }
        let position;
        try {
          position = await passwords.changeOwnPassword(
            { userId: caller.principalId, organizationId: caller.organizationId },
            body.currentPassword,
            body.newPassword,
            meta,
            caller.sessionId,
            { key: source },
          );
        } catch (error) {
          if (error instanceof WrongCurrentPasswordError) throttle.failed(account, source, (await passwords.policyOf(caller.organizationId)).maximum_password_attempts);
          throw error;
        }
        throttle.succeeded(account, source);
        // Every other session of the user ends; the one this request came from stays.
        const ended = await sessions.ofUser(caller.principalId, meta, 'password_changed', { ...(caller.sessionId !== undefined && { keepSessionId: caller.sessionId }) });
        await writes.settle(ended ?? position);
        return { status: 204 };
      },
    }),
  ];
}
