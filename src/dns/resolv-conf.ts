// resolv.conf as data: the host's file read into nameservers, search domains and options, and
// the file a pod gets for its dnsPolicy (Kubernetes' ClusterFirst, Default and None, each with
// the pod's dnsConfig merged in), as pure functions of their inputs.
import { DEFAULT_CLUSTER_DOMAIN } from './records.js';

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  /** `name` or `name:value`, as the file writes them (ndots:5, edns0). */
  options: string[];
}

/** A pod's `spec.dnsConfig`. */
export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: Array<{ name: string; value?: string }>;
}

export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** glibc reads at most three nameservers; Kubernetes keeps at most 32 search domains. */
export const MAX_NAMESERVERS = 3;
export const MAX_SEARCHES = 32;

/** The host's resolv.conf: `nameserver`, `search` (or `domain`) and `options` lines; comments and the rest ignored. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === 'nameserver' && rest[0] !== undefined) out.nameservers.push(rest[0]);
    else if (keyword === 'search' || keyword === 'domain') out.searches = rest;
    else if (keyword === 'options') out.options.push(...rest);
  }
  return out;
}

export function formatResolvConf(conf: ResolvConf): string {
  const lines: string[] = [];
  for (const ns of conf.nameservers) lines.push(`nameserver ${ns}`);
  if (conf.searches.length > 0) lines.push(`search ${conf.searches.join(' ')}`);
  if (conf.options.length > 0) lines.push(`options ${conf.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function unique(list: string[]): string[] {
  return [...new Set(list.filter((s) => s !== ''))];
}

/** Options by name, a later one replacing an earlier one of the same name (as Kubernetes merges them). */
function mergeOptions(base: string[], extra: PodDnsConfig['options']): string[] {
  const byName = new Map<string, string>();
  for (const o of base) byName.set(o.split(':')[0], o);
  for (const o of extra ?? []) {
    if (typeof o?.name !== 'string' || o.name === '') continue;
    byName.set(o.name, o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : o.name);
  }
  return [...byName.values()];
}

function merge(base: ResolvConf, config: PodDnsConfig | undefined): ResolvConf {
  return {
    nameservers: unique([...base.nameservers, ...(config?.nameservers ?? [])]).slice(0, MAX_NAMESERVERS),
    searches: unique([...base.searches, ...(config?.searches ?? [])]).slice(0, MAX_SEARCHES),
    options: mergeOptions(base.options, config?.options),
  };
}

export interface PodResolvInput {
  namespace: string;
  /** `spec.dnsPolicy` (default ClusterFirst); anything else is treated as ClusterFirst. */
  dnsPolicy?: string;
  dnsConfig?: PodDnsConfig;
  /** The node's DNS server: the pod's nameserver under ClusterFirst. */
  clusterNameserver: string;
  clusterDomain?: string;
  /** The host's resolv.conf, for Default with a dnsConfig. */
  host: ResolvConf;
}

/**
 * The resolv.conf a pod's containers get, or undefined when they keep the host's file as it
 * is (dnsPolicy Default without a dnsConfig). Every Docker pod uses the host's network here,
 * so ClusterFirst and ClusterFirstWithHostNet mean the same.
 */
export function podResolvConf(input: PodResolvInput): ResolvConf | undefined {
  const domain = (input.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).replace(/\.+$/, '');
  const policy = input.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'Default') return input.dnsConfig === undefined ? undefined : merge(input.host, input.dnsConfig);
  if (policy === 'None') return merge({ nameservers: [], searches: [], options: [] }, input.dnsConfig);
  const cluster: ResolvConf = {
    nameservers: [input.clusterNameserver],
    searches: [`${input.namespace}.svc.${domain}`, `svc.${domain}`, domain],
    options: ['ndots:5'],
  };
  return merge(cluster, input.dnsConfig);
}

/** What is wrong with a pod's dnsPolicy and dnsConfig, each naming its field and what to do. */
export function podDnsProblems(dnsPolicy: unknown, dnsConfig: unknown): string[] {
  const problems: string[] = [];
  if (dnsPolicy !== undefined && !['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'].includes(dnsPolicy as string)) {
    problems.push(`spec.dnsPolicy "${String(dnsPolicy)}" is not one of ClusterFirst, ClusterFirstWithHostNet, Default, None: ClusterFirst is used`);
  }
  const config = dnsConfig as PodDnsConfig | undefined;
  if (dnsPolicy === 'None' && (config?.nameservers ?? []).length === 0) {
    problems.push('spec.dnsPolicy None without spec.dnsConfig.nameservers: the containers have no nameserver; add at least one');
  }
  return problems;
}
