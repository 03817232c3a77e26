// The embedded store: one Raft member driving the pure core with a tick timer, persisting
// through the WAL (or keeping the log in memory), applying committed entries to the MVCC
// state machine and resolving each request once its entry is applied.
//
// Group commit: the write loop takes every proposal queued so far, writes them as one batch
// with one fsync, and meanwhile new proposals queue up for the next batch.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CapstanError } from '../../common/index.js';
import { decodeCommand, encodeCommand, MvccState, decodeSnapshot, encodeSnapshot, type Command } from '../mvcc/index.js';
import { RaftCore, type Entry } from '../raft/index.js';
import { Wal, type WalState } from '../raft/wal.js';
import { nodeWalFs, type WalFs } from '../raft/wal-fs.js';
import { lockDataDir } from './lock.js';
import { createStoreMetrics, type StoreMetrics } from './metrics.js';
import { TickLoop } from './tick-loop.js';
import { BackgroundSnapshots, failAll, failUnstable, LeaseExpiry, tooLarge, WriteLoop } from './write-loop.js';
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
  private readonly snapshots: BackgroundSnapshots;
  private pending: Proposal[] = [];
  private inflight = new Map<number, Waiter>();
  private readonly writeLoop = new WriteLoop(
    () => this.run(),
    (err) => this.fatal(err),
    () => this.pending.length > 0 && !this.closed,
  );
  private readonly ticker: TickLoop;
  private unlock: (() => Promise<void>) | undefined;
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
    this.clock = o.clock ?? realClock;
    this.logger = o.logger;
    this.snapshots = new BackgroundSnapshots(
      {
        raft,
        wal,
        logger: o.logger,
        every: o.snapshotEvery ?? 10_000,
        encode: () => encodeSnapshot(this.mvcc),
        compact: (index) => this.raft.compact(index),
        wake: () => {
          if (!this.closed) void this.kick();
        },
      },
      snapshotIndex,
    );
    this.ticker = new TickLoop({
      clock: this.clock,
      tickMs: o.tickMs ?? 100,
      raft,
      expiry: new LeaseExpiry(
        (cmd) => this.propose(cmd),
        (err) => this.logger?.warn({ err }, 'lease expiry failed'),
      ),
      state: () => this.mvcc,
      closed: () => this.closed,
      after: () => {
        if (this.pending.length) void this.kick();
      },
    });
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
    core.ticker.start();
    return core;
  }

  // ---- the write loop ----

  /** Proposes a command and resolves with its result once applied. */
  propose<T>(cmd: Command): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    const large = tooLarge(cmd);
    if (large) return Promise.reject(large);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ data: encodeCommand(cmd), resolve: resolve as (v: unknown) => void, reject });
      void this.kick();
    });
  }

  private kick(): Promise<void> {
    return this.writeLoop.kick();
  }

  private async run(): Promise<void> {
    for (;;) {
      await this.snapshots.release();
      if (this.pending.length && this.raft.isLeader) {
        const batch = this.pending;
        this.pending = [];
        const indexes = this.raft.propose(batch.map((p) => p.data));
        for (let i = 0; i < batch.length; i++) this.inflight.set(indexes[i]!, batch[i]!);
      }
      const ready = this.raft.ready();
      this.applyEntries(ready.committed);
      // One member: no peer will ever ask for applied entries and the WAL keeps them for a
      // restart, so the in-memory log does not hold every write again until the next snapshot.
      if (ready.committed.length) this.raft.compact(this.raft.applied);
      // Checked on every batch: under steady load every pass also has entries to write.
      if (ready.committed.length) this.snapshots.maybe();
      this.metrics.applyLag(this.raft.lastIndex - this.raft.applied);
      if (ready.entries.length || ready.hardState) {
        const last = ready.entries[ready.entries.length - 1];
        if (this.wal) {
          try {
            await this.wal.append(ready.entries, this.raft.hardState);
          } catch (err) {
            failUnstable(this.raft, this.inflight, ready.entries, err, this.logger);
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

  private fatal(err: unknown): void {
    failAll(this.inflight, this.pending, err, this.logger);
    this.pending = [];
  }

  now(): number {
    return this.clock.now();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ticker.stop();
    await this.writeLoop.active;
    await this.snapshots.settle();
    await this.snapshots.release();
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
