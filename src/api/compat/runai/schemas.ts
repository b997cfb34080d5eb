import { z } from 'zod';
import { COMPAT_ROLE_IDS } from '../../../domain/rbac/roles.js';

/** The shapes of seeds 000 and 003 (docs/compat.md). */

export const compatRoleSchema = z.enum(COMPAT_ROLE_IDS).meta({ id: 'Role' });
export const authEntityTypeSchema = z.enum(['regular-user', 'sso-user', 'app', 'group', 'internal-user', 'super-admin']).meta({ id: 'AuthEntityType' });
export const tenantIdSchema = z.number().int().meta({ id: 'TenantId', description: 'The id of the tenant: the organization\'s tenant number.' });

/** The seed's email pattern for POST /api/v1/users. */
export const SEED_EMAIL = /^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$/;
export const seedEmailSchema = z.string().min(5).max(254).regex(SEED_EMAIL, 'must be a valid email address');

const idSchema = z.string().min(1).max(128);

/** A plain decimal integer in the query, as the other lists read it. */
const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a decimal integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const oneOrMany = z.union([z.string().max(2048), z.array(z.string().max(2048)).max(32)]).transform((v) => (Array.isArray(v) ? v : [v]));

export const USER_SORT_FIELDS = ['username', 'createdBy', 'lastLogin', 'creationTime', 'lastUpdated', 'type'] as const;

export const usersQuerySchema = z
  .object({
    filter: oneOrMany.optional().meta({ description: 'Deprecated: filter by user attribute, e.g. runai.is_local:true.' }),
    filterBy: oneOrMany.optional().meta({
      description:
        'Filter by <field><op><value>, repeatable and comma-separated (all must hold). Operators == != <= >= =@ (contains); dates ISO 8601. Example: username=@test,lastLogin>=2024-09-24T00:00:00.00Z,isLocal==false',
    }),
    sortBy: z.enum(USER_SORT_FIELDS).optional(),
    sortOrder: z.enum(['asc', 'desc']).default('asc'),
    offset: decimal(0, 1_000_000).default(0),
    limit: decimal(1, 500).default(500),
    search: z.string().max(256).optional(),
  })
  .strict();
export type UsersQuery = z.infer<typeof usersQuerySchema>;

export const usersCountQuerySchema = usersQuerySchema.pick({ filter: true, filterBy: true, search: true }).strict();

export const compatUserSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    email: z.string(),
    entityType: authEntityTypeSchema,
    tenantId: tenantIdSchema,
    isLocal: z.boolean(),
    lastLogin: z.string().optional(),
    createdBy: z.string(),
    creationTime: z.string(),
    lastUpdated: z.string(),
    groups: z.array(z.string()),
    roles: z.array(compatRoleSchema),
    needToChangePassword: z.boolean(),
  })
  .meta({ id: 'User' });
export type CompatUser = z.infer<typeof compatUserSchema>;

export const compatUsersSchema = z.array(compatUserSchema).meta({ id: 'Users' });
export const usersCountSchema = z.object({ count: z.number().int() }).meta({ id: 'UsersCount' });

export const userCreateRequestSchema = z
  .object({
    email: seedEmailSchema,
    /** The seed's: a temporary password is always generated and answered once. */
    resetPassword: z.boolean().nullable().optional(),
    notify: z.boolean().nullable().optional(),
  })
  .strict()
  .meta({ id: 'UserCreationRequest' });

export const userCreatedSchema = z.object({ id: z.string(), username: z.string(), tempPassword: z.string() }).meta({ id: 'UserPostResponse' });
export const tempPasswordSchema = z.object({ tempPassword: z.string() }).meta({ id: 'TempPassword' });

export const userIdPathSchema = z.object({ userId: idSchema });
