import type { Request } from 'express';
import { z } from 'zod';
import { SIGNUP_PATH, type SignupCommands } from '../../commands/signup/handlers.js';
import { SignupLinkRefused, type SignupRefusal } from '../../domain/signup/decider.js';
import type { ApplicationQueries } from '../../projections/applications/queries.js';
import type { UserQueries } from '../../projections/users/queries.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { ConflictHttpError, NotFoundHttpError } from '../http/errors.js';
import { defineRoute, type RouteReply } from '../http/route.js';
import { htmlError, htmlPage, redirectWithParameters } from '../oidc/shared.js';
import { errorPage } from '../oidc/pages.js';
import { userPathSchema } from '../users/schemas.js';
import type { WriteContext } from '../write-context.js';

/** What the person who opened the link reads; the error code is what an application's errorURI receives. */
const REFUSALS: Record<SignupRefusal, { error: string; message: string }> = {
  unknown: { error: 'invalid_link', message: 'This sign-up link is not valid. Check that you opened the whole link from the mail.' },
  expired: { error: 'expired_link', message: 'This sign-up link has expired. Ask your administrator to send a new one.' },
  superseded: { error: 'superseded_link', message: 'A newer sign-up mail was sent after this one. Open the link in the newest mail.' },
  used: { error: 'used_link', message: 'This sign-up link was already used: your account is active. Sign in from the application.' },
  cancelled: { error: 'cancelled', message: 'This sign-up was cancelled by your administrator.' },
};

const signupQuerySchema = z.object({
  token: z.string().max(256).optional(),
  clientID: z.string().max(256).optional(),
});

/** `GET /api/v1/signup`: the link in the sign-up mail; and an administrator's "send the mail again". */
export function signupRoutes(deps: {
  signups: SignupCommands;
  clients: Pick<ApplicationQueries, 'client'>;
  users: Pick<UserQueries, 'get'>;
  writes: WriteContext;
  throttle: Pick<LoginThrottle, 'sourceOf' | 'request'>;
}) {
  const { signups, clients, users, writes, throttle } = deps;

  const systemMeta = (req: Request) =>
    writes.meta({ subject: 'signup', kind: 'system', platformAdministrator: false }, (req as Request & { id: string }).id);

  return [
    defineRoute({
      method: 'get',
      path: SIGNUP_PATH,
      summary: 'Complete a sign-up: the link mailed to a new user activates the account, then redirects to the application.',
      tags: ['signup'],
      access: 'public',
      request: { query: signupQuerySchema },
      responses: {
        200: { description: 'The account is active (the application has no homeURI).', html: true },
        302: { description: "To the application's homeURI, or with error and error_description to its errorURI." },
        400: { description: 'A link that is not valid, expired, superseded or used (the application has no errorURI).', html: true },
        429: { description: 'Too many requests from this address.', html: true },
      },
      handler: async ({ query, req }): Promise<RouteReply> => {
        const rate = throttle.request(throttle.sourceOf(req));
        if (!rate.allowed) {
          return { status: 429, html: errorPage('Too many requests', 'Try again in a moment.'), headers: { 'Retry-After': String(rate.retryAfterSeconds) } };
        }
        // The application the link names: only its registered pages are ever redirected to.
        const named = query.clientID ? await clients.client(query.clientID) : undefined;
        if (query.clientID && !named) return htmlError(400, 'Unknown application', 'The application this link belongs to is not known.');
        try {
          const done = await signups.complete(query.token ?? '', systemMeta(req));
          await writes.settle(done.position);
          // The application recorded when the sign-up started wins over the one the link names.
          const client = (done.clientId !== undefined ? await clients.client(done.clientId) : undefined) ?? named;
          if (client?.homeURI) return { status: 302, redirect: client.homeURI, headers: { 'Cache-Control': 'no-store' } };
          return htmlPage(errorPage('Account active', 'Your email address is confirmed and your account is active. You can sign in now.'));
        } catch (error) {
          if (!(error instanceof SignupLinkRefused)) throw error;
          const refusal = REFUSALS[error.refusal];
          if (named?.errorURI) return redirectWithParameters(named.errorURI, { error: refusal.error, error_description: refusal.message });
          return htmlError(400, 'Sign-up link not valid', refusal.message);
        }
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/v1/organizations/{organizationID}/users/{userID}/signup',
      summary: "Mail a pending user a new sign-up link; the older links stop working.",
      tags: ['users'],
      access: { family: 'identity:users', operation: 'update' },
      request: { params: userPathSchema },
      responses: {
        202: { description: 'A new link was mailed.' },
        409: { description: 'The user is not pending a sign-up.' },
      },
      handler: async ({ params, caller, requestId }) => {
        const user = await users.get(params.organizationID, params.userID);
        if (!user) throw new NotFoundHttpError(`user ${params.userID} not found`);
        if (user.spec.state !== 'pending') throw new ConflictHttpError(`user ${params.userID} is not pending: only a pending user signs up`);
        const meta = writes.meta(caller, requestId);
        // A user made pending by hand, or created before sign-up was on, gets a sign-up now.
        await signups.start({ userId: params.userID, organizationId: params.organizationID, ...(caller.clientId !== undefined && { clientId: caller.clientId }) }, meta);
        const outcome = await signups.sendLink(params.userID, meta, { resend: true });
        if (outcome === 'not_pending') throw new ConflictHttpError(`user ${params.userID} is not pending a sign-up`);
        return { status: 202 };
      },
    }),
  ];
}
