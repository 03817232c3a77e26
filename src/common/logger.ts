import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field paths pino blanks out wherever they appear: tokens, passwords and credentials. */
export const REDACT_PATHS = [
  'token',
  'password',
  'authorization',
  'secret',
  '*.token',
  '*.password',
  '*.authorization',
  '*.secret',
  'headers.authorization',
  'req.headers.authorization',
  'auth.password',
  'auth.username',
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; tests pass an in-memory stream. Defaults to stderr. */
  destination?: DestinationStream;
}

/** The one logger; stages take `logger.child({ component })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.CAPSTAN_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
    },
    options.destination ?? pino.destination(2),
  );
}

/** A logger that drops everything, for pure code paths and tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Remove `user:password@` from a URL before it is logged or shown. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1[redacted]@');
}
