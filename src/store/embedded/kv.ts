// The KV contract over a store core (the embedded one, or a member of a Raft group):
// validation, then reads from the MVCC state and writes through the log.
import { CapstanError } from '../../common/index.js';
import { toBytes, toCommandCompare, type Command, type CommandOp, type MvccState } from '../mvcc/index.js';
import type {
  DeleteResult,
  KV,
  KeyValue,
  LeaseGrant,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  TxnOp,
  TxnRequest,
  TxnResult,
  Watch,
  WatchOptions,
} from '../types.js';
import { closedError, EmbeddedCore, type EmbeddedStoreOptions } from './store.js';
import type { WatchHub } from './watch.js';

/** What the KV contract needs from a store core. */
export interface StoreCore {
  readonly mvcc: MvccState;
  readonly hub: WatchHub;
  readonly closed: boolean;
  /** Proposes a command and resolves with its result once applied here. */
  propose<T>(cmd: Command): Promise<T>;
  now(): number;
  close(): Promise<void>;
  /**
   * Resolves once the local state holds every write acknowledged before the call (a
   * linearizable read may then be served locally). Absent: reads are served as they are.
   */
  readBarrier?(): Promise<void>;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CapstanError('CAPSTAN_ERR_STORE_INVALID_KEY', 'the key is empty', { context: { key } });
  }
}

/** Runs `fn`, turning a synchronous throw into a rejected promise. */
async function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  return fn();
}

function toOp(op: TxnOp): CommandOp {
  checkKey(op.key);
  switch (op.type) {
    case 'put':
      return { type: 'put', key: op.key, value: toBytes(op.value), lease: op.lease ?? 0 };
    case 'delete':
      return { type: 'delete', key: op.key, prefix: op.prefix ?? false };
    case 'get':
      return { type: 'get', key: op.key, prefix: op.prefix ?? false, limit: op.limit ?? 0 };
  }
}

class CoreKV implements KV {
  constructor(private readonly core: StoreCore) {}

  private read<T>(fn: () => T): Promise<T> {
    return attempt(async () => {
      if (this.core.closed) throw closedError();
      if (this.core.readBarrier) await this.core.readBarrier();
      return fn();
    });
  }

  get(key: string, options: { revision?: number } = {}): Promise<KeyValue | undefined> {
    return this.read(() => {
      checkKey(key);
      return this.core.mvcc.range(key, { prefix: false, revision: options.revision }).kvs[0];
    });
  }

  range(key: string, options: RangeOptions = {}): Promise<RangeResult> {
    return this.read(() => {
      checkKey(key);
      return this.core.mvcc.range(key, options);
    });
  }

  put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<PutResult> {
    return attempt(async () => {
      checkKey(key);
      const r = await this.core.propose<PutResult>({ type: 'put', key, value: toBytes(value), lease: options.lease ?? 0 });
      return options.prevKv || r.prevKv === undefined ? r : { revision: r.revision };
    });
  }

  delete(key: string, options: { prefix?: boolean } = {}): Promise<DeleteResult> {
    return attempt(() => {
      checkKey(key);
      return this.core.propose<DeleteResult>({ type: 'delete', key, prefix: options.prefix ?? false });
    });
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return attempt(() => {
      for (const c of request.compare) checkKey(c.key);
      return this.core.propose<TxnResult>({
        type: 'txn',
        compare: request.compare.map(toCommandCompare),
        success: request.success.map(toOp),
        failure: request.failure.map(toOp),
      });
    });
  }

  watch(key: string, options: WatchOptions = {}): Watch {
    const core = this.core;
    const spec = {
      key,
      prefix: options.prefix ?? false,
      prevKv: options.prevKv ?? false,
      fromRevision: options.fromRevision && options.fromRevision > 0 ? options.fromRevision : core.mvcc.revision + 1,
    };
    return core.hub.open(
      spec,
      () => {
        if (core.closed) throw closedError();
        checkKey(key);
        return options.fromRevision ? core.mvcc.batchesFrom(spec.fromRevision) : [];
      },
      options.signal,
    );
  }

  compact(revision: number): Promise<void> {
    return this.core.propose<void>({ type: 'compact', revision });
  }

  grant(ttlSeconds: number): Promise<LeaseGrant> {
    return this.core.propose<LeaseGrant>({ type: 'leaseGrant', ttlSeconds, now: this.core.now() });
  }

  keepAlive(leaseId: number): Promise<LeaseGrant> {
    return this.core.propose<LeaseGrant>({ type: 'leaseKeepAlive', id: leaseId, now: this.core.now() });
  }

  revoke(leaseId: number): Promise<void> {
    return this.core.propose<void>({ type: 'leaseRevoke', id: leaseId });
  }

  revision(): Promise<number> {
    return this.read(() => this.core.mvcc.revision);
  }

  close(): Promise<void> {
    return this.core.close();
  }
}

/**
 * Opens the embedded store: in memory without `dir`, otherwise durable in `dir` (WAL and
 * snapshots). Resolves once the log has been replayed.
 */
export async function openEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<KV> {
  return new CoreKV(await EmbeddedCore.open(options));
}

/** The KV contract over any store core. */
export function kvOverCore(core: StoreCore): KV {
  return new CoreKV(core);
}
