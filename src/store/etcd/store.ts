// The KV contract on an etcd v3 cluster, through the etcd3 client.
//
// Retries: etcd3 runs every unary call through one `faultHandling.global` policy, by default
// three attempts on any transport error. For a write that is wrong: when the connection drops
// after etcd received the request, the retry applies a txn or a put a second time (a second
// revision, a compare that now fails, a lost prevKv). So this store holds two etcd3 clients on
// the same endpoints (grpc-js shares the connections between them):
//   - `reads` (range, keep-alive, watch streams) retries any transport failure: reads are
//     idempotent;
//   - `writes` (put, delete, txn, compact, lease grant and revoke) repeats a call only when
//     grpc-js had no connection to send it on, so the request provably never left. Any other
//     transport failure is reported as CAPSTAN_ERR_STORE_UNAVAILABLE with `outcome: 'unknown'`
//     in its context; the caller re-reads and decides.
//
// Limits: the 1.5 MiB check runs here, on keys and values, as in the embedded store. etcd's own
// --max-request-bytes (default 1.5 MiB) counts the whole encoded request, so give etcd a little
// more (startEtcdCluster uses +64 KiB) for every request the contract accepts to fit; if it
// refuses one anyway, that maps to the same CAPSTAN_ERR_STORE_TOO_LARGE. etcd also caps a txn
// at --max-txn-ops (default 128) operations, reported as CAPSTAN_ERR_STORE_TOO_LARGE too.

import { randomInt } from 'node:crypto';
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, type IOptions, type IRequestOp, type IResponseHeader, type IResponseOp } from 'etcd3';
import { CapstanError, silentLogger, type Logger } from '../../common/index.js';
import type {
  Compare,
  DeleteResult,
  KV,
  KeyValue,
  LeaseGrant,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  TxnOp,
  TxnOpResult,
  TxnRequest,
  TxnResult,
  Watch,
  WatchOptions,
} from '../types.js';
import { KeySpace, checkSize, headerRevision, num, putSize, toBuffer, txnSize } from './codec.js';
import { mapEtcdError, redactEndpoints, type ErrorScope } from './errors.js';
import { breakerPolicy, passPolicy, retryPolicy, writePolicy } from './policy.js';
import { EtcdWatch, type WatchStream } from './watch.js';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`; `https://` uses TLS. */
  endpoints: string[];
  /** Every key lives under this prefix in etcd, so several installs can share a cluster. */
  prefix?: string;
  auth?: { username: string; password: string };
  logger?: Logger;
  /** Deadline for each unary call (default 5000 ms). */
  timeoutMs?: number;
  /** Lease ids this client asks etcd for; default a random id below 2^53. */
  leaseId?: () => number;
}

const COMPARE_RESULT = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;
const COMPARE_TARGET = {
  value: 'Value',
  version: 'Version',
  createRevision: 'Create',
  modRevision: 'Mod',
  lease: 'Lease',
} as const;

