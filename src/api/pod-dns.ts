// A pod's DNS fields: dnsPolicy, dnsConfig, hostname and subdomain — their schema, and the
// checks JSON Schema cannot say, with Kubernetes' limits (3 nameservers, 32 search domains).
// Unset, dnsPolicy means ClusterFirst; it is not written into the object, so templates
// written before these fields were modelled keep their pod-template hash.
import { isIP } from 'node:net';
import type { FieldPath } from './document.js';
import { arr, nonEmpty, obj, oneOfValues, str, type Schema } from './schema-util.js';

export type PodDnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';
export const POD_DNS_POLICIES: PodDnsPolicy[] = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];

export interface PodDnsConfigSpec {
  /** At most 3 IP addresses, added after the policy's own. */
  nameservers?: string[];
  /** At most 32 DNS names, added after the policy's own. */
  searches?: string[];
  /** Replace the policy's options of the same name. */
  options?: Array<{ name: string; value?: string }>;
}

/** Kubernetes' limits on a pod's dnsConfig (and glibc's on nameservers). */
export const POD_MAX_NAMESERVERS = 3;
export const POD_MAX_SEARCHES = 32;
/** Kubernetes' limit on the search list's total length (names joined by spaces). */
export const POD_MAX_SEARCH_CHARS = 2048;

/** The schema properties of the DNS fields, spread into the pod spec's. */
export function podDnsFields(): Record<string, Schema> {
  return {
    dnsPolicy: oneOfValues(POD_DNS_POLICIES),
    dnsConfig: obj({
      nameservers: arr(nonEmpty()),
      searches: arr(nonEmpty()),
      options: arr(obj({ name: nonEmpty(), value: str() }, ['name'])),
    }),
    hostname: nonEmpty(),
    subdomain: nonEmpty(),
  };
}

type Obj = Record<string, unknown>;
type Report = (code: 'CAPSTAN_ERR_API_SCHEMA' | 'CAPSTAN_ERR_API_NAME' | 'CAPSTAN_ERR_API_REQUIRED', message: string, path: FieldPath, severity?: 'error' | 'warning') => void;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const where = (path: FieldPath): string => path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// A search domain: RFC 1123 subdomain, a trailing dot allowed (an absolute name).
const SEARCH = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/;

/** dnsPolicy None needs nameservers; dnsConfig's limits and names; hostname and subdomain as RFC 1123 labels. */
export function checkPodDns(pod: Obj, path: FieldPath, report: Report): void {
  for (const field of ['hostname', 'subdomain']) {
    const v = pod[field];
    if (typeof v === 'string' && v !== '' && !LABEL.test(v)) {
      report('CAPSTAN_ERR_API_NAME', `${where([...path, field])} "${v}" must be an RFC 1123 label (lowercase letters, digits and '-', at most 63)`, [...path, field]);
    }
  }
  const config = pod.dnsConfig;
  const cpath = [...path, 'dnsConfig'];
  const nameservers = isObj(config) && Array.isArray(config.nameservers) ? config.nameservers : [];
  if (pod.dnsPolicy === 'None') {
    if (!isObj(config)) {
      report('CAPSTAN_ERR_API_REQUIRED', `${where(cpath)} is required when dnsPolicy is None: give at least one nameserver in dnsConfig.nameservers`, [...path, 'dnsPolicy']);
    } else if (nameservers.length === 0) {
      report('CAPSTAN_ERR_API_REQUIRED', `${where([...cpath, 'nameservers'])} needs at least one nameserver when dnsPolicy is None`, [...cpath]);
    }
  }
  if (!isObj(config)) return;
  if (nameservers.length > POD_MAX_NAMESERVERS) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'nameservers'])} has ${nameservers.length} entries: at most ${POD_MAX_NAMESERVERS} are allowed`, [...cpath, 'nameservers', POD_MAX_NAMESERVERS]);
  }
  nameservers.forEach((ns, i) => {
    if (typeof ns === 'string' && ns !== '' && isIP(ns) === 0) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'nameservers', i])} "${ns}" is not an IP address: a nameserver is given by address`, [...cpath, 'nameservers', i]);
    }
  });
  const searches = Array.isArray(config.searches) ? config.searches : [];
  if (searches.length > POD_MAX_SEARCHES) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'searches'])} has ${searches.length} entries: at most ${POD_MAX_SEARCHES} are allowed`, [...cpath, 'searches', POD_MAX_SEARCHES]);
  }
  searches.forEach((s, i) => {
    if (typeof s === 'string' && s !== '' && !SEARCH.test(s)) {
      report('CAPSTAN_ERR_API_NAME', `${where([...cpath, 'searches', i])} "${s}" is not a DNS name: use lowercase labels of letters, digits and '-' separated by dots`, [...cpath, 'searches', i]);
    }
  });
  const chars = searches.filter((s): s is string => typeof s === 'string').join(' ').length;
  if (chars > POD_MAX_SEARCH_CHARS) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where([...cpath, 'searches'])} is ${chars} characters long: at most ${POD_MAX_SEARCH_CHARS} are allowed`, [...cpath, 'searches']);
  }
}
