import { pino, type Logger } from 'pino';

/** Paths that may carry credentials: never written to the log. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  // Redirects back to OAuth clients carry authorization codes.
  'res.headers.location',
  '*.password',
  '*.clientSecret',
  '*.accessToken',
  '*.refresh_token',
  '*.access_token',
  '*.token',
];

export const createLogger = (level: string): Logger =>
  pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
