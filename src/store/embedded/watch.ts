// Watchers of the embedded store. Each watcher has its own bounded queue: publishing never
// waits for a reader, and a watcher that falls more than the bound behind is ended with
// CAPSTAN_ERR_STORE_WATCH_OVERFLOW so its client re-watches from its last revision.
import { CapstanError } from '../../common/index.js';
import type { Watch, WatchBatch, WatchEvent } from '../types.js';

export interface WatcherSpec {
  key: string;
  prefix: boolean;
  prevKv: boolean;
  /** First revision this watcher wants. */
  fromRevision: number;
}

class Watcher implements Watch {
  private queue: WatchBatch[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: unknown) => void } | undefined;
  private error: unknown;
  private done = false;
  lastQueued: number;

  constructor(
    readonly spec: WatcherSpec,
    private readonly hub: WatchHub,
  ) {
    this.lastQueued = spec.fromRevision - 1;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  matches(key: string): boolean {
    return this.spec.prefix ? key.startsWith(this.spec.key) : key === this.spec.key;
  }

  /** Queues the part of a batch this watcher wants. */
  offer(batch: WatchBatch): void {
    if (this.done || batch.revision <= this.lastQueued) return;
    let events: WatchEvent[] | undefined;
    for (const e of batch.events) {
      if (!this.matches(e.kv.key)) continue;
      (events ??= []).push(this.spec.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
    }
    this.lastQueued = batch.revision;
    if (!events) return;
    const out: WatchBatch = { revision: batch.revision, events };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: out, done: false });
      return;
    }
    this.queue.push(out);
  }

  /** Ends the watch with an error; `dropQueued` frees what the reader has not taken. */
  fail(err: unknown, dropQueued = false): void {
    if (this.done) return;
    if (dropQueued) {
      this.queue = [];
      this.head = 0;
    }
    this.error = err;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.hub.remove(this);
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    if (this.error !== undefined && this.pending === 0) {
      const e = this.error;
      this.error = undefined;
      w.reject(e);
    } else w.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.done) return;
    // Closing drops what is queued: the caller asked to stop.
    this.queue = [];
    this.head = 0;
    this.error = undefined;
    this.finish();
  }

  private next(): Promise<IteratorResult<WatchBatch>> {
    if (this.pending > 0) {
      const value = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.error !== undefined) {
      const e = this.error;
      this.error = undefined;
      return Promise.reject(e);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly maxPendingBatches: number) {}

  get size(): number {
    return this.watchers.size;
  }

  /**
   * A new watcher. `replay` supplies past batches from `fromRevision` (and may throw, e.g.
   * compacted); it runs before the watcher is registered for new batches, and both happen
   * synchronously, so nothing can fall between them.
   */
  open(spec: WatcherSpec, replay: () => WatchBatch[], signal?: AbortSignal): Watch {
    const w = new Watcher(spec, this);
    try {
      for (const b of replay()) w.offer(b);
    } catch (err) {
      w.fail(err);
      return w;
    }
    this.watchers.add(w);
    if (signal) {
      if (signal.aborted) w.close();
      else signal.addEventListener('abort', () => w.close(), { once: true });
    }
    return w;
  }

  remove(w: Watcher): void {
    this.watchers.delete(w);
  }

  publish(batches: WatchBatch[]): void {
    if (batches.length === 0) return;
    for (const w of this.watchers) {
      for (const b of batches) w.offer(b);
      if (w.pending > this.maxPendingBatches) {
        w.fail(
          new CapstanError('CAPSTAN_ERR_STORE_WATCH_OVERFLOW', `the watcher on ${w.spec.key} fell more than ${this.maxPendingBatches} batches behind`, {
            context: { key: w.spec.key },
          }),
          true,
        );
      }
    }
  }

  closeAll(err?: unknown): void {
    for (const w of [...this.watchers]) {
      if (err === undefined) w.close();
      else w.fail(err);
    }
  }
}
