// The router: watches Services, pods and traffic policies in the store and keeps one
// listener per Service port, each with a routing table built by the pure core (table.ts).
// Level-based: every change rebuilds the tables from the cached state; only tables whose
// content changed get a new picker, so an unrelated change does not restart the weighted
// sequence.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type Pod, type TrafficPolicy } from '../api/cluster.js';
import type { ServicePort } from '../api/index.js';
import type { KV, KeyValue } from '../store/index.js';
import { RouterMetrics, type WindowStats } from './metrics.js';
import { BackendPool, type BackendPoolOptions } from './pool.js';
import { createListener, type Listener } from './proxy.js';
import { buildTables, Picker, type PortTable, type RouterService } from './table.js';

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
  /** Grace for in-flight requests when a listener closes (default 10 s). */
  drainMs?: number;
  pool?: BackendPoolOptions;
  /** Clock for the metrics window (ms since the epoch). */
  now?: () => number;
  /** Pause before listing again after a watch fails (default 1 s). */
  retryMs?: number;
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
}

interface PortState {
  key: string;
  listener: Listener;
  /** What the listener was made for; a change recreates it. */
  bind: string;
  picker: Picker | undefined;
}

function decode<T>(kv: KeyValue): T | undefined {
  try {
    return JSON.parse(Buffer.from(kv.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

const SERVICE_PREFIX = `${STORE_PREFIX.desired}Service/`;

export class Router {
  private readonly kv: KV;
  private readonly logger: Logger;
  private readonly bindAddress: string;
  private readonly metrics: RouterMetrics;
  private readonly pool: BackendPool;
  private readonly services = new Map<string, RouterService>();
  private readonly pods = new Map<string, Pod>();
  private readonly policies = new Map<string, TrafficPolicy>();
  private readonly ports = new Map<string, PortState>();
  private readonly tablesByService = new Map<string, PortTable[]>();
  private readonly closing = new Set<Promise<void>>();
  private readonly watchers: Promise<void>[] = [];
  private abort: AbortController | undefined;
  private syncChain: Promise<void> = Promise.resolve();
  private syncQueued = false;
  private state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';

  constructor(private readonly options: RouterOptions) {
    this.kv = options.kv;
    this.logger = options.logger.child({ component: 'router' });
    this.bindAddress = options.bindAddress ?? '127.0.0.1';
    this.metrics = new RouterMetrics({ registry: options.registry, now: options.now });
    this.pool = new BackendPool(options.pool);
  }

  /** Lists the store, opens the listeners, then follows changes until `stop()`. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const sources: [string, (kv: KeyValue, deleted: boolean) => void][] = [
      [SERVICE_PREFIX, (kv, deleted) => this.applyService(kv, deleted)],
      [STORE_PREFIX.pods, (kv, deleted) => this.applyPod(kv, deleted)],
      [STORE_PREFIX.traffic, (kv, deleted) => this.applyPolicy(kv, deleted)],
    ];
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
      out.push({
        namespace,
        name,
        address: address.length === 1 ? address[0] : address,
        endpoints: [...endpoints].sort(),
        weights: tables[0]?.weights ?? {},
      });
    }
    return out;
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

  /** Revisions that have served any request of a Service (in the process's lifetime). */
  revisionsWithTraffic(namespace: string, name: string): string[] {
    return this.metrics.revisionsOf(`${namespace}/${name}`);
  }

  /** Requests in flight per backend `host:port`, including backends still draining. */
  inFlight(): Record<string, number> {
    return this.pool.inFlight();
  }

  private applyService(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(SERVICE_PREFIX.length);
    const record = deleted ? undefined : decode<{ object?: RouterService }>(kv);
    const svc = record?.object;
    if (svc === undefined || !Array.isArray(svc.spec?.ports)) this.services.delete(key);
    else this.services.set(key, svc);
  }

  private applyPod(kv: KeyValue, deleted: boolean): void {
    const key = kv.key.slice(STORE_PREFIX.pods.length);
    const pod = deleted ? undefined : decode<Pod>(kv);
    if (pod === undefined || pod.metadata === undefined || pod.status === undefined) this.pods.delete(key);
    else this.pods.set(key, pod);
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
    const cache = prefix === SERVICE_PREFIX ? this.services : prefix === STORE_PREFIX.pods ? this.pods : this.policies;
    cache.clear();
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
    const wanted = new Map<string, PortTable>();
    this.tablesByService.clear();
    for (const [key, svc] of this.services) {
      const [namespace] = key.split('/');
      const withNs: RouterService = { ...svc, metadata: { ...svc.metadata, namespace: svc.metadata.namespace ?? namespace } };
      const policy = this.policies.get(`${withNs.metadata.namespace}/${svc.metadata.name}`);
      const tables = buildTables(withNs, this.pods.values(), policy, (route, err) =>
        this.logger.warn({ service: key, route, err: String(err) }, 'header route has an invalid regex; skipped'),
      );
      this.tablesByService.set(`${withNs.metadata.namespace}/${svc.metadata.name}`, tables);
      for (const t of tables) wanted.set(portKey(t), t);
    }

    for (const [key, state] of this.ports) {
      if (!wanted.has(key)) this.retire(key, state);
    }
    const live = new Set<string>();
    for (const [key, table] of wanted) {
      for (const eps of Object.values(table.backends)) for (const e of eps) live.add(e.id);
      const svc = this.services.get(`${table.namespace}/${table.service}`);
      const sp = svc?.spec.ports.find((p) => p.port === table.port);
      const port = sp === undefined ? table.port : (this.options.portFor?.({ namespace: table.namespace, name: table.service }, sp) ?? table.port);
      const bind = `${table.protocol} ${this.bindAddress} ${port}`;
      let state = this.ports.get(key);
      if (state !== undefined && state.bind !== bind) {
        this.retire(key, state);
        state = undefined;
      }
      if (state === undefined) {
        const fresh: { picker: Picker | undefined } = { picker: undefined };
        const listener = createListener({
          service: `${table.namespace}/${table.service}`,
          protocol: table.protocol,
          host: this.bindAddress,
          port,
          picker: () => fresh.picker,
          pool: this.pool,
          metrics: this.metrics,
          logger: this.logger,
          timeoutMs: this.options.timeoutMs,
        });
        try {
          await listener.start();
        } catch (err) {
          this.logger.error({ err, service: key }, 'router listener failed to start; retrying on the next change');
          continue;
        }
        state = Object.assign(fresh, { key, listener, bind });
        this.ports.set(key, state);
        this.logger.info({ service: `${table.namespace}/${table.service}`, port: table.port, address: listener.address() }, 'router listening');
      }
      if (state.picker === undefined || state.picker.table.signature !== table.signature) state.picker = new Picker(table);
    }
    this.pool.retain(live);
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
