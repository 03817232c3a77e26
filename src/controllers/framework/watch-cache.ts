// A watch cache shared by every controller of one process, as the Kubernetes API server's
// watch cache and client-go's shared informers: one list of the cached prefixes at one
// revision, then one store watch from there; controllers read and watch through `cachedKV`,
// which serves the cached prefixes from memory and sends everything else to the store.
//
// Why: controllers re-listing whole prefixes on every pass (every pod change started a
// scheduling pass that read and decoded all pods) cost most of the control plane's CPU and
// its garbage, and every controller watch was one more stream the store fed.
//
// Consistency: the cache is the store as of `revision`, applied batch by batch in order.
// Reads through `cachedKV` wait until the cache has caught up with the newest write made
// through it (read-your-writes), so a controller never decides twice from the same old
// state (e.g. creating a revision's pods again before it sees the ones it just created).
import type { Logger } from 'pino';
import { CapstanError, silentLogger } from '../../common/index.js';
import { sleep } from '../../common/clock.js';
import type { KV, KeyValue, RangeOptions, RangeResult, Watch, WatchBatch, WatchEvent, WatchOptions } from '../../store/index.js';
import { systemClock, type Clock } from './clock.js';

export interface WatchCacheOptions {
  kv: KV;
  /** Prefixes kept in memory; each must start with `root`. */
  prefixes: readonly string[];
  /** What the one store watch covers (default `/capstan/`). */
  root?: string;
  /** Batches kept to replay to watchers starting a little behind (default 1024). */
  historyBatches?: number;
  /** Batches a cache watcher may fall behind before it is ended (it then lists again; default 100,000). */
  maxWatcherQueue?: number;
  /** Pause before listing again after the store watch failed (default 1 s). */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export type WatchCacheState = 'STOPPED' | 'LISTING' | 'WATCHING';

const compacted = (from: number, oldest: number): CapstanError =>
  new CapstanError('CAPSTAN_ERR_STORE_COMPACTED', `the watch cache no longer holds revision ${from} (oldest ${oldest + 1}); list again`, {
    context: { fromRevision: from, oldest: oldest + 1 },
  });

/** Keys in order, for prefix scans (binary search; splices are cheap at control-plane sizes). */
class SortedKeyList {
  private keys: string[] = [];

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(key: string): void {
    const i = this.lowerBound(key);
    if (this.keys[i] !== key) this.keys.splice(i, 0, key);
  }

  remove(key: string): void {
    const i = this.lowerBound(key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
  }

  clear(): void {
    this.keys = [];
  }

  *withPrefix(prefix: string): Generator<string> {
    for (let i = this.lowerBound(prefix); i < this.keys.length && this.keys[i]!.startsWith(prefix); i++) yield this.keys[i]!;
  }
}

/** One watcher served from the cache, with its own queue. */
class CacheWatcher implements Watch {
  private queue: WatchBatch[] = [];
  private waiter: { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: unknown) => void } | undefined;
  private error: unknown;
  private done = false;

  constructor(
    private readonly key: string,
    private readonly prefix: boolean,
    private readonly prevKv: boolean,
    private readonly maxQueue: number,
    private readonly onClose: (w: CacheWatcher) => void,
  ) {}

