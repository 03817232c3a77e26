// A Raft group of Capstan members: the member driver, the peer transport and the store
// (the KV contract) each member serves.
export { openClusterStore } from './store.js';
export type { ClusterStore, ClusterStoreOptions } from './store.js';
export { ClusterMember } from './member.js';
export type { ClusterMemberOptions, MemberStatus } from './member.js';
export type { MembershipRequest } from './transport.js';
export { memberIdFor, clusterIdFor, parsePeers, normalisePeerUrl, peerScheme } from './ids.js';
export { checkClusterCa, memberTls, clusterCaFiles } from './member-tls.js';
export type { PeerTls } from './transport.js';
export type { PeerSpec } from './ids.js';
export { membersAdmin } from './admin.js';
export type { MembersAdmin, MemberRow } from './admin.js';
export { readClusterToken } from './store.js';
