import { z } from 'zod';
import { descriptionSchema, resourceNameSchema, tagSchema } from '../shared/resource.js';

/**
 * Created and updated carry the group's whole state, so that any reader (the
 * users and projects projections, access control) can take a group event on
 * its own without folding the stream.
 */
const groupState = {
  groupId: z.string(),
  organizationId: z.string(),
  name: resourceNameSchema,
  description: descriptionSchema.optional(),
  tags: z.array(tagSchema),
  roleIDs: z.array(z.string()),
  userIDs: z.array(z.string()),
  serviceAccountIDs: z.array(z.string()),
};

export const groupEventSchemas = {
  'group.created': z.object(groupState),
  'group.updated': z.object(groupState),
  'group.deleted': z.object({ groupId: z.string(), organizationId: z.string(), name: resourceNameSchema }),
} as const;

type Schemas = typeof groupEventSchemas;
export type GroupEvent = {
  [Type in keyof Schemas]: { type: Type; data: z.infer<Schemas[Type]> };
}[keyof Schemas];

export const groupStream = (groupId: string): string => `group-${groupId}`;
