import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

/**
 * A group's events never grow with the group. Created and updated carry only
 * the group's own details (name, description, tags); every change of its
 * members and roles is an event of its own, one per member or role:
 * `group.user.added`, `group.user.removed`, `group.service_account.added`,
 * `group.service_account.removed`, `group.role.added`, `group.role.removed`.
 * A PUT with whole lists appends the difference.
 *
 * Every group event carries groupId and organizationId, so a reader can take
 * any of them on its own (the project guard reads only a stream's newest one).
 *
 * Version 1 of created and updated carried the group's whole lists (roleIDs,
 * userIDs, serviceAccountIDs) at the top level. The upcasters
 * (src/domain/upcasting.ts) move them under `members`: an event that has
 * `members` states the group's whole membership (readers set their lists from
 * it, and it opens the stream for a load). Version 2 events never carry it.
 */
const groupDetails = {
  groupId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
};

/** The whole lists, as version 1 wrote them: only in upcast events. */
const wholeMembership = z.object({
  roleIDs: z.array(z.string()),
  userIDs: z.array(z.string()),
  serviceAccountIDs: z.array(z.string()),
});

const withDetails = z.object({ ...groupDetails, members: wholeMembership.optional() });
const scope = { groupId: z.string(), organizationId: z.string() };
const userChange = z.object({ ...scope, userId: z.string() });
const serviceAccountChange = z.object({ ...scope, serviceAccountId: z.string() });
const roleChange = z.object({ ...scope, roleId: z.string() });

export const groupEventSchemas = {
  'group.created': withDetails,
  'group.updated': withDetails,
  'group.deleted': z.object({ groupId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
  'group.user.added': userChange,
  'group.user.removed': userChange,
  'group.service_account.added': serviceAccountChange,
  'group.service_account.removed': serviceAccountChange,
  'group.role.added': roleChange,
  'group.role.removed': roleChange,
} as const;

type Schemas = typeof groupEventSchemas;
export type GroupEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

/** Every group event type (the project guard reads a stream's newest one of these). */
export const GROUP_EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(groupEventSchemas));

/**
 * Version 1 of group.created and group.updated (whole lists at the top level)
 * to version 2 (details; the lists, when present, under `members`).
 */
export function upcastGroupDetailsV1(data: unknown): unknown {
  if (data === null || typeof data !== 'object') throw new TypeError('group event data is not an object');
  const { roleIDs, userIDs, serviceAccountIDs, ...details } = data as Record<string, unknown>;
  return { ...details, members: { roleIDs, userIDs, serviceAccountIDs } };
}

export const groupStream = (groupId: string): string => `group-${groupId}`;
