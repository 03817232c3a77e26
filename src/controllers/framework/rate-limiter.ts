// Per-key exponential backoff for failed reconciles, as client-go's
// ItemExponentialFailureRateLimiter (the default controller limiter: 5 ms doubling to 1000 s).

export interface RateLimiter {
  /** How long to wait before retrying `key`; each call counts one more failure. */
  when(key: string): number;
  /** Failures counted for `key` since it last succeeded. */
  failures(key: string): number;
  /** The key succeeded: start over from the base delay next time. */
  forget(key: string): void;
}

export interface ExponentialBackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

export const DEFAULT_BACKOFF_BASE_MS = 5;
export const DEFAULT_BACKOFF_MAX_MS = 1000 * 1000;

export class ExponentialBackoff implements RateLimiter {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly counts = new Map<string, number>();

  constructor(options: ExponentialBackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  }

  when(key: string): number {
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    // 2^n overflows to Infinity long after the cap; min() keeps it at maxMs.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  failures(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  forget(key: string): void {
    this.counts.delete(key);
  }
}
