/**
 * Which fields of which events hold a person's data, and whose person they
 * belong to (docs/crypto-shredding.md). The event store encrypts exactly these
 * fields under that person's key before an event is stored (and hashed into
 * the ledger); erasing the person destroys the key, and the fields then read
 * `"[erased]"`. Declarative on purpose: a test walks every registered event
 * schema and fails on a field named like personal data (email, name, username,
 * subject, claims, description, address, agent) that is in neither list below,
 * so a new event cannot forget to say.
 *
 * Paths are dotted; `[]` stands for every element of an array.
 */
export interface PersonalFields {
  /** The path of the field that holds the person's id (a user id). */
  readonly person: string;
  /** The paths of the fields that are the person's data. */
  readonly fields: readonly string[];
}

/** What an erased field reads as. */
export const ERASED = '[erased]';

/** The accounts API's profile (docs/accounts.md): names and the LDAP principal are the person's; the API client id is not. */
const PROFILE_FIELDS = ['profile.firstName', 'profile.lastName', 'profile.ldapPrincipal'];
const userState: PersonalFields = { person: 'userId', fields: ['name', 'description', 'subject', 'loginName', 'tags[].name', 'tags[].value', 'identities[].subject', ...PROFILE_FIELDS] };
const login: PersonalFields = { person: 'userId', fields: ['sourceAddress', 'userAgent'] };

export const PERSONAL_DATA: Readonly<Record<string, PersonalFields>> = {
  'user.created': userState,
  'user.updated': userState,
  'user.deleted': { person: 'userId', fields: ['subject'] },
  'user.identity.linked': { person: 'userId', fields: ['identity.subject'] },
  'user.identity.unlinked': { person: 'userId', fields: ['subject'] },
  'user.profile.changed': { person: 'userId', fields: PROFILE_FIELDS },
  'user.login.succeeded': login,
  'user.login.failed': login,
  // An existing account slowed down is named (docs/audit-roles.md): its address is sealed like a failed login's; unnamed ones stay in clear.
  'login.throttled': { person: 'userId', fields: ['sourceAddress'] },
};

/**
 * The actor of an event (metadata.actor.subject) is a user's email when a user
 * acted: it is encrypted under that user's key, named by metadata.actor.id
 * (set for users since this version). Actors of other kinds (the platform
 * administrator, service accounts, applications, the system) are not people.
 */
export const ACTOR_SUBJECT_PATH = 'metadata.actor.subject';

/**
 * Fields named like personal data that are not a person's, and why. A field
 * here is stored in clear.
 */
export const NOT_PERSONAL: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    ['organization', 'group', 'project', 'serviceaccount', 'application', 'identity_provider', 'allocation'].flatMap((kind) =>
      ['created', 'updated', 'deleted'].flatMap((verb) =>
        ['name', 'description', 'tags[].name', 'tags[].value'].map((path) => [`${kind}.${verb}:${path}`, 'names and labels of resources, not of people']),
      ),
    ),
  ),
  'resource_ledger.opened:name': 'the organization name of a quota ledger',
  'organization.password_policy.changed:policy.disallow_username_as_password': 'a yes/no rule of the password policy, not a name',
  'resource_ledger.project_opened:name': 'a project name',
  'reservation.claimed:value': 'a resource name, or for user subjects and federated identities a keyed hash (HMAC-SHA-256), never the value',
  'reservation.released:value': 'as reservation.claimed',
  'session.started:subjectId': 'a user id or a client id',
  'session.refreshed:subjectId': 'a user id or a client id',
  'session.revoked:subjectId': 'a user id or a client id',
  'session.started:subjectKind': 'user or application',
  'session.refreshed:subjectKind': 'user or application',
  'session.revoked:subjectKind': 'user or application',
  'application.created:tlsClientAuthSubjectDN': "an application's certificate (RFC 8705), the identity of a machine client",
  'application.created:tlsClientAuthSanEmail': "an application's certificate (RFC 8705): an administrator must not register a person's address there",
  'application.updated:tlsClientAuthSubjectDN': 'as application.created',
  'application.updated:tlsClientAuthSanEmail': 'as application.created',
  'login.flow.rejected:sourceAddress': 'sampled refusals nobody is known for (the account may not exist): kept for the security record, see docs/crypto-shredding.md',
  'client.authentication.failed:sourceAddress': "a client's (a machine's) address at the token endpoint; nobody is known for it",
};

/** One step of a path: a key, and whether `[]` follows it (every element of the array there). */
interface Segment {
  readonly key: string;
  readonly array: boolean;
}

/**
 * Paths parsed once: sealing walks about ten of them for every event appended,
 * and splitting them each time was most of sealing's cost (docs/benchmarks.md,
 * Ledger). The paths come from this file's map (and tests): a small fixed set.
 */
const parsedPaths = new Map<string, readonly Segment[]>();
function segmentsOf(path: string): readonly Segment[] {
  let segments = parsedPaths.get(path);
  if (!segments) {
    segments = path.split('.').map((segment) => (segment.endsWith('[]') ? { key: segment.slice(0, -2), array: true } : { key: segment, array: false }));
    parsedPaths.set(path, segments);
  }
  return segments;
}

type Visit = (holder: Record<string, unknown> | unknown[], key: string | number) => void;

/** The paths of an object where a dotted path with `[]` segments leads (each string found there). */
export function forEachAt(value: unknown, path: string, visit: Visit): void {
  walk(value, segmentsOf(path), 0, visit);
}

function walk(node: unknown, segments: readonly Segment[], index: number, visit: Visit): void {
  if (node === null || typeof node !== 'object') return;
  const { key, array } = segments[index]!;
  const child = (node as Record<string, unknown>)[key];
  const last = index === segments.length - 1;
  if (array) {
    if (!Array.isArray(child)) return;
    for (let i = 0; i < child.length; i += 1) {
      if (last) visit(child, i);
      else walk(child[i], segments, index + 1, visit);
    }
  } else if (last) {
    if (Object.hasOwn(node, key)) visit(node as Record<string, unknown>, key);
  } else {
    walk(child, segments, index + 1, visit);
  }
}
