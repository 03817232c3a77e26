// The router: watches Services, pods and traffic policies in the store and keeps one
// listener per Service port, each with a routing table built by the pure core (table.ts).
// Level-based: every change rebuilds the tables from the cached state; only tables whose
// content changed get a new picker, so an unrelated change does not restart the weighted
// sequence.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type Pod, type TrafficPolicy } from '../api/cluster.js';
import { isHeadless, type Ingress, type ServicePort } from '../api/index.js';
import type { KV, KeyValue } from '../store/index.js';
import { IngressTable, pickByServerName, tlsBindings } from './ingress.js';
import { RouterMetrics, type WindowSeries, type WindowStats } from './metrics.js';
import { allocateNodePorts } from './nodeports.js';
import { Ejections, type EjectionOptions } from './outlier.js';
import { BackendPool, type BackendPoolOptions } from './pool.js';
import { createListener, type Listener, type ListenerOptions } from './proxy.js';
import { buildTables, Picker, type PortTable, type RouterService } from './table.js';
import { RouterWorkers, type WorkerCommand } from './workers.js';

/** A Warning event the router reports (a TLS Secret it cannot use); no key material in it. */
export interface RouterEvent {
  namespace: string;
  /** `Kind/name`. */
  object: string;
  type: 'Warning' | 'Normal';
  reason: string;
  message: string;
}

export interface RouterOptions {
  kv: KV;
  logger: Logger;
  /** Where the per-revision metrics go (served on /metrics by whoever owns the registry). */
  registry: Registry;
  /** Address every listener binds (default 127.0.0.1). */
  bindAddress?: string;
  /**
   * The local port for a Service port (default: the Service port itself). Return 0 for any
   * free port (tests), or an offset to keep clear of privileged ports.
   */
  portFor?: (service: { namespace: string; name: string }, port: ServicePort) => number;
  /** Backend request idle timeout (default 60 s): past it, 504. */
  timeoutMs?: number;
  /**
   * Per upstream attempt: a backend that does not accept a connection within this long is
   * ejected and another endpoint of the same revision is tried (default 1 s; TCP 5 s).
   */
  connectTimeoutMs?: number;
  /** Further endpoints of the same revision tried after a failed connect (default 2). */
  retries?: number;
  /** How long a backend whose connect failed is skipped: `baseMs` (10 s), doubled per failure in a row, at most `maxMs` (120 s). */
  ejection?: EjectionOptions;
  /** Grace for in-flight requests when a listener closes (default 10 s). */
  drainMs?: number;
  pool?: BackendPoolOptions;
  /** Clock for the metrics window (ms since the epoch). */
  now?: () => number;
  /** Pause before listing again after a watch fails (default 1 s). */
  retryMs?: number;
  /**
   * The Ingress listener: Host and path rules of every Ingress on `httpPort` while there is an
   * Ingress, and HTTPS on `httpsPort` (default 8443) while some Ingress has TLS. Off unless
   * given; 0 for any free port.
   */
  ingress?: { httpPort: number; httpsPort?: number };
  /** The local port for a node port (default: the node port itself); tests map it. */
  nodePortFor?: (nodePort: number) => number;
  /** Every address a node port is served on (default: `bindAddress` alone). */
  nodePortAddresses?: string[];
  /**
   * Addresses a LoadBalancer Service's own ports are served on as well (a node's external
   * address); an address equal to `bindAddress`, or any address when `bindAddress` is a
   * wildcard, adds nothing.
   */
  loadBalancerAddresses?: string[];
  /** Where Warning events go (a missing or invalid TLS Secret). */
  onEvent?: (event: RouterEvent) => void;
  /** Called after each change has been applied (what `addresses()` says may have changed). */
  onSynced?: () => void;
  /**
   * Worker processes serving the HTTP Service ports (node ports and LoadBalancer addresses
   * included; TCP ports and the Ingress stay in this process). 1 or unset: none, this process
   * serves everything (workers.ts says how weights stay exact and figures are merged).
   */
  workers?: number;
  /** How a worker process is started (tests point it at the TypeScript entry). */
  workerCommand?: WorkerCommand;
}

