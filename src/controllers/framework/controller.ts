// The generic reconcile loop. A reconciler only sees a key and reads the state it needs
// itself (level-based); the queue, workers, backoff, requeueAfter and metrics live here.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { silentLogger } from '../../common/index.js';
import { systemClock, type Clock } from './clock.js';
import { controllerMetrics, type ControllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { ExponentialBackoff, type RateLimiter } from './rate-limiter.js';

export interface ReconcileContext {
  /** Logger with `controller` and `key` bound. */
  logger: Logger;
  /** Aborted when the controller stops (e.g. leadership lost). */
  signal: AbortSignal;
  /** Failures of this key since its last success (0 on a first try). */
  failures: number;
}

/** `requeueAfterMs`: reconcile the key again after this long even if nothing changes. */
export type Result = { requeueAfterMs?: number } | void;

export interface Reconciler {
  name: string;
  reconcile(key: string, ctx: ReconcileContext): Promise<Result>;
}

/** Something that feeds keys to a controller while it runs (a store watch, a timer). */
export interface Source {
  /** Runs until `signal` aborts; must not throw for transient problems (retry inside). */
  run(enqueue: (key: string) => void, signal: AbortSignal): Promise<void>;
}

export interface ControllerOptions {
  reconciler: Reconciler;
  sources?: Source[];
  /** Keys reconciled in parallel (different keys only; default 1). */
  workers?: number;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  /** Backoff for failed keys; default 5 ms doubling to 1000 s. */
  rateLimiter?: () => RateLimiter;
}

export type ControllerState = 'STOPPED' | 'RUNNING' | 'STOPPING';

export class Controller {
  readonly name: string;
  private readonly reconciler: Reconciler;
  private readonly sources: Source[];
  private readonly workers: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: ControllerMetrics | undefined;
  private readonly newRateLimiter: () => RateLimiter;
  private run: { queue: WorkQueue; abort: AbortController; tasks: Promise<void>[] } | undefined;
  private stopping: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private busy = 0;

  constructor(options: ControllerOptions) {
    this.reconciler = options.reconciler;
    this.name = options.reconciler.name;
    this.sources = options.sources ?? [];
    this.workers = Math.max(1, options.workers ?? 1);
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'controller', controller: this.name });
    this.metrics = options.registry ? controllerMetrics(options.registry) : undefined;
    this.newRateLimiter = options.rateLimiter ?? (() => new ExponentialBackoff());
  }

  get state(): ControllerState {
    if (this.stopping) return 'STOPPING';
    return this.run ? 'RUNNING' : 'STOPPED';
  }

  /** The current run's queue (undefined while stopped). */
  get queue(): WorkQueue | undefined {
    return this.run?.queue;
  }

  /** Queues a key; ignored while stopped (the sources resync on the next start). */
  enqueue(key: string): void {
    this.run?.queue.add(key);
  }

  /** Starts workers and sources. A stopped controller can be started again with a fresh queue. */
  start(): void {
    if (this.run) return;
    const abort = new AbortController();
    const queue = new WorkQueue({
      clock: this.clock,
      rateLimiter: this.newRateLimiter(),
      onDepth: (d) => this.metrics?.depth.set({ controller: this.name }, d),
    });
    const tasks: Promise<void>[] = [];
    this.run = { queue, abort, tasks };
    for (let i = 0; i < this.workers; i++) tasks.push(this.worker(queue, abort.signal));
    for (const source of this.sources) {
      tasks.push(
        source.run((key) => queue.add(key), abort.signal).catch((err: unknown) => {
          this.logger.error({ err }, 'controller source failed');
        }),
      );
    }
    this.logger.info({ workers: this.workers }, 'controller started');
  }

  /** Stops sources and workers; resolves once in-flight reconciles have returned. */
  stop(): Promise<void> {
    const run = this.run;
    if (!run) return Promise.resolve();
    this.stopping ??= (async () => {
      run.abort.abort();
      run.queue.shutDown();
      await Promise.allSettled(run.tasks);
      this.run = undefined;
      this.stopping = undefined;
      this.wakeIdle();
      this.logger.info('controller stopped');
    })();
    return this.stopping;
  }

  /**
   * Resolves when no key is queued or being reconciled (keys waiting on a timer do not
   * count). For tests and orderly handovers.
   */
  waitIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return !this.run || (this.run.queue.length === 0 && this.busy === 0);
  }

  private wakeIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async worker(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      this.busy++;
      try {
        await this.process(queue, key, signal);
      } finally {
        this.busy--;
        queue.done(key);
        // Let a key re-added by done() reach a worker before deciding we are idle.
        queueMicrotask(() => this.wakeIdle());
      }
    }
  }

  private async process(queue: WorkQueue, key: string, signal: AbortSignal): Promise<void> {
    const failures = queue.rateLimiter.failures(key);
    const logger = this.logger.child({ key });
    const started = this.clock.now();
    const labels = { controller: this.name };
    try {
      const result = await this.reconciler.reconcile(key, { logger, signal, failures });
      queue.forget(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after >= 0) {
        queue.addAfter(key, after);
        this.metrics?.reconciles.inc({ ...labels, result: 'requeue_after' });
      } else {
        this.metrics?.reconciles.inc({ ...labels, result: 'success' });
      }
    } catch (err) {
      if (signal.aborted) return; // stopping: the next leader reconciles it
      const delay = queue.addRateLimited(key);
      this.metrics?.reconciles.inc({ ...labels, result: 'error' });
      this.metrics?.errors.inc(labels);
      logger.warn({ err, retryInMs: delay, failures: failures + 1 }, 'reconcile failed; retrying with backoff');
    } finally {
      this.metrics?.duration.observe(labels, Math.max(0, this.clock.now() - started) / 1000);
    }
  }
}