  offer(batch: WatchBatch): void {
    if (this.done) return;
    let events: WatchEvent[] | undefined;
    for (const e of batch.events) {
      const k = e.kv.key;
      if (this.prefix ? !k.startsWith(this.key) : k !== this.key) continue;
      (events ??= []).push(this.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv });
    }
    if (!events) return;
    const out = { revision: batch.revision, events };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: out, done: false });
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.fail(new CapstanError('CAPSTAN_ERR_STORE_COMPACTED', 'the watcher fell too far behind the watch cache; list again'));
      return;
    }
    this.queue.push(out);
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.error = err;
    this.queue = [];
    this.finish();
  }

  close(): void {
    if (this.done) return;
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.onClose(this);
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      if (this.error !== undefined) w.reject(this.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    return {
      next: () => {
        const batch = this.queue.shift();
        if (batch) return Promise.resolve({ value: batch, done: false });
        if (this.done) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export class WatchCache {
  readonly prefixes: readonly string[];
  private readonly kv: KV;
  private readonly root: string;
  private readonly historyBatches: number;
  private readonly maxWatcherQueue: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly items = new Map<string, KeyValue>();
  private readonly order = new SortedKeyList();
  /** Recent batches of cached keys, oldest first; every batch after `historyFrom` is here. */
  private history: WatchBatch[] = [];
  private historyFrom = 0;
  private readonly watchers = new Set<CacheWatcher>();
  private revisionNow = 0;
  private synced = false;
  private stateNow: WatchCacheState = 'STOPPED';
  private waiters: { revision: number; resolve: () => void }[] = [];
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: WatchCacheOptions) {
    this.kv = options.kv;
    this.root = options.root ?? '/capstan/';
    this.prefixes = [...options.prefixes];
    for (const p of this.prefixes) if (!p.startsWith(this.root)) throw new Error(`watch cache prefix ${p} is outside ${this.root}`);
    this.historyBatches = options.historyBatches ?? 1024;
    this.maxWatcherQueue = options.maxWatcherQueue ?? 100_000;
    this.retryMs = options.retryMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'watch-cache' });
  }

  get state(): WatchCacheState {
    return this.stateNow;
  }

  /** The store revision the cache reflects (0 before the first list). */
  get revision(): number {
    return this.revisionNow;
  }

  /** Keys held in memory. */
  get size(): number {
    return this.items.size;
  }

  /** Whether `key` (a key, or a watched or listed prefix) lies inside the cached prefixes. */
  covers(key: string): boolean {
    return this.prefixes.some((p) => key.startsWith(p));
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal).catch((err: unknown) => this.logger.error({ err }, 'watch cache stopped unexpectedly'));
  }

  async stop(): Promise<void> {
    if (!this.loop) return;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
    this.stateNow = 'STOPPED';
    this.synced = false;
    for (const w of [...this.watchers]) w.fail(new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the watch cache stopped'));
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  }

  /**
   * Resolves once the cache holds the store as of `revision` or later; rejects after
   * `timeoutMs` (the caller then reads the store itself).
   */
  waitFor(revision: number, timeoutMs = 10_000): Promise<void> {
    if (this.synced && this.revisionNow >= revision) return Promise.resolve();
    if (!this.loop) return Promise.reject(new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the watch cache is not running'));
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', `the watch cache did not reach revision ${revision} within ${timeoutMs} ms (at ${this.revisionNow})`));
      }, timeoutMs);
      const waiter = {
        revision,
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  get(key: string): KeyValue | undefined {
    return this.items.get(key);
  }

  /** Cached keys under `prefix` in key order (the cached records themselves: never mutate them). */
  *scan(prefix: string): Generator<KeyValue> {
    for (const k of this.order.withPrefix(prefix)) yield this.items.get(k)!;
  }

  range(key: string, options: RangeOptions = {}): RangeResult {
    const all = options.prefix === false ? [this.items.get(key)].filter((x): x is KeyValue => x !== undefined) : [...this.scan(key)];
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : all.length;
    const kvs = all.slice(0, limit).map((kv) => (options.keysOnly ? { ...kv, value: new Uint8Array(0) } : kv));
    return { kvs, count: all.length, more: all.length > limit, revision: this.revisionNow };
  }

  /** A watch of cached keys, replayed from `fromRevision` when the cache still holds it. */
  watch(key: string, options: WatchOptions = {}): Watch {
    const w = new CacheWatcher(key, options.prefix === true, options.prevKv === true, this.maxWatcherQueue, (x) => this.watchers.delete(x));
    const from = options.fromRevision;
    if (from !== undefined && from > 0 && from <= this.revisionNow) {
      if (from <= this.historyFrom) {
        w.fail(compacted(from, this.historyFrom));
        return w;
      }
      for (const b of this.history) if (b.revision >= from) w.offer(b);
    }
    this.watchers.add(w);
    options.signal?.addEventListener('abort', () => w.close(), { once: true });
    if (options.signal?.aborted) w.close();
    return w;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        this.stateNow = 'LISTING';
        await this.list();
        this.stateNow = 'WATCHING';
        const watch = this.kv.watch(this.root, { prefix: true, fromRevision: this.revisionNow + 1, signal });
        for await (const batch of watch) this.apply(batch);
      } catch (err) {
        if (signal.aborted) break;
        this.logger.warn({ err, retryInMs: this.retryMs }, 'store watch failed; listing again');
      }
      await sleep(this.clock, this.retryMs, signal);
    }
  }

  /** Lists every cached prefix at one revision and replaces the cache with it. */
  private async list(): Promise<void> {
    let revision = 0;
    const fresh = new Map<string, KeyValue>();
    for (const prefix of this.prefixes) {
      const r = await this.kv.range(prefix, { prefix: true, ...(revision > 0 ? { revision } : {}) });
      if (revision === 0) revision = r.revision;
      for (const kv of r.kvs) fresh.set(kv.key, kv);
    }
    this.items.clear();
    this.order.clear();
    for (const [k, v] of fresh) {
      this.items.set(k, v);
      this.order.add(k);
    }
    // Watchers from before this list may have missed changes: they list again too.
    const lost = [...this.watchers];
    for (const w of lost) w.fail(compacted(this.revisionNow + 1, revision));
    this.history = [];
    this.historyFrom = revision;
    this.revisionNow = revision;
    this.synced = true;
    this.logger.info({ revision, keys: this.items.size }, 'watch cache listed');
    this.wake();
  }

  private apply(batch: WatchBatch): void {
    let events: WatchEvent[] | undefined;
    for (const e of batch.events) {
      const key = e.kv.key;
      if (!this.covers(key)) continue;
      const prev = this.items.get(key);
      if (e.type === 'put') {
        // The store's own record: holding it costs nothing while the store holds it too.
        const kv = e.kv;
        this.items.set(key, kv);
        if (!prev) this.order.add(key);
        (events ??= []).push(prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv });
      } else {
        this.items.delete(key);
        if (prev) this.order.remove(key);
        (events ??= []).push(prev ? { type: 'delete', kv: e.kv, prevKv: prev } : { type: 'delete', kv: e.kv });
      }
    }
    this.revisionNow = Math.max(this.revisionNow, batch.revision);
    if (events) {
      const out: WatchBatch = { revision: batch.revision, events };
      this.history.push(out);
      if (this.history.length > this.historyBatches) {
        const dropped = this.history.splice(0, this.history.length - this.historyBatches);
        this.historyFrom = dropped[dropped.length - 1]!.revision;
      }
      for (const w of [...this.watchers]) w.offer(out);
    }
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.synced && this.revisionNow >= w.revision) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }
}

