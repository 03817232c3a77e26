// The MVCC state machine: pure, deterministic and in memory. It applies decoded commands in
// log order and answers reads. Every key keeps its history of writes (for reads at a past
// revision), and the store keeps the per-revision event batches (for watch replay) until
// they are compacted. Nothing here reads a clock: lease time arrives inside commands.
import { CapstanError } from '../../common/index.js';
import type {
  DeleteResult,
  KeyValue,
  LeaseGrant,
  PutResult,
  RangeOptions,
  RangeResult,
  TxnOpResult,
  TxnResult,
  WatchBatch,
  WatchEvent,
} from '../types.js';
import { ownBytes } from './bytes.js';
import type { Command, CommandCompare, CommandOp } from './command.js';
import { SortedKeys } from './sorted-keys.js';

/** One write to a key: a put, or a deletion (tombstone). */
export interface HistoryEntry {
  rev: number;
  /** Position of the event within its revision's batch. */
  sub: number;
  kv: KeyValue;
  deleted: boolean;
}

export interface Lease {
  id: number;
  ttlSeconds: number;
  /** Milliseconds on the leader's clock, as carried by the commands. */
  expiresAt: number;
  keys: Set<string>;
}

export type ApplyOutcome =
  | { ok: true; result: unknown; batches: WatchBatch[] }
  | { ok: false; error: CapstanError; batches: WatchBatch[] };

const EMPTY = new Uint8Array(0);

function lastOf<T>(a: T[]): T | undefined {
  return a[a.length - 1];
}

