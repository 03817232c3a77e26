// The store: the KV contract, the embedded backend (Raft + WAL + MVCC) and the etcd backend.
export { MAX_REQUEST_BYTES } from './types.js';
export type {
  KV,
  KeyValue,
  RangeOptions,
  RangeResult,
  PutOptions,
  PutResult,
  DeleteResult,
  CompareTarget,
  CompareOp,
  Compare,
  TxnOp,
  TxnOpResult,
  TxnRequest,
  TxnResult,
  WatchEvent,
  WatchBatch,
  WatchOptions,
  Watch,
  LeaseGrant,
} from './types.js';
export { openEmbeddedStore, realClock } from './embedded/index.js';
export type { EmbeddedStoreOptions, StoreClock } from './embedded/index.js';
export { openEtcdStore } from './etcd/index.js';
export type { EtcdStoreOptions } from './etcd/index.js';
