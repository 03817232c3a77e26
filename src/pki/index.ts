// The cluster's public-key infrastructure: a CA per cluster, server and node certificates,
// join tokens that carry the CA's fingerprint, and the TLS decisions of listeners and clients.
export { createCA, issueCertificate, createCertificateRequest, issueFromRequest, certificateFingerprint, certificateInfo, issuedBy, type CertifiedKey, type CertificateInfo, type IssueOptions, type CertificateUsage } from './certs.js';
export { ensureClusterPki, serverCertFits, type ClusterPki, type EnsurePkiOptions } from './files.js';
export { formatJoinToken, parseJoinToken, isJoinToken, type JoinToken } from './join-token.js';
export { listenerSecurity, isLoopbackHost, isWildcardHost, certificateHosts, type ListenerSecurity, type ListenerSecurityInput, type ListenerScheme } from './listener.js';
export { trustingFetch, tlsRequestOptions, tlsFailureCode, tlsFailureHint, findClusterCa, type ClientTls, type CaLookup } from './client.js';
