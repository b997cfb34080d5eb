import { z } from 'zod';
import { BUILT_IN_ROLES } from '../../domain/rbac/roles.js';
import { organizationPathSchema, organizationScopedResourceReadMetadataSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';


const idSchema = z.string().min(1).max(128);
const idListSchema = z.array(idSchema).max(1000);

const groupSpecWriteSchema = z
  .object({
    roleIDs: z
      .array(idSchema)
      .max(64)
      .meta({ description: `Built-in roles: ${BUILT_IN_ROLES.filter((role) => !role.protected).map((role) => role.id).join(', ')} (GET .../roles lists them).` }),
    userIDs: idListSchema.default([]),
    serviceAccountIDs: idListSchema.default([]),
  })
  .strict()
  .meta({ id: 'groupSpec' });

export const groupWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: groupSpecWriteSchema })
  .strict()
  .meta({ id: 'groupWrite' });
export type GroupWrite = z.infer<typeof groupWriteSchema>;

export const groupReadSchema = z
  .object({
    metadata: organizationScopedResourceReadMetadataSchema,
    spec: z.object({ roleIDs: z.array(z.string()), userIDs: z.array(z.string()), serviceAccountIDs: z.array(z.string()) }),
  })
  .meta({ id: 'groupRead' });

export const groupsSchema = z.array(groupReadSchema).meta({ id: 'groups' });

export const groupPathSchema = organizationPathSchema.extend({ groupid: idSchema });