/** Index of the last entry with rev <= revision, or -1. */
function entryAt(h: HistoryEntry[], revision: number): number {
  let lo = 0;
  let hi = h.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (h[mid]!.rev <= revision) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function compareOne(c: CommandCompare, kv: KeyValue | undefined): boolean {
  let d: number;
  if (c.target === 'value') {
    // As etcd: a value compare on a missing key always fails.
    if (!kv) return false;
    d = Buffer.compare(kv.value, c.value as Uint8Array);
  } else {
    const actual = kv ? kv[c.target] : 0;
    const want = c.value as number;
    d = actual === want ? 0 : actual < want ? -1 : 1;
  }
  switch (c.op) {
    case '==':
      return d === 0;
    case '!=':
      return d !== 0;
    case '<':
      return d < 0;
    case '>':
      return d > 0;
  }
}

export class MvccState {
  /** Current store revision; 1 for an empty store, as etcd. */
  revision = 1;
  compactRevision = 0;
  nextLeaseId = 1;
  liveKeys = 0;
  liveBytes = 0;
  readonly index = new SortedKeys();
  readonly histories = new Map<string, HistoryEntry[]>();
  readonly leases = new Map<number, Lease>();
  /** Event batches by ascending revision, from the compaction point on. */
  history: WatchBatch[] = [];

  // The write in progress (one revision).
  private writeEvents: WatchEvent[] = [];

  // ---- reads ----

  current(key: string): KeyValue | undefined {
    const e = lastOf(this.histories.get(key) ?? []);
    return e && !e.deleted ? e.kv : undefined;
  }

  private checkRevision(revision: number): void {
    if (revision > this.revision) {
      throw new CapstanError('CAPSTAN_ERR_STORE_FUTURE_REVISION', `revision ${revision} is newer than the store (${this.revision})`, {
        context: { revision, current: this.revision },
      });
    }
    if (revision < this.compactRevision) {
      throw new CapstanError('CAPSTAN_ERR_STORE_COMPACTED', `revision ${revision} has been compacted (compacted at ${this.compactRevision})`, {
        context: { revision, compactRevision: this.compactRevision },
      });
    }
  }

  range(key: string, options: RangeOptions = {}): RangeResult {
    const rev = options.revision && options.revision > 0 ? options.revision : 0;
    if (rev) this.checkRevision(rev);
    const prefix = options.prefix ?? true;
    const limit = options.limit && options.limit > 0 ? options.limit : Infinity;
    const kvs: KeyValue[] = [];
    let count = 0;
    const visit = (k: string) => {
      const h = this.histories.get(k);
      if (!h) return;
      let e: HistoryEntry | undefined;
      if (rev) {
        const i = entryAt(h, rev);
        e = i >= 0 ? h[i] : undefined;
      } else e = lastOf(h);
      if (!e || e.deleted) return;
      count++;
      if (kvs.length < limit) kvs.push(options.keysOnly ? { ...e.kv, value: EMPTY } : { ...e.kv });
    };
    if (prefix) {
      for (const k of this.index.from(key)) {
        if (!k.startsWith(key)) break;
        visit(k);
      }
    } else visit(key);
    return { kvs, count, more: count > kvs.length, revision: this.revision };
  }

  /** Event batches from `fromRevision` on; throws CAPSTAN_ERR_STORE_COMPACTED below the compaction point. */
  batchesFrom(fromRevision: number): WatchBatch[] {
    if (fromRevision < this.compactRevision) this.checkRevision(fromRevision);
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.revision < fromRevision) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** The earliest lease deadline, so the leader knows when to propose an expiry. */
  nextLeaseExpiry(): number | undefined {
    let min: number | undefined;
    for (const l of this.leases.values()) if (min === undefined || l.expiresAt < min) min = l.expiresAt;
    return min;
  }

  // ---- writes ----

  private putKey(key: string, data: Uint8Array, lease: number): { kv: KeyValue; prev?: KeyValue } {
    const value = ownBytes(data);
    const rev = this.revision + 1;
    let h = this.histories.get(key);
    if (!h) {
      h = [];
      this.histories.set(key, h);
      this.index.insert(key);
    }
    const last = lastOf(h);
    const prev = last && !last.deleted ? last.kv : undefined;
    const kv: KeyValue = {
      key,
      value,
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      lease,
    };
    h.push({ rev, sub: this.writeEvents.length, kv, deleted: false });
    if (prev) {
      this.liveBytes += value.length - prev.value.length;
      if (prev.lease && prev.lease !== lease) this.leases.get(prev.lease)?.keys.delete(key);
    } else {
      this.liveKeys++;
      this.liveBytes += Buffer.byteLength(key) + value.length;
    }
    if (lease) this.leases.get(lease)?.keys.add(key);
    this.writeEvents.push(prev ? { type: 'put', kv, prevKv: prev } : { type: 'put', kv });
    return { kv, prev };
  }

  private deleteKey(key: string): KeyValue | undefined {
    const h = this.histories.get(key);
    const last = h && lastOf(h);
    if (!h || !last || last.deleted) return undefined;
    const prev = last.kv;
    const rev = this.revision + 1;
    const kv: KeyValue = { key, value: EMPTY, createRevision: 0, modRevision: rev, version: 0, lease: 0 };
    h.push({ rev, sub: this.writeEvents.length, kv, deleted: true });
    this.liveKeys--;
    this.liveBytes -= Buffer.byteLength(key) + prev.value.length;
    if (prev.lease) this.leases.get(prev.lease)?.keys.delete(key);
    this.writeEvents.push({ type: 'delete', kv, prevKv: prev });
    return prev;
  }

  private deleteRange(key: string, prefix: boolean): KeyValue[] {
    const keys: string[] = [];
    if (prefix) {
      for (const k of this.index.from(key)) {
        if (!k.startsWith(key)) break;
        keys.push(k);
      }
    } else keys.push(key);
    const prevKvs: KeyValue[] = [];
    for (const k of keys) {
      const prev = this.deleteKey(k);
      if (prev) prevKvs.push(prev);
    }
    return prevKvs;
  }

  /** Closes the write in progress: one new revision and batch when anything changed. */
  private commitWrite(batches: WatchBatch[]): void {
    if (this.writeEvents.length === 0) return;
    this.revision++;
    const batch: WatchBatch = { revision: this.revision, events: this.writeEvents };
    this.writeEvents = [];
    this.history.push(batch);
    batches.push(batch);
  }

  private leaseMissing(id: number): CapstanError {
    return new CapstanError('CAPSTAN_ERR_STORE_LEASE_NOT_FOUND', `lease ${id} does not exist or has expired`, { context: { lease: id } });
  }

  private revokeLease(id: number, batches: WatchBatch[]): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    // Sorted so that every member deletes in the same order.
    for (const key of [...lease.keys].sort()) this.deleteKey(key);
    this.leases.delete(id);
    this.commitWrite(batches);
  }

  private applyOp(op: CommandOp): TxnOpResult {
    switch (op.type) {
      case 'put':
        this.putKey(op.key, op.value, op.lease);
        return { type: 'put', revision: this.revision + 1 };
      case 'delete': {
        const prevKvs = this.deleteRange(op.key, op.prefix);
        return { type: 'delete', deleted: prevKvs.length, prevKvs };
      }
      case 'get': {
        const r = this.range(op.key, { prefix: op.prefix, limit: op.limit });
        return { type: 'get', kvs: r.kvs, count: r.count, more: r.more };
      }
    }
  }

  /** Applies one committed command. Failures leave the state unchanged. */
  apply(cmd: Command): ApplyOutcome {
    const batches: WatchBatch[] = [];
    try {
      const result = this.applyInner(cmd, batches);
      return { ok: true, result, batches };
    } catch (err) {
      this.writeEvents = [];
      if (err instanceof CapstanError) return { ok: false, error: err, batches };
      throw err;
    }
  }

  private applyInner(cmd: Command, batches: WatchBatch[]): unknown {
    switch (cmd.type) {
      case 'put': {
        if (cmd.lease && !this.leases.has(cmd.lease)) throw this.leaseMissing(cmd.lease);
        const { prev } = this.putKey(cmd.key, cmd.value, cmd.lease);
        this.commitWrite(batches);
        const r: PutResult = { revision: this.revision };
        if (prev) r.prevKv = prev;
        return r;
      }
      case 'delete': {
        const prevKvs = this.deleteRange(cmd.key, cmd.prefix);
        this.commitWrite(batches);
        const r: DeleteResult = { revision: this.revision, deleted: prevKvs.length, prevKvs };
        return r;
      }
      case 'txn': {
        const succeeded = cmd.compare.every((c) => compareOne(c, this.current(c.key)));
        const ops = succeeded ? cmd.success : cmd.failure;
        for (const op of ops) if (op.type === 'put' && op.lease && !this.leases.has(op.lease)) throw this.leaseMissing(op.lease);
        const results = ops.map((op) => this.applyOp(op));
        this.commitWrite(batches);
        const r: TxnResult = { succeeded, revision: this.revision, results };
        return r;
      }
      case 'compact':
        this.compact(cmd.revision);
        return undefined;
      case 'leaseGrant': {
        const id = this.nextLeaseId++;
        const ttlSeconds = Math.max(1, Math.ceil(cmd.ttlSeconds));
        this.leases.set(id, { id, ttlSeconds, expiresAt: cmd.now + ttlSeconds * 1000, keys: new Set() });
        const g: LeaseGrant = { id, ttlSeconds };
        return g;
      }
      case 'leaseKeepAlive': {
        const lease = this.leases.get(cmd.id);
        if (!lease || lease.expiresAt <= cmd.now) throw this.leaseMissing(cmd.id);
        lease.expiresAt = cmd.now + lease.ttlSeconds * 1000;
        const g: LeaseGrant = { id: lease.id, ttlSeconds: lease.ttlSeconds };
        return g;
      }
      case 'leaseRevoke':
        if (!this.leases.has(cmd.id)) throw this.leaseMissing(cmd.id);
        this.revokeLease(cmd.id, batches);
        return undefined;
      case 'leaseExpire': {
        const expired = [...this.leases.values()].filter((l) => l.expiresAt <= cmd.now).map((l) => l.id);
        for (const id of expired.sort((a, b) => a - b)) this.revokeLease(id, batches);
        return expired.length;
      }
      case 'leasePromote':
        for (const l of this.leases.values()) l.expiresAt = Math.max(l.expiresAt, cmd.now + l.ttlSeconds * 1000);
        return this.leases.size;
    }
  }

  private compact(revision: number): void {
    if (revision <= this.compactRevision) {
      throw new CapstanError('CAPSTAN_ERR_STORE_COMPACTED', `revision ${revision} has already been compacted`, {
        context: { revision, compactRevision: this.compactRevision },
      });
    }
    this.checkRevision(revision);
    this.compactRevision = revision;
    this.history = this.batchesFrom(revision);
    // Each key keeps its newest write at or before the compaction point (unless that is an
    // older deletion) and everything after it.
    const drop: string[] = [];
    for (const [key, h] of this.histories) {
      const i = entryAt(h, revision);
      if (i < 0) continue;
      const keepFrom = h[i]!.deleted && h[i]!.rev < revision ? i + 1 : i;
      if (keepFrom > 0) h.splice(0, keepFrom);
      if (h.length === 0) drop.push(key);
    }
    for (const key of drop) {
      this.histories.delete(key);
      this.index.remove(key);
    }
  }
}
