// The node's DNS server: the src/dns server run by the agent on `--dns-address`:`--dns-port`,
// answering Service names from a snapshot source the agent injects (the node's Service router's
// views while it runs, so a headless Service answers with its ready pods on every node; else
// the agent's own Service cache and the pods it runs; a pod whose subdomain names a headless
// Service also by `<hostname>.<svc>`), other names through the
// nameservers of the host's /etc/resolv.conf (less this server itself). A port it cannot bind
// is one warning, and the agent runs on without DNS. For Docker pods it writes the
// resolv.conf their containers bind at /etc/resolv.conf (`<dataDir>/pods/<ns>/<pod>/resolv.conf`).
import { Resolver } from 'node:dns/promises';
import { readFile, mkdir, rm, rmdir, writeFile, rename } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from '../common/index.js';
import type { Pod, PodStatus } from '../api/cluster.js';
import type { Router } from '../router/index.js';
import {
  DEFAULT_CLUSTER_DOMAIN,
  DnsServer,
  formatResolvConf,
  parseResolvConf,
  podDnsProblems,
  podResolvConf,
  resolverUpstream,
  serviceKey,
  type DnsEndpoint,
  type DnsService,
  type DnsSnapshot,
  type PodDnsConfig,
  type ResolvConf,
  type Upstream,
} from '../dns/index.js';
import { endpointHostname, podDnsName, type PodDnsName, type PodDnsNames } from './pod-dns-names.js';
import { safeSegment } from './volumes.js';

export interface NodeDnsOptions {
  /** Where to listen, UDP and TCP. */
  host: string;
  /** 0 picks a free port (tests); the CLI turns `--dns-port 0` into no DNS at all. */
  port: number;
  clusterDomain?: string;
  /** What the names answer, asked again on every `refresh()`. */
  snapshot: () => DnsSnapshot;
  logger: Logger;
  /** The host's resolver file (default /etc/resolv.conf): upstream nameservers, and dnsPolicy Default. */
  hostResolvConf?: string;
  /** Where pods' resolv.conf files go: `<dataDir>/pods/<ns>/<pod>/resolv.conf`. */
  dataDir: string;
  /** Replaces the upstream made from the host's nameservers (tests). */
  upstream?: Upstream;
}

/** Names of the flags that set where the DNS server listens, for the one warning a failed bind gets. */
const FLAGS = '--dns-address/--dns-port';

function isLoopback(address: string): boolean {
  return address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}

/**
 * The host's nameservers a query may be forwarded to: every one but this server itself
 * (resolv.conf names port 53 only; a wildcard listen counts as every local address).
 */
