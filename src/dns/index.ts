// Service discovery for pods: a DNS server answering Kubernetes' Service names from a snapshot
// the node agent replaces as Services and endpoints change, and the Service environment
// variables a pod starts with; the resolv.conf a pod gets for its dnsPolicy.
export { DnsServer, UDP_EDNS_LIMIT, UDP_PLAIN_LIMIT } from './server.js';
export type { DnsServerOptions, DnsServerStats } from './server.js';
export { answer, addressLabel, DEFAULT_CLUSTER_DOMAIN, RECORD_TTL, resolve, serviceKey, snapshotProblems, Zone } from './records.js';
export type { DnsEndpoint, DnsQuestion, DnsRecord, DnsService, DnsServicePort, DnsSnapshot, QuestionType, Rcode, Resolution, Upstream } from './records.js';
export { envName, serviceEnvironment } from './env.js';
export type { EnvVar } from './env.js';
export { resolverUpstream } from './upstream.js';
export { formatResolvConf, MAX_NAMESERVERS, MAX_SEARCHES, parseResolvConf, podDnsProblems, podResolvConf } from './resolv-conf.js';
export type { DnsPolicy, PodDnsConfig, PodResolvInput, ResolvConf } from './resolv-conf.js';