/** What `capstan get services` shows for one Service (contract.md). */
export interface ServiceView {
  namespace: string;
  name: string;
  /** `host:port` per Service port: a string for one port, a list for several. */
  address: string | string[];
  /** Ready backends (`host:port`), across ports and revisions. */
  endpoints: string[];
  /** Percent per revision (of the first port; every port shares the policy). */
  weights: Record<string, number>;
  /** NodePort and LoadBalancer Services: the node port of each Service port, in port order. */
  nodePorts?: number[];
  /** `None` for a headless Service: no listener, `address` is empty, `endpoints` are the pods'. */
  clusterIP?: 'None';
}

interface PortState {
  key: string;
  listener: Listener;
  /** What the listener was made for; a change recreates it. */
  bind: string;
}

interface WantedListener {
  bind: string;
  /** The picker's key (the Service port), shared by its node port and LoadBalancer listeners. */
  picker: string;
  options: ListenerOptions;
}

/** A kubernetes.io/tls Secret as the router keeps it (decoded only when an Ingress names it). */
interface TlsSecret {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const INGRESS_HTTP = 'ingress/http';
const INGRESS_HTTPS = 'ingress/https';

function decode<T>(kv: KeyValue): T | undefined {
  try {
    return JSON.parse(Buffer.from(kv.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

const SERVICE_PREFIX = `${STORE_PREFIX.desired}Service/`;
const INGRESS_PREFIX = `${STORE_PREFIX.desired}Ingress/`;
const SECRET_PREFIX = `${STORE_PREFIX.desired}Secret/`;

export class Router {
  private readonly kv: KV;
  private readonly logger: Logger;
  private readonly bindAddress: string;
  private readonly metrics: RouterMetrics;
  private readonly pool: BackendPool;
  private readonly ejections: Ejections;
  private readonly services = new Map<string, RouterService>();
  private readonly pods = new Map<string, Pod>();
  private readonly policies = new Map<string, TrafficPolicy>();
  private readonly ports = new Map<string, PortState>();
  private readonly pickers = new Map<string, Picker>();
  private readonly ingresses = new Map<string, Pick<Ingress, 'metadata' | 'spec'>>();
  private readonly secrets = new Map<string, TlsSecret>();
  private ingressTable: IngressTable | undefined;
  /** SNI host (exact or `*.` wildcard) → context; replaced whole on each change. */
  private tlsByHost = new Map<string, tls.SecureContext>();
  /** Per Secret: a digest of its certificate and key, and the context made from them. */
  private readonly tlsCache = new Map<string, { digest: string; context?: tls.SecureContext; error?: string }>();
  /** TLS problems already reported, so a problem is logged and evented once until it changes. */
  private tlsReported = new Set<string>();
  private nodePorts = new Map<string, number>();
  private readonly tablesByService = new Map<string, PortTable[]>();
  private readonly closing = new Set<Promise<void>>();
  private readonly watchers: Promise<void>[] = [];
  private abort: AbortController | undefined;
  private syncChain: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  private readonly workers: RouterWorkers | undefined;

  constructor(private readonly options: RouterOptions) {
    this.kv = options.kv;
    this.logger = options.logger.child({ component: 'router' });
    this.bindAddress = options.bindAddress ?? '127.0.0.1';
    this.metrics = new RouterMetrics({ registry: options.registry, now: options.now });
    this.ejections = new Ejections(options.ejection);
    const connectTimeoutMs = options.connectTimeoutMs ?? options.pool?.connectTimeoutMs;
    this.pool = new BackendPool({ ...options.pool, connectTimeoutMs, onConnect: (id) => this.ejections.succeeded(id) });
    const count = options.workers ?? 1;
    this.workers =
      count > 1
        ? new RouterWorkers({ count, logger: this.logger, metrics: this.metrics, pool: { ...options.pool, connectTimeoutMs }, ejection: options.ejection, command: options.workerCommand })
        : undefined;
  }

  /** Lists the store, opens the listeners, then follows changes until `stop()`. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.abort = new AbortController();
    const signal = this.abort.signal;
    if (this.workers !== undefined) {
      try {
        await this.workers.start();
      } catch (err) {
        this.state = 'stopped';
        await this.workers.stop(0);
        throw err;
      }
    }
    const sources: [string, (kv: KeyValue, deleted: boolean) => void][] = [
      [SERVICE_PREFIX, (kv, deleted) => this.applyService(kv, deleted)],
      [STORE_PREFIX.pods, (kv, deleted) => this.applyPod(kv, deleted)],
      [STORE_PREFIX.traffic, (kv, deleted) => this.applyPolicy(kv, deleted)],
    ];
    if (this.options.ingress !== undefined) {
      sources.push([INGRESS_PREFIX, (kv, deleted) => this.applyIngress(kv, deleted)], [SECRET_PREFIX, (kv, deleted) => this.applySecret(kv, deleted)]);
    }
    const revisions: number[] = [];
    for (const [prefix, apply] of sources) revisions.push(await this.list(prefix, apply));
    await this.sync();
    sources.forEach(([prefix, apply], i) => this.watchers.push(this.follow(prefix, apply, revisions[i] + 1, signal)));
  }

  /** Stops watching, closes every listener (in-flight requests get `drainMs`), closes pools. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    this.abort?.abort();
    await Promise.allSettled(this.watchers);
    await this.syncChain;
    const grace = this.options.drainMs ?? 10_000;
    await Promise.allSettled([...this.ports.values()].map((p) => p.listener.close(grace)));
    this.ports.clear();
    await Promise.allSettled([...this.closing]);
    await this.workers?.stop(grace);
    this.pool.destroyAll();
    this.state = 'stopped';
  }

  /** Resolves once every change seen so far has been applied to listeners and tables. */
  async settled(): Promise<void> {
    for (;;) {
      const chain = this.syncChain;
      await chain;
      if (chain === this.syncChain && !this.syncQueued) return;
    }
  }

  /** Every Service the router serves, as `get services` shows it. */
  addresses(): ServiceView[] {
    const out: ServiceView[] = [];
    for (const [key, tables] of [...this.tablesByService].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [namespace, name] = key.split('/');
      const address = tables.map((t) => this.ports.get(portKey(t))?.listener.address()).filter((a): a is string => a !== undefined);
      const endpoints = new Set<string>();
      for (const t of tables) for (const eps of Object.values(t.backends)) for (const e of eps) endpoints.add(e.id);
      const view: ServiceView = {
        namespace,
        name,
        address: address.length === 1 ? address[0] : address,
        endpoints: [...endpoints].sort(),
        weights: tables[0]?.weights ?? {},
      };
      const nodePorts = tables.map((t) => this.nodePorts.get(portKey(t))).filter((n): n is number => n !== undefined);
      if (nodePorts.length > 0) view.nodePorts = nodePorts;
      const svc = this.services.get(key);
      if (svc !== undefined && isHeadless(svc.spec)) view.clusterIP = 'None';
      out.push(view);
    }
    return out;
  }

  /** Where the Ingress listeners serve (`host:port`), once started. */
  ingressAddresses(): { http?: string; https?: string } {
    return { http: this.ports.get(INGRESS_HTTP)?.listener.address(), https: this.ports.get(INGRESS_HTTPS)?.listener.address() };
  }

  /** Where each node port of a Service port is served (`host:port`, one per node port address), by `<namespace>/<name>:<port>`. */
  nodePortAddresses(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [key, state] of this.ports) {
      const at = key.indexOf('@node@');
      if (at < 0) continue;
      const a = state.listener.address();
      if (a !== undefined) (out[key.slice(0, at)] ??= []).push(a);
    }
    for (const list of Object.values(out)) list.sort();
    return out;
  }

  /** Where each LoadBalancer Service port is served besides `bindAddress` (`host:port`), by `<namespace>/<name>:<port>`. */
  loadBalancerAddresses(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [key, state] of this.ports) {
      const at = key.indexOf('@lb@');
      if (at < 0) continue;
      const a = state.listener.address();
      if (a !== undefined) (out[key.slice(0, at)] ??= []).push(a);
    }
    for (const list of Object.values(out)) list.sort();
    return out;
  }

  private loadBalancerHosts(): string[] {
    if (['0.0.0.0', '::', ''].includes(this.bindAddress)) return [];
    return [...new Set(this.options.loadBalancerAddresses ?? [])].filter((h) => h !== this.bindAddress);
  }

  private nodePortHosts(): string[] {
    const list = this.options.nodePortAddresses;
    return list === undefined || list.length === 0 ? [this.bindAddress] : [...new Set(list)];
  }

  /** The routing tables of one Service (one per port), or [] when it is not served. */
  tables(namespace: string, name: string): PortTable[] {
    return this.tablesByService.get(`${namespace}/${name}`) ?? [];
  }

  /** Sliding-window stats of one revision of one Service, for analysis. */
  stats(namespace: string, name: string, revision: string, seconds = 60): WindowStats {
    return this.metrics.windowStats(`${namespace}/${name}`, revision, seconds);
  }

  /**
   * The analysis provider's view (`RevisionStatsSource` in src/analysis): `service` is
   * `<namespace>/<name>`, or a bare name in namespace `default`; undefined when the revision
   * has served nothing since the router started.
   */
  statsFor(service: string, revision: string, windowSeconds: number): WindowStats | undefined {
    const key = service.includes('/') ? service : `default/${service}`;
    return this.metrics.windowStatsIfAny(key, revision, windowSeconds);
  }

  /** Every revision's one-second buckets still in the window, to be merged with other routers' (merge.ts). */
  exportWindows(): WindowSeries[] {
    return this.metrics.exportWindows();
  }

  /** Revisions that have served any request of a Service (in the process's lifetime). */
  revisionsWithTraffic(namespace: string, name: string): string[] {
    return this.metrics.revisionsOf(`${namespace}/${name}`);
  }

  /** Backends skipped after a failed connect (this process's), and until when (ms since the epoch). */
  ejected(): Record<string, number> {
    return this.ejections.list();
  }

  /** Requests in flight per backend `host:port`, including backends still draining. */
  inFlight(): Record<string, number> {
    const out = this.pool.inFlight();
    if (this.workers !== undefined) for (const [id, n] of Object.entries(this.workers.inFlight())) out[id] = (out[id] ?? 0) + n;
    return out;
  }

  /**
   * With worker processes: asks each for its figures now and resolves once they are in this
   * router's metrics (they arrive on their own every 250 ms). Without: resolves at once.
   */
  async collectWorkerFigures(): Promise<void> {
    await this.workers?.report();
  }

  /** Worker process ids and the requests each has served; empty without workers. */
  workerStats(): { pid: number; requests: number }[] {
    if (this.workers === undefined) return [];
    const requests = this.workers.requestsPerWorker();
    return this.workers.pids().map((pid, i) => ({ pid, requests: requests[i] ?? 0 }));
  }

  private applyService(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(SERVICE_PREFIX.length);
    const record = deleted ? undefined : decode<{ object?: RouterService }>(kv);
    const svc = record?.object;
    if (svc === undefined || !Array.isArray(svc.spec?.ports)) this.services.delete(key);
    else this.services.set(key, svc);
  }

  private applyIngress(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(INGRESS_PREFIX.length);
    const ing = deleted ? undefined : decode<{ object?: Pick<Ingress, 'metadata' | 'spec'> }>(kv)?.object;
    if (ing === undefined || typeof ing.spec !== 'object' || ing.spec === null) this.ingresses.delete(key);
    else this.ingresses.set(key, { ...ing, metadata: { ...ing.metadata, namespace: ing.metadata.namespace ?? key.split('/')[0] } });
  }

  private applySecret(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(SECRET_PREFIX.length);
    const secret = deleted ? undefined : decode<{ object?: TlsSecret }>(kv)?.object;
    const hasCert = (m: Record<string, string> | undefined): boolean => m !== undefined && ('tls.crt' in m || 'tls.key' in m);
    // Only Secrets that could hold a certificate are kept.
    if (secret === undefined || (secret.type !== 'kubernetes.io/tls' && !hasCert(secret.data) && !hasCert(secret.stringData))) this.secrets.delete(key);
    else this.secrets.set(key, { type: secret.type, data: secret.data, stringData: secret.stringData });
  }

  private applyPod(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(STORE_PREFIX.pods.length);
    const pod = deleted ? undefined : decode<Pod>(kv);
    if (pod === undefined || pod.metadata === undefined || pod.status === undefined || pod.spec === undefined) this.pods.delete(key);
    else this.pods.set(key, routedPod(pod));
  }

  private applyPolicy(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(STORE_PREFIX.traffic.length);
    const policy = deleted ? undefined : decode<TrafficPolicy>(kv);
    if (policy === undefined || typeof policy.weights !== 'object' || policy.weights === null) this.policies.delete(key);
    else this.policies.set(key, policy);
  }

  private async list(prefix: string, apply: (kv: KeyValue, deleted: boolean) => void): Promise<number> {
    const r = await this.kv.range(prefix, { prefix: true });
    // A full list replaces what the cache holds under this prefix.
    const caches: Record<string, { clear(): void }> = {
      [SERVICE_PREFIX]: this.services,
      [STORE_PREFIX.pods]: this.pods,
      [STORE_PREFIX.traffic]: this.policies,
      [INGRESS_PREFIX]: this.ingresses,
      [SECRET_PREFIX]: this.secrets,
    };
    caches[prefix]?.clear();
    for (const item of r.kvs) apply(item, false);
    return r.revision;
  }

  private async follow(prefix: string, apply: (kv: KeyValue, deleted: boolean) => void, from: number, signal: AbortSignal): Promise<void> {
    let fromRevision = from;
    while (!signal.aborted) {
      try {
        const watch = this.kv.watch(prefix, { prefix: true, fromRevision, signal });
        for await (const batch of watch) {
          for (const ev of batch.events) apply(ev.kv, ev.type === 'delete');
          fromRevision = batch.revision + 1;
          this.scheduleSync();
        }
        if (signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err, prefix }, 'router watch failed; listing again');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.options.retryMs ?? 1000);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (signal.aborted) return;
      try {
        fromRevision = (await this.list(prefix, apply)) + 1;
        this.scheduleSync();
      } catch (err) {
        this.logger.warn({ err, prefix }, 'router list failed');
      }
    }
  }

  private scheduleSync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    this.syncChain = this.syncChain.then(() => {
      this.syncQueued = false;
      return this.sync();
    });
  }

  /** Makes listeners and pickers match the cached state. */
  private async sync(): Promise<void> {
    if (this.state !== 'running') return;
    const tables = new Map<string, PortTable>();
    this.tablesByService.clear();
    for (const [key, svc] of this.services) {
      const [namespace] = key.split('/');
      const withNs: RouterService = { ...svc, metadata: { ...svc.metadata, namespace: svc.metadata.namespace ?? namespace } };
      const policy = this.policies.get(`${withNs.metadata.namespace}/${svc.metadata.name}`);
      const built = buildTables(withNs, this.pods.values(), policy, (route, err) =>
        this.logger.warn({ service: key, route, err: String(err) }, 'header route has an invalid regex; skipped'),
      );
      this.tablesByService.set(`${withNs.metadata.namespace}/${svc.metadata.name}`, built);
      for (const t of built) tables.set(portKey(t), t);
    }
    // One picker per Service port, shared by its listener, its node port and the Ingress, so
    // the weighted sequence is exact across all of them.
    for (const key of [...this.pickers.keys()]) if (!tables.has(key)) this.pickers.delete(key);
    for (const [key, table] of tables) {
      const p = this.pickers.get(key);
      if (p === undefined || p.table.signature !== table.signature) this.pickers.set(key, new Picker(table));
    }
    this.workers?.setTables(tables, (t) => this.policies.get(`${t.namespace}/${t.service}`));
    this.nodePorts = allocateNodePorts(this.services.values());

    const wanted = new Map<string, WantedListener>();
    const { timeoutMs, connectTimeoutMs, retries } = this.options;
    const base = { pool: this.pool, metrics: this.metrics, logger: this.logger, timeoutMs, connectTimeoutMs, retries, ejections: this.ejections, host: this.bindAddress };
    const live = new Set<string>();
    for (const [key, table] of tables) {
      for (const eps of Object.values(table.backends)) for (const e of eps) live.add(e.id);
      const svc = this.services.get(`${table.namespace}/${table.service}`);
      // Headless: no listener; the endpoints are published (addresses()).
      if (svc !== undefined && isHeadless(svc.spec)) continue;
      const sp = svc?.spec.ports.find((p) => p.port === table.port);
      const port = sp === undefined ? table.port : (this.options.portFor?.({ namespace: table.namespace, name: table.service }, sp) ?? table.port);
      const service = `${table.namespace}/${table.service}`;
      const picker = (): Picker | undefined => this.pickers.get(key);
      wanted.set(key, { bind: `${table.protocol} ${this.bindAddress} ${port}`, picker: key, options: { ...base, service, protocol: table.protocol, port, picker } });
      if (svc?.spec.type === 'LoadBalancer') {
        for (const host of this.loadBalancerHosts()) {
          wanted.set(`${key}@lb@${host}`, { bind: `${table.protocol} ${host} ${port}`, picker: key, options: { ...base, host, service, protocol: table.protocol, port, picker } });
        }
      }
      const nodePort = this.nodePorts.get(key);
      if (nodePort !== undefined) {
        const local = this.options.nodePortFor?.(nodePort) ?? nodePort;
        for (const host of this.nodePortHosts()) {
          wanted.set(`${key}@node@${host}`, { bind: `${table.protocol} ${host} ${local}`, picker: key, options: { ...base, host, service, protocol: table.protocol, port: local, picker } });
        }
      }
    }
    if (this.options.ingress !== undefined) this.wantIngress(wanted, base);

    for (const [key, state] of this.ports) {
      const want = wanted.get(key);
      if (want === undefined || want.bind !== state.bind) this.retire(key, state);
    }
    for (const [key, want] of wanted) {
      if (this.ports.has(key)) continue;
      const inWorkers = this.workers !== undefined && want.options.protocol === 'http' && want.options.resolve === undefined && want.options.tls === undefined;
      const listener = inWorkers ? this.workers!.listener(key, want.picker, want.options) : createListener(want.options);
      try {
        await listener.start();
      } catch (err) {
        this.logger.error({ err, listener: key }, 'router listener failed to start; retrying on the next change');
        continue;
      }
      this.ports.set(key, { key, listener, bind: want.bind });
      this.logger.info({ service: want.options.service, listener: key, address: listener.address() }, 'router listening');
    }
    this.pool.retain(live);
    this.ejections.retain(live);
    this.workers?.retain(live);
    this.options.onSynced?.();
  }

  /** The Ingress listeners: HTTP always, HTTPS while some Ingress has TLS. */
  private wantIngress(wanted: Map<string, WantedListener>, base: Omit<ListenerOptions, 'service' | 'protocol' | 'port' | 'picker'>): void {
    const ingress = this.options.ingress!;
    this.ingressTable = new IngressTable({ ingresses: this.ingresses.values() });
    // No Ingress, no listener: the ports stay free for whoever else wants them.
    if (this.ingresses.size === 0) {
      this.tlsByHost = new Map();
      this.tlsReported = new Set();
      return;
    }
    const resolve = (req: http.IncomingMessage): { picker: Picker | undefined; service: string } | undefined => this.resolveIngress(req);
    const none = (): undefined => undefined;
    wanted.set(INGRESS_HTTP, {
      bind: `http ${this.bindAddress} ${ingress.httpPort}`,
      picker: '',
      options: { ...base, service: 'ingress', protocol: 'http', port: ingress.httpPort, picker: none, resolve },
    });
    const bindings = tlsBindings(this.ingresses.values());
    this.tlsByHost = this.tlsContexts(bindings);
    if (bindings.length === 0) return;
    const httpsPort = ingress.httpsPort ?? 8443;
    wanted.set(INGRESS_HTTPS, {
      bind: `https ${this.bindAddress} ${httpsPort}`,
      picker: '',
      options: {
        ...base,
        service: 'ingress',
        protocol: 'http',
        port: httpsPort,
        picker: none,
        resolve,
        tls: {
          // Read on every handshake: a changed certificate applies to the next connection.
          SNICallback: (name, cb) => {
            const context = pickByServerName(this.tlsByHost, name);
            if (context === undefined) cb(new Error(`no certificate for ${name}`), undefined);
            else cb(null, context);
          },
        },
      },
    });
  }

  /** The Service port an Ingress rule sends this request to (its picker may be missing: 503). */
  private resolveIngress(req: http.IncomingMessage): { picker: Picker | undefined; service: string } | undefined {
    const target = this.ingressTable?.match(req.headers.host, req.url ?? '/');
    if (target === undefined) return undefined;
    const service = `${target.namespace}/${target.service}`;
    const tables = this.tablesByService.get(service) ?? [];
    const table = tables.find((t) => (typeof target.port === 'number' ? t.port === target.port : t.portName === target.port));
    return { picker: table === undefined ? undefined : this.pickers.get(portKey(table)), service };
  }

  /** Contexts by host from the TLS Secrets; a missing or unusable Secret is reported once and its hosts get none. */
  private tlsContexts(bindings: ReturnType<typeof tlsBindings>): Map<string, tls.SecureContext> {
    const out = new Map<string, tls.SecureContext>();
    const reported = new Set<string>();
    const used = new Set<string>();
    for (const b of bindings) {
      used.add(b.secret);
      const [namespace, ingressName] = b.ingress.split('/');
      const problem = (reason: string, message: string): void => {
        const id = `${b.ingress} ${b.secret} ${message}`;
        reported.add(id);
        if (this.tlsReported.has(id)) return;
        this.logger.warn({ code: 'CAPSTAN_ERR_ROUTER_TLS', ingress: b.ingress, secret: b.secret, hosts: b.hosts }, message);
        this.options.onEvent?.({ namespace, object: `Ingress/${ingressName}`, type: 'Warning', reason, message });
      };
      const secret = this.secrets.get(b.secret);
      if (secret === undefined) {
        problem('TLSSecretMissing', `TLS Secret ${b.secret} does not exist or holds no tls.crt/tls.key: HTTPS is refused for ${b.hosts.join(', ')}`);
        continue;
      }
      const entry = this.tlsEntry(b.secret, secret);
      if (entry.context === undefined) {
        problem('TLSSecretInvalid', `TLS Secret ${b.secret} is not a usable kubernetes.io/tls Secret (${entry.error}): HTTPS is refused for ${b.hosts.join(', ')}`);
        continue;
      }
      for (const h of b.hosts) if (!out.has(h)) out.set(h, entry.context);
    }
    this.tlsReported = reported;
    for (const k of [...this.tlsCache.keys()]) if (!used.has(k)) this.tlsCache.delete(k);
    return out;
  }

  private tlsEntry(key: string, secret: TlsSecret): { digest: string; context?: tls.SecureContext; error?: string } {
    const field = (name: string): string | undefined => {
      const plain = secret.stringData?.[name];
      if (plain !== undefined) return plain;
      const b64 = secret.data?.[name];
      return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
    };
    const cert = field('tls.crt');
    const keyPem = field('tls.key');
    const digest = createHash('sha256')
      .update(cert ?? '')
      .update('\u0000')
      .update(keyPem ?? '')
      .digest('hex');
    const cached = this.tlsCache.get(key);
    if (cached?.digest === digest) return cached;
    let entry: { digest: string; context?: tls.SecureContext; error?: string };
    if (cert === undefined || keyPem === undefined) entry = { digest, error: `${cert === undefined ? 'tls.crt' : 'tls.key'} is missing` };
    else {
      try {
        entry = { digest, context: tls.createSecureContext({ cert, key: keyPem }) };
      } catch (err) {
        // OpenSSL's reason only (e.g. "key values mismatch"); never the PEM text.
        const reason = (err as { reason?: string; code?: string }).reason ?? (err as { code?: string }).code ?? 'not a certificate and key';
        entry = { digest, error: reason };
      }
    }
    this.tlsCache.set(key, entry);
    return entry;
  }

  private retire(key: string, state: PortState): void {
    this.ports.delete(key);
    const p = state.listener.close(this.options.drainMs ?? 10_000).catch((err: unknown) => this.logger.warn({ err, key }, 'listener close failed'));
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }
}

function portKey(t: PortTable): string {
  return `${t.namespace}/${t.service}:${t.port}`;
}

/**
 * What the routing tables read of a pod: identity, labels, owner revision, readiness, node and
 * host ports, each container's ports. A router holds every pod of the cluster, so the rest of
 * a decoded pod (env, image, probes, volumes) is not kept.
 */
function routedPod(pod: Pod): Pod {
  const m = pod.metadata;
  const metadata: Pod['metadata'] = { name: m.name, namespace: m.namespace, labels: m.labels, owner: m.owner, createdAt: m.createdAt };
  if (m.deletionRequestedAt !== undefined) metadata.deletionRequestedAt = m.deletionRequestedAt;
  const spec = { nodeName: pod.spec.nodeName, hostname: pod.spec.hostname, subdomain: pod.spec.subdomain, containers: (pod.spec.containers ?? []).map((c) => ({ name: c.name, ports: c.ports })) };
  const st = pod.status;
  const status = { phase: st.phase, ready: st.ready, hostIP: st.hostIP, ports: st.ports };
  return { metadata, spec, status } as unknown as Pod;
}
