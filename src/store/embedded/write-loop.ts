// Parts of the write loop shared by the single-member store and the members of a Raft group.
// The loop itself runs one pass at a time, started by `kick()`. Snapshots in the background:
// every `every` applied entries the state is encoded (consistent, synchronous) and
// written beside the WAL while the write loop goes on; the loop then drops the log the
// snapshot covers (`release`, between WAL writes). Also the size check and the failure
// paths both write loops share.
import type { Logger } from 'pino';
import { CapstanError } from '../../common/index.js';
import { commandSize, type Command, type MvccState } from '../mvcc/index.js';
import type { Entry, RaftCore, Wal } from '../raft/index.js';
import { MAX_REQUEST_BYTES } from '../types.js';

export interface SnapshotHost {
  raft: RaftCore;
  wal: Wal | undefined;
  logger: Logger | undefined;
  /** Take one every this many applied entries. */
  every: number;
  /** The state as bytes, at the applied index. */
  encode(): Uint8Array;
  /** Drops the in-memory log up to `index` (once durable, or at once without a WAL). */
  compact(index: number): void;
  /** Wakes the write loop (to release a snapshot that became durable). */
  wake(): void;
}

export class BackgroundSnapshots {
  /** Index of the last snapshot taken (or restored). */
  index: number;
  private writing: Promise<void> | undefined;
  private done: number | undefined;

  constructor(
    private readonly host: SnapshotHost,
    index: number,
  ) {
    this.index = index;
  }

  /** Starts one when `every` entries were applied since the last and none is being written. */
  maybe(): void {
    const { raft, wal } = this.host;
    const applied = raft.applied;
    if (applied - this.index < this.host.every || this.writing) return;
    this.index = applied;
    if (!wal) {
      this.host.compact(applied); // in memory: only bound the log
      return;
    }
    // Encode after the current batch's callers have had their answers; the index is read
    // at the same moment as the state, so the two always match.
    this.writing = new Promise<void>((r) => setImmediate(r))
      .then(() => {
        const index = raft.applied;
        this.index = index;
        const data = this.host.encode();
        return wal.writeSnapshot(index, raft.termAt(index)!, data).then(() => ({ index, bytes: data.length }));
      })
      .then(
        ({ index, bytes }) => {
          this.host.logger?.debug({ index, bytes }, 'snapshot saved');
          this.done = index;
          this.host.wake();
        },
        // Not fatal: the log still holds everything; the next snapshot tries again.
        (err: unknown) => this.host.logger?.warn({ err }, 'snapshot failed'),
      )
      .finally(() => {
        this.writing = undefined;
      });
  }

  /** Drops segments a durable snapshot covers; runs inside the write loop, between writes. */
  async release(): Promise<void> {
    const index = this.done;
    const wal = this.host.wal;
    if (index === undefined || !wal) return;
    this.done = undefined;
    try {
      await wal.releaseBefore(index);
    } catch (err) {
      this.host.logger?.warn({ err, index }, 'could not drop old WAL segments');
    }
    this.host.compact(index);
  }

  /** Waits for a snapshot being written. */
  async settle(): Promise<void> {
    if (this.writing) await this.writing;
  }
}

/** The error for a command over the request limit, or undefined. */
export function tooLarge(cmd: Command): CapstanError | undefined {
  const bytes = commandSize(cmd);
  if (bytes <= MAX_REQUEST_BYTES) return undefined;
  return new CapstanError('CAPSTAN_ERR_STORE_TOO_LARGE', `the request is ${bytes} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`, {
    context: { bytes, limit: MAX_REQUEST_BYTES },
  });
}

/** A batch the WAL could not write: its requests fail and the core forgets its entries. */
export function failUnstable(raft: RaftCore, inflight: Map<number, { reject(err: unknown): void }>, entries: Entry[], err: unknown, logger: Logger | undefined): void {
  logger?.error({ err }, 'write-ahead log write failed; refusing the batch');
  raft.dropUnstable();
  for (const e of entries) {
    const w = inflight.get(e.index);
    if (!w) continue;
    inflight.delete(e.index);
    w.reject(err);
  }
}

/** The write loop failed: every waiting request gets the error. */
export function failAll(
  inflight: Map<number, { reject(err: unknown): void }>,
  pending: { reject(err: unknown): void }[],
  err: unknown,
  logger: Logger | undefined,
): void {
  logger?.error({ err }, 'the store write loop failed');
  const e = err instanceof CapstanError ? err : new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', 'the store write loop failed', { cause: err });
  for (const w of inflight.values()) w.reject(e);
  inflight.clear();
  for (const p of pending) p.reject(e);
}

/** Runs `body` unless it is running; `kick()` resolves when it has nothing left to do. */
export class WriteLoop {
  private running: Promise<void> | undefined;

  constructor(
    private readonly body: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
    /** Asked when a pass ends: requests may have queued between its last check and now. */
    private readonly again: () => boolean,
  ) {}

  kick(): Promise<void> {
    if (!this.running) this.running = this.guarded();
    return this.running;
  }

  /** The pass in progress, if any. */
  get active(): Promise<void> | undefined {
    return this.running;
  }

  private async guarded(): Promise<void> {
    try {
      await this.body();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = undefined;
      if (this.again()) void this.kick();
    }
  }
}

/**
 * Lease expiry, decided by the leader from its clock and put into the log as a command, so
 * every member applies the same expiry. At most one such proposal at a time.
 */
export class LeaseExpiry {
  private busy = false;

  constructor(
    private readonly propose: (cmd: Command) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** On the leader's tick: proposes expiry when a lease is due. */
  check(mvcc: MvccState, now: number): void {
    const next = mvcc.nextLeaseExpiry();
    if (next === undefined || next > now || this.busy) return;
    this.busy = true;
    this.propose({ type: 'leaseExpire', now })
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.busy = false;
      });
  }
}
