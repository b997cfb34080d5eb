import { z } from 'zod';

const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATA_DIR: z.string().min(1).default('./data'),
  /** The public base URL of this service, used as the OIDC issuer. */
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Set: events go to EventStoreDB instead of SQLite. */
  EVENTSTORE_CONNECTION_STRING: optionalString.pipe(z.string().startsWith('esdb', 'must be an esdb:// or esdb+discover:// URL').optional()),
  /** Set: read models live in MongoDB instead of memory. */
  MONGODB_URL: optionalString.pipe(z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// URL').optional()),
  /** Set: this bearer token is the platform administrator's. Unset: one is generated on first start. */
  IDENTITY_BOOTSTRAP_TOKEN: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  /** How long a write waits for the read models to apply its events. */
  PROJECTION_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /**
   * The resource kinds organizations have quotas of, as a JSON array of
   * {kind, displayName, description, default}; an organization has `default`
   * of a kind until its quota is set. Read it as Config['QUOTA_DEFAULTS'].
   */
  QUOTA_DEFAULTS: z
    .preprocess(
      (value, ctx) => {
        if (value === undefined || value === '') return undefined;
        if (typeof value !== 'string') return value;
        try {
          return JSON.parse(value);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {kind, displayName, description, default}' });
          return z.NEVER;
        }
      },
      z
        .array(
          z
            .object({
              kind: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case name of at most 63 characters'),
              displayName: z.string().min(1).max(256),
              description: z.string().max(1024),
              default: z.number().int().min(0).max(1_000_000_000),
            })
            .strict(),
        )
        .min(1)
        .max(64)
        .refine((kinds) => new Set(kinds.map((k) => k.kind)).size === kinds.length, 'kinds must be unique')
        .optional(),
    )
    .transform(
      (kinds) =>
        kinds ?? [
          { kind: 'clusters', displayName: 'Kubernetes Clusters', description: 'All Kubernetes cluster types, these consume resources (servers, GPUs) as well.', default: 5 },
          { kind: 'servers', displayName: 'Servers', description: 'All servers, whether they are part of a cluster or standalone.', default: 20 },
          { kind: 'gpus', displayName: 'GPUs', description: 'Graphics processing units attached to servers.', default: 0 },
        ],
    ),
  // [config]
});

export type Config = z.infer<typeof configSchema> & { ISSUER: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Read and validate the configuration; a bad value stops the start with a message naming it. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
    throw new ConfigError(`invalid configuration:\n${problems}`);
  }
  const config = parsed.data;
  return { ...config, ISSUER: (config.ISSUER ?? `http://localhost:${config.PORT}`).replace(/\/$/, '') };
}
