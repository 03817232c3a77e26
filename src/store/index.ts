// The store: the KV contract, the embedded backend (Raft + WAL + MVCC) and the etcd backend.
export { MAX_REQUEST_BYTES } from './types.js';
import type { KV } from './types.js';
import type { EtcdStoreOptions } from './etcd/index.js';

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
export type { EtcdStoreOptions } from './etcd/index.js';

/**
 * The etcd backend, loaded on first use: its gRPC client costs over a second to import, which
 * every command that only needs the embedded store would otherwise pay.
 */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<KV> {
  const etcd = await import('./etcd/index.js');
  return etcd.openEtcdStore(options);
}
// [raft] a member of a Raft group; loaded by `capstan server --peers` on use.
export type { ClusterStore, ClusterStoreOptions, MembersAdmin, MemberRow, MemberStatus, PeerSpec } from './cluster/index.js';
