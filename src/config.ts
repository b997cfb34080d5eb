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
