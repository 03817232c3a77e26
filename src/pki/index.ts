// The cluster's public-key infrastructure: a CA per cluster, server and node certificates,
// join tokens that carry the CA's fingerprint.
export { createCA, issueCertificate, certificateFingerprint, certificateInfo, issuedBy, type CertifiedKey, type CertificateInfo, type IssueOptions, type CertificateUsage } from './certs.js';
export { ensureClusterPki, serverCertFits, type ClusterPki, type EnsurePkiOptions } from './files.js';
export { formatJoinToken, parseJoinToken, isJoinToken, type JoinToken } from './join-token.js';