export function upstreamNameservers(host: ResolvConf, self: { host: string; port: number }): string[] {
  if (self.port !== 53) return host.nameservers;
  const wildcard = self.host === '0.0.0.0' || self.host === '::';
  return host.nameservers.filter((ns) => ns !== self.host && !(wildcard && isLoopback(ns)));
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export interface LocalSnapshotInput {
  services: readonly DnsService[];
  /** The pods this node runs, with their newest status. */
  pods: ReadonlyArray<{ pod: Pod; status?: PodStatus }>;
  /** Where this node's Service router answers. */
  routerAddress: string;
  /** The node's address: a host-network pod's address. */
  nodeAddress: string;
  clusterDomain?: string;
}

/**
 * The snapshot the agent can build alone: every Service at the node's router, a headless
 * Service's endpoints from the pods of this node its selector picks (at the node's address,
 * with their host ports). Pods on other nodes are not seen here.
 */
export function localDnsSnapshot(input: LocalSnapshotInput): DnsSnapshot {
  const endpoints: Record<string, DnsEndpoint[]> = {};
  for (const svc of input.services) {
    if (!svc.headless || svc.selector === undefined) continue;
    const list: DnsEndpoint[] = [];
    for (const { pod, status } of input.pods) {
      if (pod.metadata.namespace !== svc.namespace || !labelsMatch(svc.selector, pod.metadata.labels)) continue;
      if (pod.metadata.deletionRequestedAt !== undefined) continue;
      const hostname = endpointHostname(podDnsName(pod), svc.name);
      list.push({
        ip: status?.hostIP ?? input.nodeAddress,
        ready: status?.ready === true,
        podName: pod.metadata.name,
        ...(hostname !== undefined ? { hostname } : {}),
        ...(status?.ports !== undefined ? { ports: status.ports } : {}),
      });
    }
    endpoints[serviceKey(svc.namespace, svc.name)] = list;
  }
  return {
    services: [...input.services],
    endpoints,
    routerAddress: input.routerAddress,
    clusterDomain: input.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
  };
}

/** What the DNS reads of a Service router: the Services it serves and their port tables. */
export type RouterDnsViews = Pick<Router, 'addresses' | 'tables'>;

/**
 * The snapshot while the node's Service router runs: every Service it serves, a headless
 * one with its ready pods across the cluster (each pod's host IP, and its host port per
 * Service port for SRV) as the router's tables hold them. Port names and protocols come from
 * the Service cache when it has the Service. A pod whose `spec.subdomain` is the Service's
 * name also answers by its `spec.hostname` (`<hostname>.<svc>.<ns>.svc.<domain>`): the
 * hostnames and subdomains of every pod come from `names` (what the router's feed carried),
 * this node's own pods from their spec; others answer by their address label only.
 * Services the router does not serve yet answer as `localDnsSnapshot` does.
 */
export function routerDnsSnapshot(router: RouterDnsViews, local: LocalSnapshotInput, names?: Pick<PodDnsNames, 'get'>): DnsSnapshot {
  const base = localDnsSnapshot(local);
  const services = new Map(base.services.map((s) => [serviceKey(s.namespace, s.name), s]));
  const endpoints = { ...base.endpoints };
  // This node's pods' DNS names, by `<ns>/<pod>`, for pods the feed has not carried yet.
  const own = new Map<string, PodDnsName>();
  for (const { pod } of local.pods) {
    const name = podDnsName(pod);
    if (name !== undefined) own.set(serviceKey(pod.metadata.namespace, pod.metadata.name), name);
  }
  const nameOf = (namespace: string, pod: string): PodDnsName | undefined => names?.get(namespace, pod) ?? own.get(serviceKey(namespace, pod));
  for (const view of router.addresses()) {
    const k = serviceKey(view.namespace, view.name);
    const tables = router.tables(view.namespace, view.name);
    const headless = view.clusterIP === 'None';
    const known = services.get(k);
    services.set(
      k,
      known !== undefined
        ? { ...known, headless }
        : { namespace: view.namespace, name: view.name, headless, ports: tables.map((t) => ({ ...(t.portName !== undefined ? { name: t.portName } : {}), port: t.port, protocol: 'TCP' as const })) },
    );
    if (!headless) {
      delete endpoints[k];
      continue;
    }
    const byPod = new Map<string, DnsEndpoint>();
    for (const t of tables) {
      for (const group of Object.values(t.backends)) {
        for (const e of group) {
          let ep = byPod.get(e.pod);
          if (ep === undefined) {
            const hostname = endpointHostname(nameOf(view.namespace, e.pod), view.name);
            ep = { ip: e.host, ready: true, podName: e.pod, ports: {}, ...(hostname !== undefined ? { hostname } : {}) };
            byPod.set(e.pod, ep);
          }
          ep.ports![t.portName ?? String(t.port)] = e.port;
        }
      }
    }
    endpoints[k] = [...byPod.values()].sort((a, b) => (a.podName < b.podName ? -1 : a.podName > b.podName ? 1 : 0));
  }
  return { ...base, services: [...services.values()], endpoints };
}

export class NodeDns {
  private server: DnsServer | undefined;
  private host: ResolvConf = { nameservers: [], searches: [], options: [] };
  private readonly domain: string;
  private readonly warnedPods = new Set<string>();

  constructor(private readonly options: NodeDnsOptions) {
    this.domain = options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  }

  /** True while the server listens. */
  get running(): boolean {
    return this.server !== undefined;
  }

  /** Where the server listens, while it does. */
  address(): { host: string; port: number } | undefined {
    return this.server?.address();
  }

  /**
   * Binds and serves; false (after one warning naming the flags) when the address cannot be
   * bound or the first snapshot is unusable: the agent then runs without DNS.
   */
  async start(): Promise<boolean> {
    if (this.server !== undefined) return true;
    const log = this.options.logger;
    const file = this.options.hostResolvConf ?? '/etc/resolv.conf';
    try {
      this.host = parseResolvConf(await readFile(file, 'utf8'));
    } catch (err) {
      log.info({ file, code: (err as NodeJS.ErrnoException).code }, 'no host resolver file; names outside the cluster domain are refused');
    }
    let upstream = this.options.upstream;
    const forwardTo = upstreamNameservers(this.host, { host: this.options.host, port: this.options.port });
    if (upstream === undefined && forwardTo.length > 0) {
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      try {
        resolver.setServers(forwardTo);
        upstream = resolverUpstream(resolver);
      } catch (err) {
        log.warn({ file, nameservers: forwardTo, err }, `the nameservers of ${file} cannot be used; names outside the cluster domain are refused`);
      }
    }
    let server: DnsServer;
    try {
      server = new DnsServer({
        host: this.options.host,
        port: this.options.port,
        snapshot: this.options.snapshot(),
        logger: log,
        ...(upstream !== undefined ? { upstream } : {}),
      });
      await server.start();
    } catch (err) {
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'EACCES'
          ? 'port 53 needs root or CAP_NET_BIND_SERVICE'
          : code === 'EADDRINUSE'
            ? 'another server (a local resolver?) holds it'
            : code === 'EADDRNOTAVAIL'
              ? 'the address is not one of this host'
              : (err as Error).message;
      log.warn(
        { host: this.options.host, port: this.options.port, code },
        `node DNS is off: cannot listen on ${this.options.host}:${this.options.port} (${hint}); set ${FLAGS} to a free address and port, or --dns-port 0 to run without it. Pods keep the host's resolver and the <SVC>_SERVICE_HOST variables`,
      );
      return false;
    }
    this.server = server;
    return true;
  }

  /** Answers from the snapshot source's newest view from now on. */
  refresh(): void {
    const server = this.server;
    if (server === undefined) return;
    try {
      server.update(this.options.snapshot());
    } catch (err) {
      this.options.logger.warn({ err }, 'dns snapshot refused; answers stay as they were');
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  /** The resolv.conf of a pod's containers, or undefined when they keep the host's (no DNS running, or dnsPolicy Default). */
  resolvConfOf(pod: Pick<Pod, 'metadata' | 'spec'>): ResolvConf | undefined {
    const bound = this.server?.address();
    if (bound === undefined) return undefined;
    const spec = pod.spec as { dnsPolicy?: unknown; dnsConfig?: unknown };
    const k = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const problems = podDnsProblems(spec.dnsPolicy, spec.dnsConfig);
    if (problems.length > 0 && !this.warnedPods.has(k)) {
      this.warnedPods.add(k);
      this.options.logger.warn({ pod: k, problems }, `pod ${k}: ${problems.join('; ')}`);
    }
    return podResolvConf({
      namespace: pod.metadata.namespace,
      ...(typeof spec.dnsPolicy === 'string' ? { dnsPolicy: spec.dnsPolicy } : {}),
      ...(spec.dnsConfig !== undefined && typeof spec.dnsConfig === 'object' && spec.dnsConfig !== null ? { dnsConfig: spec.dnsConfig as PodDnsConfig } : {}),
      clusterNameserver: bound.host === '0.0.0.0' ? '127.0.0.1' : bound.host === '::' ? '::1' : bound.host,
      clusterDomain: this.domain,
      host: this.host,
    });
  }

  /** `<dataDir>/pods/<ns>/<pod>/resolv.conf`. */
  resolvConfPath(namespace: string, pod: string): string {
    return join(this.options.dataDir, 'pods', safeSegment(namespace), safeSegment(pod), 'resolv.conf');
  }

  /**
   * Writes the pod's resolv.conf (replaced whole, readable by the container's user) and returns
   * its path, or undefined (and removes an older file) when the containers keep the host's.
   */
  async writeResolvConf(pod: Pick<Pod, 'metadata' | 'spec'>): Promise<string | undefined> {
    const path = this.resolvConfPath(pod.metadata.namespace, pod.metadata.name);
    const conf = this.resolvConfOf(pod);
    if (conf === undefined) {
      await rm(path, { force: true });
      return undefined;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, formatResolvConf(conf), { mode: 0o644 });
    await rename(tmp, path);
    return path;
  }

  /** Removes a pod's resolv.conf, and its folder once empty. */
  async forgetPod(namespace: string, pod: string): Promise<void> {
    this.warnedPods.delete(`${namespace}/${pod}`);
    const path = this.resolvConfPath(namespace, pod);
    await rm(path, { force: true });
    await rmdir(dirname(path)).catch(() => undefined);
  }
}
