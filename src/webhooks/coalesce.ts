// Webhook-triggered syncs, coalesced and paced. A flood of signed deliveries (replays with new
// delivery ids, or a busy repository) must not queue one sync per delivery: at most one sync
// runs and at most one more waits behind it, which every later delivery joins, because a sync
// reads the branch as it is when it starts. Starts are also spaced at least `minIntervalMs`
// apart, so the worst a flood costs is one sync per interval. The clock is injected.

export type SyncTrigger = 'started' | 'queued' | 'joined';

export interface SyncCoalescerOptions {
  /** Runs one sync; the coalescer never runs two at once. */
  run: () => Promise<unknown>;
  /** Least time between the starts of two syncs, in ms (default 2,000). */
  minIntervalMs?: number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  /** Told about a sync that failed (the coalescer goes on). */
  onError?: (err: unknown) => void;
}

export class SyncCoalescer {
  private running = false;
  private waiting = false;
  private timerSet = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  /** Syncs started so far (for tests and metrics). */
  started = 0;

  constructor(private readonly options: SyncCoalescerOptions) {
    this.minIntervalMs = Math.max(0, options.minIntervalMs ?? 2_000);
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  }

  /** Asks for a sync: started now, queued behind the running one or the interval, or joined to one already queued. */
  trigger(): SyncTrigger {
    if (this.waiting) return 'joined';
    if (!this.running && this.now() - this.lastStart >= this.minIntervalMs) {
      this.start();
      return 'started';
    }
    this.waiting = true;
    this.schedule();
    return 'queued';
  }

  private start(): void {
    this.running = true;
    this.lastStart = this.now();
    this.started++;
    let done: Promise<unknown>;
    try {
      done = Promise.resolve(this.options.run());
    } catch (err) {
      done = Promise.reject(err);
    }
    done
      .catch((err: unknown) => this.options.onError?.(err))
      .finally(() => {
        this.running = false;
        if (this.waiting) this.schedule();
      });
  }

  /** Starts the waiting sync once nothing runs and the interval has passed. */
  private schedule(): void {
    if (this.running || this.timerSet) return;
    const wait = Math.max(0, this.lastStart + this.minIntervalMs - this.now());
    this.timerSet = true;
    this.setTimer(() => {
      this.timerSet = false;
      if (!this.waiting || this.running) return;
      this.waiting = false;
      this.start();
    }, wait);
  }
}
