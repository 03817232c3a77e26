// Retries of failed deliveries: the controller framework's per-key exponential backoff with
// "equal jitter" on top (half the delay fixed, half random), and a bound on attempts.
import { ExponentialBackoff, type RateLimiter } from '../controllers/index.js';

export interface DeliveryRetryOptions {
  /** First retry delay before jitter (default 1 s). */
  baseMs?: number;
  /** Cap before jitter (default 60 s). */
  maxMs?: number;
  /** Attempts in all, the first included (default 5). */
  maxAttempts?: number;
  /** In [0, 1); injected for tests. */
  random?: () => number;
}

export const DEFAULT_DELIVERY_RETRY = Object.freeze({ baseMs: 1000, maxMs: 60_000, maxAttempts: 5 });

/** A jittered delay in [d/2, d) for the backoff's delay d. */
export function jittered(delayMs: number, random: () => number): number {
  return Math.floor(delayMs / 2 + (delayMs / 2) * random());
}

/** The work-queue rate limiter of the notify controller. */
export class JitteredBackoff implements RateLimiter {
  private readonly inner: ExponentialBackoff;
  private readonly random: () => number;

  constructor(options: DeliveryRetryOptions = {}) {
    this.inner = new ExponentialBackoff({ baseMs: options.baseMs ?? DEFAULT_DELIVERY_RETRY.baseMs, maxMs: options.maxMs ?? DEFAULT_DELIVERY_RETRY.maxMs });
    this.random = options.random ?? Math.random;
  }

  when(key: string): number {
    return jittered(this.inner.when(key), this.random);
  }

  failures(key: string): number {
    return this.inner.failures(key);
  }

  forget(key: string): void {
    this.inner.forget(key);
  }
}

/** The waits between the attempts of one delivery that keeps failing (maxAttempts - 1 of them). */
export function retrySchedule(options: DeliveryRetryOptions = {}): number[] {
  const limiter = new JitteredBackoff(options);
  const n = (options.maxAttempts ?? DEFAULT_DELIVERY_RETRY.maxAttempts) - 1;
  return Array.from({ length: Math.max(0, n) }, () => limiter.when('delivery'));
}