/** etcd lease ids are int64; we choose ids that a JS number holds exactly. */
function randomLeaseId(): number {
  return randomInt(1, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects to etcd and checks that it answers; fails with CAPSTAN_ERR_STORE_UNAVAILABLE if not. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<KV> {
  const store = new EtcdStore(options);
  try {
    await store.revision();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export class EtcdStore implements KV {
  private readonly reads: Etcd3;
  private readonly writes: Etcd3;
  private readonly keys: KeySpace;
  private readonly scope: ErrorScope;
  private readonly logger: Logger;
  private readonly leaseId: () => number;
  private readonly timeoutMs: number;
  private readonly watches = new Set<EtcdWatch>();
  /** Highest revision any response showed: where a watch without fromRevision starts. */
  private seen = 0;
  private closed = false;

  constructor(options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', 'etcd needs at least one endpoint');
    }
    this.keys = new KeySpace(options.prefix ?? '');
    this.scope = { endpoints: [...options.endpoints] };
    this.logger = (options.logger ?? silentLogger()).child({ component: 'store-etcd' });
    this.leaseId = options.leaseId ?? randomLeaseId;
    const timeoutMs = options.timeoutMs ?? 5000;
    this.timeoutMs = timeoutMs;
    const multi = options.endpoints.length > 1;
    const host = (endpoint: string) => (multi ? breakerPolicy(endpoint, 3, 2000, Date.now) : passPolicy());
    const base: IOptions = {
      hosts: options.endpoints,
      auth: options.auth,
      dialTimeout: timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // Ranges over many large values can exceed grpc-js's 4 MiB receive default.
      // Reconnect quickly after a blip (grpc-js starts at 1 s and backs off to 2 min).
      grpcOptions: {
        'grpc.max_receive_message_length': -1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 5000,
      },
    };
    const backoff = { attempts: Math.max(3, options.endpoints.length + 1), initialDelayMs: 50, maxDelayMs: 1000, sleep };
    this.reads = new Etcd3({ ...base, faultHandling: { global: retryPolicy(backoff), host } });
    this.writes = new Etcd3({ ...base, faultHandling: { global: writePolicy(backoff), host } });
    this.logger.debug({ endpoints: redactEndpoints(options.endpoints), prefix: options.prefix ?? '' }, 'etcd store opened');
  }

  async get(key: string, options: { revision?: number } = {}): Promise<KeyValue | undefined> {
    this.open();
    const request = { key: this.keys.key(key), revision: options.revision ?? 0 };
    const res = await this.call('get', false, () => this.reads.kv.range(request));
    this.see(res.header);
    return res.kvs.length > 0 ? this.keys.kv(res.kvs[0]) : undefined;
  }

  async range(key: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.open();
    const request = {
      ...this.keys.range(key, options.prefix ?? true),
      limit: options.limit && options.limit > 0 ? options.limit : 0,
      revision: options.revision ?? 0,
      keys_only: options.keysOnly ?? false,
    };
    const res = await this.call('range', false, () => this.reads.kv.range(request));
    this.see(res.header);
    return {
      kvs: res.kvs.map((kv) => this.keys.kv(kv)),
      count: num(res.count),
      more: res.more,
      revision: headerRevision(res.header),
    };
  }

  async put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<PutResult> {
    this.open();
    const request = {
      key: this.keys.key(key),
      value: toBuffer(value),
      lease: options.lease ?? 0,
      prev_kv: options.prevKv ?? false,
    };
    checkSize(putSize(key, value), 'put');
    const res = await this.call('put', true, () => this.writes.kv.put(request));
    this.see(res.header);
    const result: PutResult = { revision: headerRevision(res.header) };
    if (options.prevKv && res.prev_kv) result.prevKv = this.keys.kv(res.prev_kv);
    return result;
  }

  async delete(key: string, options: { prefix?: boolean } = {}): Promise<DeleteResult> {
    this.open();
    const request = { ...this.keys.range(key, options.prefix ?? false), prev_kv: true };
    const res = await this.call('delete', true, () => this.writes.kv.deleteRange(request));
    this.see(res.header);
    return {
      revision: headerRevision(res.header),
      deleted: num(res.deleted),
      prevKvs: (res.prev_kvs ?? []).map((kv) => this.keys.kv(kv)),
    };
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.open();
    const wire = {
      compare: request.compare.map((c) => this.compare(c)),
      success: request.success.map((op) => this.op(op)),
      failure: request.failure.map((op) => this.op(op)),
    };
    checkSize(txnSize(request), 'txn');
    const res = await this.call('txn', true, () => this.writes.kv.txn(wire));
    this.see(res.header);
    const revision = headerRevision(res.header);
    const ops = res.succeeded ? request.success : request.failure;
    return {
      succeeded: res.succeeded,
      revision,
      results: (res.responses ?? []).map((r, i) => this.opResult(ops[i], r, revision)),
    };
  }

  watch(key: string, options: WatchOptions = {}): Watch {
    this.open();
    const watch = new EtcdWatch(key, options, {
      openStream: async () => {
        this.open();
        return (await this.reads.watchClient.watch()) as unknown as WatchStream;
      },
      keys: this.keys,
      scope: this.scope,
      logger: this.logger,
      startRevision: () => (this.seen > 0 ? this.seen + 1 : 0),
      backoff: { initialMs: 50, maxMs: 2000 },
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      onClose: (w) => this.watches.delete(w),
    });
    if (!watch.closed) this.watches.add(watch);
    return watch;
  }

  async compact(revision: number): Promise<void> {
    this.open();
    // physical: return once etcd has applied the compaction, so reads below fail at once.
    const res = await this.call('compact', true, () => this.writes.kv.compact({ revision, physical: true }));
    this.see(res.header);
  }

  async grant(ttlSeconds: number): Promise<LeaseGrant> {
    this.open();
    // We pick the id (etcd's own are full int64, beyond a JS number). A clash with an
    // existing lease is reported by etcd, and we draw again.
    for (let attempt = 1; ; attempt++) {
      const id = this.leaseId();
      try {
        const res = await this.call('grant', true, () => this.writes.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: id }));
        this.see(res.header);
        return { id: num(res.ID), ttlSeconds: num(res.TTL) };
      } catch (err) {
        const clash = err instanceof CapstanError && /lease already exists/.test(String((err.cause as Error)?.message));
        if (!clash || attempt >= 3) throw err;
      }
    }
  }

  async keepAlive(leaseId: number): Promise<LeaseGrant> {
    this.open();
    const ttl = await this.call('keepAlive', false, () => this.keepAliveOnce(leaseId, this.timeoutMs));
    if (ttl <= 0) {
      throw new CapstanError('CAPSTAN_ERR_STORE_LEASE_NOT_FOUND', `lease ${leaseId} does not exist or has expired`, {
        context: { leaseId },
      });
    }
    return { id: leaseId, ttlSeconds: ttl };
  }

  async revoke(leaseId: number): Promise<void> {
    this.open();
    const res = await this.call('revoke', true, () => this.writes.leaseClient.leaseRevoke({ ID: leaseId }));
    this.see(res.header);
  }

  async revision(): Promise<number> {
    this.open();
    const request = { ...this.keys.range('', true), limit: 1, count_only: true };
    const res = await this.call('revision', false, () => this.reads.kv.range(request));
    this.see(res.header);
    return headerRevision(res.header);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of [...this.watches]) watch.close();
    this.reads.close();
    this.writes.close();
  }

  private open(): void {
    if (this.closed) throw new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the etcd store is closed');
  }

  private see(header: IResponseHeader | undefined): void {
    const revision = headerRevision(header);
    if (revision > this.seen) this.seen = revision;
  }

  private async call<T>(op: string, write: boolean, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const mapped = mapEtcdError(err, op, this.scope, write);
      this.logger.debug({ op, code: mapped.code, err: mapped.message }, 'etcd call failed');
      throw mapped;
    }
  }

  /** One keep-alive round trip on a short-lived stream; resolves to the new TTL (0: gone). */
  private async keepAliveOnce(leaseId: number, timeoutMs: number): Promise<number> {
    const stream = await this.reads.leaseClient.leaseKeepAlive();
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stream.cancel();
        fn();
      };
      // Streams carry no deadline, so bound the round trip here. Deadline errors are transport errors.
      const timer = setTimeout(() => done(() => reject(new GRPCDeadlineExceededError('keep-alive got no answer in time'))), timeoutMs);
      stream.on('data', (res) => {
        this.see(res.header);
        done(() => resolve(num(res.TTL)));
      });
      stream.on('error', (err: Error) => done(() => reject(err)));
      stream.on('end', () => done(() => reject(new GRPCUnavailableError('keep-alive stream ended'))));
      stream.write({ ID: leaseId });
    });
  }

  private compare(c: Compare): NonNullable<Parameters<Etcd3['kv']['txn']>[0]['compare']>[number] {
    const target = COMPARE_TARGET[c.target];
    const result = COMPARE_RESULT[c.op];
    if (target === undefined || result === undefined) {
      throw new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `unknown compare ${c.target} ${c.op}`, { context: { ...c } });
    }
    const wire = { key: this.keys.key(c.key), target, result };
    if (c.target === 'value') {
      const value = typeof c.value === 'number' ? String(c.value) : c.value;
      return { ...wire, value: toBuffer(value) };
    }
    const n = typeof c.value === 'number' ? c.value : Number(typeof c.value === 'string' ? c.value : NaN);
    if (!Number.isInteger(n)) {
      throw new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `compare on ${c.target} needs an integer`, {
        context: { key: c.key, target: c.target },
      });
    }
    if (c.target === 'version') return { ...wire, version: n };
    if (c.target === 'createRevision') return { ...wire, create_revision: n };
    if (c.target === 'modRevision') return { ...wire, mod_revision: n };
    return { ...wire, lease: n };
  }

  private op(op: TxnOp): IRequestOp {
    switch (op.type) {
      case 'put':
        return { request_put: { key: this.keys.key(op.key), value: toBuffer(op.value), lease: op.lease ?? 0 } };
      case 'delete':
        return { request_delete_range: { ...this.keys.range(op.key, op.prefix ?? false), prev_kv: true } };
      case 'get':
        return {
          request_range: {
            ...this.keys.range(op.key, op.prefix ?? false),
            limit: op.limit && op.limit > 0 ? op.limit : 0,
          },
        };
    }
  }

  private opResult(op: TxnOp, res: IResponseOp, revision: number): TxnOpResult {
    switch (op.type) {
      case 'put':
        return { type: 'put', revision };
      case 'delete': {
        const r = res.response_delete_range;
        return { type: 'delete', deleted: num(r?.deleted), prevKvs: (r?.prev_kvs ?? []).map((kv) => this.keys.kv(kv)) };
      }
      case 'get': {
        const r = res.response_range;
        return { type: 'get', kvs: (r?.kvs ?? []).map((kv) => this.keys.kv(kv)), count: num(r?.count), more: r?.more ?? false };
      }
    }
  }
}

