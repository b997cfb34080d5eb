import type { RecordedEvent } from '../../ports/event-store.js';

/**
 * Which organization an event happened in, and which resource it is about:
 * what the audit log files each event under (issue 11). Pure: the only thing
 * it cannot see in one event is the organization of a stream whose later
 * events do not name it (an authorization code's redemption, a sign-up link),
 * which the caller remembers from the stream's earlier events and passes in.
 */
export const RESOURCE_KINDS = [
  'organization',
  'user',
  'group',
  'project',
  'serviceAccount',
  'application',
  'identityProvider',
  'quota',
  'allocation',
  'session',
  'authorizationCode',
  'loginFlow',
  'reservation',
  'platform',
  'audit',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export interface ResourceRef {
  readonly kind: ResourceKind;
  readonly id: string;
}

export interface Attribution {
  /** Null: a platform event that belongs to no organization (the bootstrap token, a throttled address). */
  readonly organizationId: string | null;
  readonly resource: ResourceRef;
}

/** Stream categories (name prefixes) and the resource kind their id names. Longest prefix first. */
const STREAM_KINDS: ReadonlyArray<readonly [prefix: string, kind: ResourceKind]> = [
  ['resource-ledger-', 'quota'],
  // An organization's sampled 403s (access.denied): filed under the organization their data names.
  ['accessdenials-', 'organization'],
  ['identityprovider-', 'identityProvider'],
  ['serviceaccount-', 'serviceAccount'],
  ['federationstate-', 'loginFlow'],
  ['organization-', 'organization'],
  ['useractivity-', 'user'],
  ['application-', 'application'],
  ['credentials-', 'user'],
  ['reservation-', 'reservation'],
  ['userlogins-', 'user'],
  ['loginaudit-', 'application'],
  ['authcode-', 'authorizationCode'],
  ['session-', 'session'],
  ['project-', 'project'],
  ['signup-', 'user'],
  ['group-', 'group'],
  ['user-', 'user'],
  ['audit-', 'audit'],
];

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The resource an event is about: its stream's, or for the ledger the quota set or allocation it changed. */
export function resourceOf(event: Pick<RecordedEvent, 'streamName' | 'type' | 'data'>): ResourceRef {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const allocationId = text(data['allocationId']);
  if (allocationId !== undefined) return { kind: 'allocation', id: allocationId };
  const sessionId = text(data['sessionId']);
  if (event.streamName.startsWith('session-') && sessionId !== undefined) return { kind: 'session', id: sessionId };
  for (const [prefix, kind] of STREAM_KINDS) {
    if (!event.streamName.startsWith(prefix)) continue;
    // The ledger's quota set is one per organization: its id is the organization's.
    return { kind, id: event.streamName.slice(prefix.length) };
  }
  return { kind: 'platform', id: event.streamName };
}

/**
 * The organization of an event: the one its data names, else the one its
 * stream was attributed to before (`streamOrganization`), else none.
 */
export function attribute(event: Pick<RecordedEvent, 'streamName' | 'type' | 'data'>, streamOrganization?: string | null): Attribution {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const organizationId = text(data['organizationId']) ?? streamOrganization ?? null;
  return { organizationId, resource: resourceOf(event) };
}
