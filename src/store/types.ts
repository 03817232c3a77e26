// The store contract: what controllers, the scheduler and the API server rely on.
// Semantics follow etcd v3: one revision counter for the whole store, and per key
// createRevision, modRevision and version. Keys and values are bytes; helpers in
// the backends accept strings and encode them as UTF-8.

/** Largest request a backend accepts, as etcd's default --max-request-bytes (1.5 MiB). */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Revision of the write that created the key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Writes to the key since it was created; 1 after creation. */
  version: number;
  /** Lease the key is attached to, 0 when none. */
  lease: number;
}

export interface RangeOptions {
  /** Treat the key as a prefix (default for `range`). */
  prefix?: boolean;
  /** At most this many keys; `more` says when some were left out. */
  limit?: number;
  /** Read as of this revision (0 or absent: current). */
  revision?: number;
  /** Leave values out (value is an empty array). */
  keysOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Keys that matched, before the limit. */
  count: number;
  more: boolean;
  /** Store revision the read was served at. */
  revision: number;
}

export interface PutOptions {
  lease?: number;
  /** Return the previous key-value in the result. */
  prevKv?: boolean;
}

export interface PutResult {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteResult {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
export type CompareOp = '==' | '!=' | '<' | '>';

/**
 * One comparison in a transaction. A key that does not exist has version,
 * createRevision and modRevision 0 and an empty value, as in etcd.
 */
export interface Compare {
  key: string;
  target: CompareTarget;
  op: CompareOp;
  value: number | string | Uint8Array;
}

export type TxnOp =
  | { type: 'put'; key: string; value: Uint8Array | string; lease?: number }
  | { type: 'delete'; key: string; prefix?: boolean }
  | { type: 'get'; key: string; prefix?: boolean; limit?: number };

export type TxnOpResult =
  | { type: 'put'; revision: number; prevKv?: KeyValue }
  | { type: 'delete'; deleted: number; prevKvs: KeyValue[] }
  | { type: 'get'; kvs: KeyValue[]; count: number; more: boolean };

export interface TxnRequest {
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (unchanged when it only read). */
  revision: number;
  results: TxnOpResult[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** All events of one revision arrive in one batch, never split. */
export interface WatchBatch {
  revision: number;
  events: WatchEvent[];
}

export interface WatchOptions {
  /** Deliver every event from this revision on (inclusive). Absent: only new ones. */
  fromRevision?: number;
  prefix?: boolean;
  /** Include the previous value in events. */
  prevKv?: boolean;
  signal?: AbortSignal;
}

/**
 * An async iterator of batches. Ends when `close()` is called or the signal aborts; throws a
 * CapstanError CAPSTAN_ERR_STORE_COMPACTED when the start revision was compacted.
 */
export interface Watch extends AsyncIterable<WatchBatch> {
  close(): void;
}

export interface LeaseGrant {
  id: number;
  ttlSeconds: number;
}

export interface KV {
  get(key: string, options?: { revision?: number }): Promise<KeyValue | undefined>;
  range(key: string, options?: RangeOptions): Promise<RangeResult>;
  put(key: string, value: Uint8Array | string, options?: PutOptions): Promise<PutResult>;
  delete(key: string, options?: { prefix?: boolean }): Promise<DeleteResult>;
  txn(request: TxnRequest): Promise<TxnResult>;
  watch(key: string, options?: WatchOptions): Watch;
  /** Drop history before `revision`; reads and watches below it fail as compacted. */
  compact(revision: number): Promise<void>;

  grant(ttlSeconds: number): Promise<LeaseGrant>;
  /** Refresh a lease; fails with CAPSTAN_ERR_STORE_LEASE_NOT_FOUND once it has expired. */
  keepAlive(leaseId: number): Promise<LeaseGrant>;
  revoke(leaseId: number): Promise<void>;

  /** Current store revision. */
  revision(): Promise<number>;
  close(): Promise<void>;
}
