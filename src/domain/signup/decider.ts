import { timingSafeEqual } from 'node:crypto';
import { assertNever, type Decider } from '../shared/decider.js';
import { ConflictError, DomainError } from '../shared/errors.js';
import type { SignupEvent } from './events.js';

export type SignupState =
  | { readonly status: 'none' }
  | {
      readonly status: 'pending';
      readonly userId: string;
      readonly organizationId: string;
      readonly clientId?: string;
      /** The newest link, if one was minted. */
      readonly link?: { readonly generation: number; readonly tokenSha256: string; readonly expiresAt: string; readonly mailed: boolean };
    }
  | { readonly status: 'completed'; readonly userId: string; readonly clientId?: string }
  | { readonly status: 'cancelled'; readonly userId: string; readonly clientId?: string };

/** Why a link does not activate the account. The page says which, in words a person understands. */
export type SignupRefusal = 'unknown' | 'expired' | 'superseded' | 'used' | 'cancelled';

export class SignupLinkRefused extends DomainError {
  readonly kind = 'invalid' as const;
  override readonly name = 'SignupLinkRefused';
  constructor(readonly refusal: SignupRefusal) {
    super(`the sign-up link is not valid (${refusal})`);
  }
}

export const signupDecider: Decider<SignupState, SignupEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve(state, event) {
    switch (event.type) {
      case 'signup.started':
        return { status: 'pending', ...event.data };
      case 'signup.link.issued': {
        if (state.status !== 'pending') return state;
        const { generation, tokenSha256, expiresAt } = event.data;
        return { ...state, link: { generation, tokenSha256, expiresAt, mailed: false } };
      }
      case 'signup.link.mailed':
        if (state.status !== 'pending' || state.link?.generation !== event.data.generation) return state;
        return { ...state, link: { ...state.link, mailed: true } };
      case 'signup.completed':
      case 'signup.cancelled': {
        const clientId = state.status === 'none' ? undefined : state.clientId;
        const status = event.type === 'signup.completed' ? ('completed' as const) : ('cancelled' as const);
        return { status, userId: event.data.userId, ...(clientId !== undefined && { clientId }) };
      }
      default:
        return assertNever(event);
    }
  },
};

export function startSignup(state: SignupState, command: { userId: string; organizationId: string; clientId?: string }): SignupEvent[] {
  if (state.status === 'pending') return []; // already under way: idempotent
  if (state.status !== 'none') throw new ConflictError(`the sign-up of user ${command.userId} has ended`);
  return [{ type: 'signup.started', data: { ...command } }];
}

/** Mint the next link (the caller made the token; only its digest is recorded). A new link supersedes the older ones. */
export function issueLink(state: SignupState, command: { tokenSha256: string; expiresAt: string }): SignupEvent[] {
  if (state.status !== 'pending') throw new ConflictError('the sign-up is not pending');
  const generation = (state.link?.generation ?? 0) + 1;
  return [{ type: 'signup.link.issued', data: { userId: state.userId, generation, ...command } }];
}

export function recordMailed(state: SignupState, command: { generation: number }): SignupEvent[] {
  if (state.status !== 'pending' || state.link?.generation !== command.generation || state.link.mailed) return [];
  return [{ type: 'signup.link.mailed', data: { userId: state.userId, generation: command.generation } }];
}

const sameDigest = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

/** Open a link: its generation must be the newest, its digest match, and its day not past. */
export function completeSignup(state: SignupState, command: { generation: number; tokenSha256: string; now: Date }): SignupEvent[] {
  if (state.status === 'none') throw new SignupLinkRefused('unknown');
  if (state.status === 'completed') throw new SignupLinkRefused('used');
  if (state.status === 'cancelled') throw new SignupLinkRefused('cancelled');
  const link = state.link;
  if (!link || command.generation > link.generation) throw new SignupLinkRefused('unknown');
  if (command.generation < link.generation) throw new SignupLinkRefused('superseded');
  if (!sameDigest(link.tokenSha256, command.tokenSha256)) throw new SignupLinkRefused('unknown');
  if (command.now.getTime() >= Date.parse(link.expiresAt)) throw new SignupLinkRefused('expired');
  return [{ type: 'signup.completed', data: { userId: state.userId, organizationId: state.organizationId } }];
}

export function cancelSignup(state: SignupState): SignupEvent[] {
  return state.status === 'pending' ? [{ type: 'signup.cancelled', data: { userId: state.userId } }] : [];
}
