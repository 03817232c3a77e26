export { openEtcdStore, EtcdStore } from './store.js';
export type { EtcdStoreOptions } from './store.js';
export { startEtcdCluster, etcdUnavailableReason, etcdBinary, freePort, DEFAULT_ETCD_BINARY } from './local.js';
export type { LocalEtcdOptions, LocalEtcdCluster, LocalEtcdMember } from './local.js';
