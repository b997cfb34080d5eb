import { z } from 'zod';
import { MAX_PASSWORD_LENGTH } from '../../commands/credentials/handlers.js';
import { subjectSchema, USER_STATES } from '../../domain/user/events.js';
import { organizationScopedResourceReadMetadataSchema } from '../organizations/schemas.js';
import { organizationPathSchema, resourceWriteMetadataSchema } from '../organizations/schemas.js';

export const userStateSchema = z.enum(USER_STATES).meta({ id: 'userState' });

const idSchema = z.string().min(1).max(128);

const userSpecWriteSchema = z
  .object({
    subject: subjectSchema,
    state: userStateSchema,
    // Omitted on a PUT, the user's memberships stay as they are.
    groupIDs: z.array(idSchema).max(1000).optional(),
  })
  .strict()
  .meta({ id: 'userSpec' });

export const userWriteSchema = z
  .object({ metadata: resourceWriteMetadataSchema, spec: userSpecWriteSchema })
  .strict()
  .meta({ id: 'userWrite' });
export type UserWrite = z.infer<typeof userWriteSchema>;

/** A create may also set a local user's first password: write-only, never read back, never in an event. */
export const userCreateSchema = z
  .object({
    metadata: resourceWriteMetadataSchema,
    spec: userSpecWriteSchema.extend({ password: z.string().min(1).max(MAX_PASSWORD_LENGTH).optional() }).strict(),
  })
  .strict()
  .meta({ id: 'userCreate' });

export const userReadSchema = z
  .object({
    metadata: organizationScopedResourceReadMetadataSchema,
    spec: z.object({ subject: z.string(), state: userStateSchema, groupIDs: z.array(z.string()) }),
    status: z
      .object({
        lastActive: z.string().optional(),
        /** Federated identities linked to the user (read-only; an administrator can unlink one). */
        identities: z
          .array(
            z
              .object({ id: z.string(), issuer: z.string(), subject: z.string(), providerID: z.string(), linkedAt: z.string() })
              .meta({ id: 'linkedIdentity' }),
          )
          .optional(),
      })
      .meta({ id: 'userStatus' }),
  })
  .meta({ id: 'userRead' });

export const usersSchema = z.array(userReadSchema).meta({ id: 'users' });

export const userPathSchema = organizationPathSchema.extend({ userID: idSchema });
