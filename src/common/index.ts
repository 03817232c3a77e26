export {
  ERROR_CODES,
  CapstanError,
  isCapstanError,
  formatDiagnostic,
  diagnostic,
} from './errors.js';
export type { ErrorCode, Diagnostic, SourceLocation, CapstanErrorOptions } from './errors.js';
export { createLogger, silentLogger, redactUrl, REDACT_PATHS } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { tightenModes, tightenDataDir, logModeChanges } from './private-files.js';
export type { ModeChange } from './private-files.js';
export { systemClock, VirtualClock, sleep } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
