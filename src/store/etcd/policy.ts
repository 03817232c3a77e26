// Fault-handling policies for the etcd3 client (its `faultHandling` option). etcd3 routes
// every unary call through `global.execute(fn)`, and inside it through the chosen host's
// `host(endpoint).execute(fn)`; streams (watch, lease keep-alive) only go through the host
// policy. etcd3 calls nothing but `execute` on either, so these small classes stand in for
// cockatiel's policies (a dependency of etcd3, not of ours) and we decide exactly which
// failures are retried.

import type { IOptions } from 'etcd3';
import { isTransportError, neverSent } from './errors.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
export type GlobalPolicy = NonNullable<FaultHandling['global']>;
export type HostPolicy = ReturnType<NonNullable<FaultHandling['host']>>;

interface Executor {
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>;
}

const never = new AbortController().signal;

// etcd3 types the slots with cockatiel's IPolicy, whose event members it never uses.
function asPolicy<P>(executor: Executor): P {
  return executor as unknown as P;
}

/**
 * For writes: repeats a call only when its request never left this process (no connection,
 * or a breaker refused the member), and each repeat goes to another member. A request that may
 * have reached etcd is never sent again.
 */
export function writePolicy(options: Omit<RetryOptions, 'retryable'>): GlobalPolicy {
  return retryPolicy({ ...options, retryable: neverSent });
}

export interface RetryOptions {
  /** Which failures to retry (default: any transport failure). */
  retryable?: (err: unknown) => boolean;
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Retries transport failures (unavailable, deadline, reset) with exponential backoff. */
export function retryPolicy(options: RetryOptions): GlobalPolicy {
  const retryable = options.retryable ?? isTransportError;
  return asPolicy({
    async execute(fn, signal) {
      let delay = options.initialDelayMs;
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({ signal: signal ?? never });
        } catch (err) {
          if (attempt >= options.attempts || !retryable(err) || signal?.aborted) throw err;
          await options.sleep(delay);
          delay = Math.min(delay * 2, options.maxDelayMs);
        }
      }
    },
  });
}

export class CircuitOpenError extends Error {
  constructor(readonly endpoint: string) {
    super(`circuit open for ${endpoint} after repeated failures`);
    this.name = 'CircuitOpenError';
  }
}

/**
 * Stops sending to one member for `openMs` after `threshold` transport failures in a row, so
 * etcd3 moves on to another member. Only worth it with several endpoints: with one, it would
 * only turn a short outage into a longer one.
 */
export function breakerPolicy(
  endpoint: string,
  threshold: number,
  openMs: number,
  now: () => number,
): HostPolicy {
  let failures = 0;
  let openUntil = 0;
  return asPolicy({
    async execute(fn, signal) {
      if (now() < openUntil) throw new CircuitOpenError(endpoint);
      try {
        const result = await fn({ signal: signal ?? never });
        failures = 0;
        return result;
      } catch (err) {
        if (isTransportError(err) && ++failures >= threshold) {
          failures = 0;
          openUntil = now() + openMs;
        }
        throw err;
      }
    },
  });
}

/** Passes every call through: the host policy for a single endpoint. */
export function passPolicy(): HostPolicy {
  return asPolicy({
    async execute(fn, signal) {
      return fn({ signal: signal ?? never });
    },
  });
}
