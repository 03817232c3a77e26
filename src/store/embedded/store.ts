// The embedded store: one Raft member driving the pure core with a tick timer, persisting
// through the WAL (or keeping the log in memory), applying committed entries to the MVCC
// state machine and resolving each request once its entry is applied.
//
// Group commit: the write loop takes every proposal queued so far, writes them as one batch
// with one fsync, and meanwhile new proposals queue up for the next batch.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CapstanError } from '../../common/index.js';
import { decodeCommand, encodeCommand, commandSize, MvccState, decodeSnapshot, encodeSnapshot, type Command } from '../mvcc/index.js';
import { RaftCore, type Entry } from '../raft/index.js';
import { Wal, type WalState } from '../raft/wal.js';
import { nodeWalFs, type WalFs } from '../raft/wal-fs.js';
import { MAX_REQUEST_BYTES } from '../types.js';
import { lockDataDir } from './lock.js';
import { createStoreMetrics, type StoreMetrics } from './metrics.js';
import { WatchHub } from './watch.js';

/** Time and timers, injectable so tests can drive lease expiry. */
export interface StoreClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: StoreClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.(); // an idle store must not keep the process alive
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface EmbeddedStoreOptions {
  /** Data folder; absent: the store lives in memory only. */
  dir?: string;
  logger?: Logger;
  clock?: StoreClock;
  /** Take a snapshot every this many applied entries (default 10,000). */
  snapshotEvery?: number;
  metrics?: Registry;
  /** File-system seam for the WAL (tests inject faults). */
  fs?: WalFs;
  /** WAL segment size (default 64 MiB). */
  segmentBytes?: number;
  /** Milliseconds per Raft tick (default 100). */
  tickMs?: number;
  /** Batches a watcher may have queued before it is ended (default 10,000). */
  watchBufferBatches?: number;
  random?: () => number;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Proposal extends Waiter {
  data: Buffer;
}

export class EmbeddedCore {
  readonly mvcc: MvccState;
  readonly hub: WatchHub;
  private readonly raft: RaftCore;
  private readonly wal: Wal | undefined;
  private readonly clock: StoreClock;
  private readonly logger: Logger | undefined;
  private readonly metrics: StoreMetrics;
  private readonly snapshotEvery: number;
  private readonly tickMs: number;
  private pending: Proposal[] = [];
  private inflight = new Map<number, Waiter>();
  private loop: Promise<void> | undefined;
  private tickHandle: unknown;
  private snapshotIndex: number;
  private expiring = false;
  private unlock: (() => Promise<void>) | undefined;
  private snapshotting: Promise<void> | undefined;
  private snapshotDone: number | undefined;
  closed = false;

  private constructor(
    o: EmbeddedStoreOptions,
    mvcc: MvccState,
    raft: RaftCore,
    wal: Wal | undefined,
    snapshotIndex: number,
    metrics: StoreMetrics,
  ) {
    this.mvcc = mvcc;
    this.raft = raft;
    this.wal = wal;
    this.snapshotIndex = snapshotIndex;
    this.clock = o.clock ?? realClock;
    this.logger = o.logger;
    this.snapshotEvery = o.snapshotEvery ?? 10_000;
    this.tickMs = o.tickMs ?? 100;
    this.hub = new WatchHub(o.watchBufferBatches ?? 10_000);
    this.metrics = metrics;
  }

  static async open(o: EmbeddedStoreOptions): Promise<EmbeddedCore> {
    const logger = o.logger?.child({ component: 'store' });
    let mvcc = new MvccState();
    let wal: Wal | undefined;
    let snapshot: { index: number; term: number } | undefined;
    let hardState;
    let entries: Entry[] = [];
    // Metrics read the state through a holder, since the state exists only after loading.
    const holder: { core?: EmbeddedCore } = {};
    const metrics = createStoreMetrics(o.metrics, () => ({
      keys: holder.core?.mvcc.liveKeys ?? 0,
      bytes: holder.core?.mvcc.liveBytes ?? 0,
    }));
    let unlock: (() => Promise<void>) | undefined;
    if (o.dir) {
      const fs = o.fs ?? nodeWalFs;
      await fs.mkdirp(o.dir);
      unlock = await lockDataDir(o.dir, logger);
      let st: WalState;
      try {
        const opened = await Wal.open({ dir: o.dir, fs, logger, segmentBytes: o.segmentBytes, onSync: (s) => metrics.fsyncSeconds(s) });
        wal = opened.wal;
        st = opened.state;
        if (st.snapshot) mvcc = decodeSnapshot(st.snapshot.data);
      } catch (err) {
        await wal?.close();
        await unlock();
        throw err;
      }
      if (st.snapshot) snapshot = { index: st.snapshot.index, term: st.snapshot.term };
      hardState = st.hardState;
      entries = st.entries;
      logger?.info({ dir: o.dir, snapshot: snapshot?.index ?? 0, replay: entries.length }, 'opened the write-ahead log');
    }
    const raft = new RaftCore({ id: 1, members: [1], random: o.random ?? Math.random, snapshot, hardState, entries });
    const core = new EmbeddedCore({ ...o, logger }, mvcc, raft, wal, snapshot?.index ?? 0, metrics);
    holder.core = core;
    core.unlock = unlock;
    // One member: elect ourselves now, then replay the log through the new term's no-op.
    raft.campaign();
    await core.kick();
    if (raft.applied < raft.lastIndex) {
      await core.close();
      throw new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', 'the store could not replay its log', {
        context: { applied: raft.applied, last: raft.lastIndex },
      });
    }
    // Time passed while no leader ran: give clients a full TTL to keep their leases alive
    // before expiring them, as etcd does when a member becomes leader.
    if (mvcc.leases.size) await core.propose<number>({ type: 'leasePromote', now: core.now() });
    core.scheduleTick();
    return core;
  }

  // ---- the write loop ----

  /** Proposes a command and resolves with its result once applied. */
  propose<T>(cmd: Command): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (commandSize(cmd) > MAX_REQUEST_BYTES) {
      return Promise.reject(
        new CapstanError('CAPSTAN_ERR_STORE_TOO_LARGE', `the request is ${commandSize(cmd)} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`, {
          context: { bytes: commandSize(cmd), limit: MAX_REQUEST_BYTES },
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ data: encodeCommand(cmd), resolve: resolve as (v: unknown) => void, reject });
      void this.kick();
    });
  }

  /** Runs the loop unless it is running; resolves when it has nothing left to do. */
  private kick(): Promise<void> {
    if (!this.loop) this.loop = this.runGuarded();
    return this.loop;
  }

  private async runGuarded(): Promise<void> {
    try {
      await this.run();
    } catch (err) {
      this.fatal(err);
    } finally {
      this.loop = undefined;
      // Requests may have queued between the loop's last check and now.
      if (this.pending.length && !this.closed) void this.kick();
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      await this.releaseSnapshot();
      if (this.pending.length && this.raft.isLeader) {
        const batch = this.pending;
        this.pending = [];
        const indexes = this.raft.propose(batch.map((p) => p.data));
        for (let i = 0; i < batch.length; i++) this.inflight.set(indexes[i]!, batch[i]!);
      }
      const ready = this.raft.ready();
      this.applyEntries(ready.committed);
      // Checked on every batch: under steady load every pass also has entries to write.
      if (ready.committed.length) this.maybeSnapshot();
      this.metrics.applyLag(this.raft.lastIndex - this.raft.applied);
      if (ready.entries.length || ready.hardState) {
        const last = ready.entries[ready.entries.length - 1];
        if (this.wal) {
          try {
            await this.wal.append(ready.entries, this.raft.hardState);
          } catch (err) {
            this.failUnstable(ready.entries, err);
            return; // try again when the next request arrives
          }
          this.metrics.batchSize(ready.entries.length);
        }
        if (last) this.raft.persisted(last.index, last.term);
        continue;
      }
      // Messages would go to peers here once the group has more than one member.
      if (!this.pending.length && this.raft.applied >= this.raft.commit) return;
    }
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      const waiter = this.inflight.get(e.index);
      if (waiter) this.inflight.delete(e.index);
      if (e.data.length === 0) continue; // a term's no-op
      const outcome = this.mvcc.apply(decodeCommand(e.data));
      this.hub.publish(outcome.batches);
      if (!waiter) continue;
      if (outcome.ok) waiter.resolve(outcome.result);
      else waiter.reject(outcome.error);
    }
  }

  /** The batch could not be written: its requests fail and the core forgets its entries. */
  private failUnstable(entries: Entry[], err: unknown): void {
    this.logger?.error({ err }, 'write-ahead log write failed; refusing the batch');
    this.raft.dropUnstable();
    for (const e of entries) {
      const w = this.inflight.get(e.index);
      if (!w) continue;
      this.inflight.delete(e.index);
      w.reject(err);
    }
  }

  /**
   * Every `snapshotEvery` entries: encode the state (consistent, synchronous) and write it in
   * the background; the write loop then drops the log it covers (releaseSnapshot).
   */
  private maybeSnapshot(): void {
    const applied = this.raft.applied;
    if (applied - this.snapshotIndex < this.snapshotEvery || this.snapshotting) return;
    this.snapshotIndex = applied;
    const wal = this.wal;
    if (!wal) {
      this.raft.compact(applied); // in memory: only bound the log
      return;
    }
    // Encode after the current batch's callers have had their answers; the index is read
    // at the same moment as the state, so the two always match.
    this.snapshotting = new Promise<void>((r) => setImmediate(r))
      .then(() => {
        const index = this.raft.applied;
        this.snapshotIndex = index;
        const data = encodeSnapshot(this.mvcc);
        return wal.writeSnapshot(index, this.raft.termAt(index)!, data).then(() => ({ index, bytes: data.length }));
      })
      .then(
        ({ index, bytes }) => {
          this.logger?.debug({ index, bytes }, 'snapshot saved');
          this.snapshotDone = index;
          if (!this.closed) void this.kick();
        },
        // Not fatal: the log still holds everything; the next snapshot tries again.
        (err: unknown) => this.logger?.warn({ err }, 'snapshot failed'),
      )
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /** Drops segments a durable snapshot covers; runs inside the write loop, between writes. */
  private async releaseSnapshot(): Promise<void> {
    const index = this.snapshotDone;
    if (index === undefined || !this.wal) return;
    this.snapshotDone = undefined;
    try {
      await this.wal.releaseBefore(index);
    } catch (err) {
      this.logger?.warn({ err, index }, 'could not drop old WAL segments');
    }
    this.raft.compact(index);
  }

  private fatal(err: unknown): void {
    this.logger?.error({ err }, 'the store write loop failed');
    const e =
      err instanceof CapstanError ? err : new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', 'the store write loop failed', { cause: err });
    for (const w of this.inflight.values()) w.reject(e);
    this.inflight.clear();
    for (const p of this.pending) p.reject(e);
    this.pending = [];
  }

  // ---- ticks and lease expiry ----

  private scheduleTick(): void {
    if (this.closed) return;
    this.tickHandle = this.clock.setTimeout(() => this.onTick(), this.tickMs);
  }

  private onTick(): void {
    if (this.closed) return;
    this.raft.tick();
    const now = this.clock.now();
    const next = this.mvcc.nextLeaseExpiry();
    if (next !== undefined && next <= now && !this.expiring && this.raft.isLeader) {
      // The leader decides expiry from its clock and puts the time into the log.
      this.expiring = true;
      this.propose<number>({ type: 'leaseExpire', now })
        .catch((err: unknown) => this.logger?.warn({ err }, 'lease expiry failed'))
        .finally(() => {
          this.expiring = false;
        });
    }
    if (this.pending.length) void this.kick();
    this.scheduleTick();
  }

  now(): number {
    return this.clock.now();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickHandle !== undefined) this.clock.clearTimeout(this.tickHandle);
    if (this.loop) await this.loop;
    if (this.snapshotting) await this.snapshotting;
    await this.releaseSnapshot();
    const err = closedError();
    for (const p of this.pending) p.reject(err);
    this.pending = [];
    for (const w of this.inflight.values()) w.reject(err);
    this.inflight.clear();
    this.hub.closeAll();
    await this.wal?.close();
    await this.unlock?.();
  }
}

export function closedError(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the store is closed');
}