/**
 * A KV for controllers: reads and watches of cached prefixes come from `cache`, after it has
 * caught up with this KV's own newest write; everything else goes to `kv`. When the cache
 * cannot catch up in time, reads fall back to the store.
 */
export function cachedKV(kv: KV, cache: WatchCache, options: { logger?: Logger; catchUpMs?: number } = {}): KV {
  const logger = (options.logger ?? silentLogger()).child({ component: 'watch-cache' });
  const catchUpMs = options.catchUpMs ?? 10_000;
  let written = 0;
  const wrote = (revision: number): void => {
    if (revision > written) written = revision;
  };
  const fresh = async (): Promise<boolean> => {
    try {
      await cache.waitFor(written, catchUpMs);
      return true;
    } catch (err) {
      logger.warn({ err }, 'watch cache behind; reading the store');
      return false;
    }
  };
  return {
    async get(key, opts) {
      if (cache.covers(key) && (await fresh())) return cache.get(key);
      return kv.get(key, opts);
    },
    async range(key, opts = {}) {
      if (cache.covers(key) && (await fresh())) return cache.range(key, opts);
      return kv.range(key, opts);
    },
    async put(key, value, opts) {
      const r = await kv.put(key, value, opts);
      wrote(r.revision);
      return r;
    },
    async delete(key, opts) {
      const r = await kv.delete(key, opts);
      if (r.deleted > 0) wrote(r.revision);
      return r;
    },
    async txn(request) {
      const r = await kv.txn(request);
      if (r.succeeded && r.results.some((x) => x.type !== 'get')) wrote(r.revision);
      return r;
    },
    watch(key, opts = {}) {
      if (!cache.covers(key)) return kv.watch(key, opts);
      return cache.watch(key, opts);
    },
    compact: (revision) => kv.compact(revision),
    grant: (ttl) => kv.grant(ttl),
    keepAlive: (id) => kv.keepAlive(id),
    revoke: (id) => kv.revoke(id),
    revision: () => kv.revision(),
    close: () => kv.close(),
  };
}
