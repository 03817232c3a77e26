// The work queue behind every controller, with client-go's guarantees:
// - a key is queued at most once (adding it again while queued is a no-op);
// - a key is handed to one worker at a time; added while being processed, it is queued
//   again when that worker calls done(), so the change is never lost;
// - delayed adds (requeueAfter, backoff) wait on the injected clock and collapse to the
//   earliest due time per key.
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { ExponentialBackoff, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** Called whenever the number of queued keys changes (for a depth gauge). */
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly clock: Clock;
  readonly rateLimiter: RateLimiter;
  private readonly onDepth: ((depth: number) => void) | undefined;
  private queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; handle: TimerHandle }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = options.rateLimiter ?? new ExponentialBackoff();
    this.onDepth = options.onDepth;
  }

  /** Keys waiting for a worker (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length - this.head;
  }

  get isShutDown(): boolean {
    return this.shuttingDown;
  }

  /** Keys a worker holds right now. */
  inFlight(): string[] {
    return [...this.processing];
  }

  /** Keys waiting on a timer, with when they fall due. */
  delayedKeys(): Map<string, number> {
    return new Map([...this.delayed].map(([k, v]) => [k, v.at]));
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    this.push(key);
  }

  /** Adds `key` after `ms`; a key already waiting keeps the earlier of the two times. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Requeues `key` after its backoff, counting one more failure. */
  addRateLimited(key: string): number {
    const ms = this.rateLimiter.when(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  /** The next key to work on; resolves undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.length > 0) return Promise.resolve(this.take());
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker finished `key`; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
  }

  /** Stops handing out keys: waiting workers get undefined and timers are cleared. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    this.queue = [];
    this.head = 0;
    this.dirty.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(undefined);
    this.onDepth?.(0);
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.onDepth?.(this.length);
  }

  private take(): string {
    const key = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    this.onDepth?.(this.length);
    return key;
  }
}
