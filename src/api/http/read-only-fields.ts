/**
 * What a seed 004 resource reads with but nobody writes: its status and the
 * metadata the service keeps. A client that GETs a resource and PUTs the same
 * body back sends them; a PUT accepts and ignores them (their values are not
 * checked), while any other unknown key is still a 400 from the strict write schema.
 */
export const READ_ONLY_METADATA = [
  'id',
  'creationTime',
  'createdBy',
  'modifiedTime',
  'modifiedBy',
  'deletionTime',
  'provisioningStatus',
  'healthStatus',
  'organizationId',
  'projectId',
  'tenantId',
] as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The body of a PUT without the read-only fields of a {metadata, spec} resource; any other body as it is. */
export function withoutReadOnlyFields(body: unknown): unknown {
  if (!isObject(body) || !isObject(body.metadata)) return body;
  const { status: _status, ...rest } = body;
  const metadata = { ...body.metadata };
  for (const key of READ_ONLY_METADATA) delete metadata[key];
  return { ...rest, metadata };
}
