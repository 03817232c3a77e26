// The node agent process: registers its node and heartbeats, watches the pods bound to it
// over the API (list, then watch from the list's revision; resume with Last-Event-ID; list
// again after 410 Gone), hands them to the PodManager and pushes each pod's status back.
// Status pushes are coalesced per pod (only the newest is sent) and retried with backoff.
// Containers a previous instance left running are adopted on the first sync, which waits
// for the first list so that nothing still wanted is stopped. Services are listed and watched
// too (service-cache.ts): the first sync also waits for them, so each container starts with
// the Service variables of its namespace (service-env.ts). With `dns` set the node's DNS server
// runs too (node-dns.ts), answering Service names from a snapshot source, and Docker pods get it
// as their resolver.
import { silentLogger, type Logger } from '../common/index.js';
import type { NodeInfo, Pod, PodStatus } from '../api/cluster.js';
import type { Router } from '../router/index.js';
import type { DnsSnapshot } from '../dns/index.js';
import { AgentApiClient, statusOf, type ApiEvent } from './api-client.js';
import { systemClock, type AgentClock, type TimerHandle } from './clock.js';
import type { EnvSourceRef } from './env.js';
import { wellKnownNodeLabels } from './node-labels.js';
import { AgentServer } from './agent-server.js';
import { NodeDns, localDnsSnapshot, routerDnsSnapshot } from './node-dns.js';
import { PodManager, type PodManagerOptions } from './pod-manager.js';
import type { RuntimeDriver } from './runtime.js';
import { NodeRouter, nodeRouterSettings, type ServiceRouterOptions } from './node-router.js';
import { ServiceCache } from './service-cache.js';
import { podServiceEnv } from './service-env.js';
import { UsageSampler, canMeasure, type PodUsageSample } from './stats.js';

export interface NodeAgentOptions {
  /** API server URL, e.g. http://127.0.0.1:7480; several, comma-separated, are tried in turn. */
  server: string;
  /** The cluster CA to trust for an https server, and this node's certificate: presented to the server, and served on the agent port. */
  tls?: import('../pki/index.js').ClientTls;
  /** An agent token bound to this node. */
  token: string;
  name: string;
  runtime: RuntimeDriver;
  labels?: Record<string, string>;
  /** cpu in millicores, memory in bytes, pods as a count (default 110). */
  capacity: { cpu: number; memory: number; pods?: number };
  /** Where the agent keeps its files (the runtime's state lives there too). */
  stateDir: string;
  logger?: Logger;
  clock?: AgentClock;
  /** Address reported for the node and pods (default 127.0.0.1). */
  address?: string;
  /**
   * Where this node's Service router answers: the `<SVC>_SERVICE_HOST` of every Service
   * (default: `address`). The router serves each Service on its own port there.
   */
  serviceHost?: string;
  /**
   * Run this node's own Service router (node-router.ts: every Service of the cluster from the
   * API's router feed, at `serviceHost`; node ports at `address` and the external address,
   * LoadBalancer Services on the external address too). Absent, none runs: `capstan up`,
   * whose control plane's router already serves.
   */
  serviceRouter?: ServiceRouterOptions;
  /** Heartbeat period (default 10 s). */
  heartbeatMs?: number;
  /** How often the runtime is asked whether it answers (default 5 s; runtimes without `ping` are not asked). */
  runtimeCheckMs?: number;
  /** First retry delay for failed calls, doubling up to `retryMaxMs` (defaults 500 ms, 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Passed to the PodManager. */
  manager?: Pick<PodManagerOptions, 'backoff' | 'resyncMs' | 'orphanGraceMs' | 'probeHost' | 'volumeSyncMs'>;
  /** Run privileged containers (`--allow-privileged`); the node then says `allowPrivileged: true`. */
  allowPrivileged?: boolean;
  /**
   * The agent's own port for logs and exec (`--listen`; default 127.0.0.1 and a port the kernel
   * picks); false runs none. Its address and port are reported in the node's status.
   */
  listen?: { host?: string; port?: number } | false;
  /**
   * The node's DNS server (`--dns-address`, `--dns-port`, `--cluster-domain`): none when unset.
   * `host` defaults to `address`; port 0 picks a free one. A port that cannot be bound is a
   * warning and no DNS. `snapshot` replaces what the names answer (default: this agent's
   * Services at `serviceHost`, headless ones with the pods of this node).
   */
  dns?: {
    host?: string;
    port: number;
    clusterDomain?: string;
    snapshot?: () => DnsSnapshot;
    hostResolvConf?: string;
    /**
     * Docker pods get the node DNS as their resolver (default: only when it is on port 53, as
     * resolv.conf names no port; tests on a free port set it).
     */
    podResolvConf?: boolean;
  };
}

export type NodeAgentState = 'STOPPED' | 'RUNNING' | 'STOPPING';

/** Pod status requests in flight at once from one agent. */
const STATUS_PUSH_LANES = 8;

interface PendingStatus {
  namespace: string;
  name: string;
  status: PodStatus;
  failures: number;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

/** Decoded data of a ConfigMap or Secret from the API's desired objects. */
function envData(kind: EnvSourceRef['kind'], object: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const data = (object.data ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(data)) out[k] = kind === 'Secret' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
  if (kind === 'Secret') for (const [k, v] of Object.entries((object.stringData ?? {}) as Record<string, string>)) out[k] = String(v);
  return out;
}

export class NodeAgent {
  readonly name: string;
  readonly manager: PodManager;
  private readonly api: AgentApiClient;
  private readonly clock: AgentClock;
  private readonly logger: Logger;
  private readonly heartbeatMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly address: string;
  private readonly pods = new Map<string, Pod>();
  private readonly services: ServiceCache;
  private serviceLoop: Promise<void> | undefined;
  private readonly lastStatus = new Map<string, PodStatus>();
  private readonly pending = new Map<string, PendingStatus>();
  private listed = false;
  private revision: number | undefined;
  private abort: AbortController | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private runtimeTimer: TimerHandle | undefined;
  private readonly runtimeCheckMs: number;
  /** Why the runtime does not answer, while it does not. */
  private runtimeDown: string | undefined;
  /** Per-pod usage measured before each heartbeat and sent with it (the autoscaler reads it from the node). */
  private readonly sampler = new UsageSampler();
  private podMetrics: { at: string; windowSeconds: number; pods: Record<string, PodUsageSample> } | undefined;
  private lastSampleAt: number | undefined;
  private pushTimer: TimerHandle | undefined;
  private pushing: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private watchLoop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Set once stop() has finished: no more pushes are scheduled. */
  private closed = false;
  /** The logs and exec port, while it listens. */
  private agentServer: AgentServer | undefined;
  private endpoint: { host: string; port: number } | undefined;
  /** What the API server sends to the agent port; from the register and heartbeat answers. */
  private proxySecret: string | undefined;
  /** Where this node's Service router answers. */
  private readonly routerHost: string;
  /** This node's Service router, while the agent runs with one. */
  private nodeRouter: NodeRouter | undefined;
  private readonly dns: NodeDns | undefined;

  constructor(private readonly options: NodeAgentOptions) {
    this.name = options.name;
    this.api = new AgentApiClient({ server: options.server, token: options.token, ...(options.tls ? { tls: options.tls } : {}) });
    this.clock = options.clock ?? systemClock();
    this.logger = (options.logger ?? silentLogger()).child({ component: 'node-agent', node: options.name });
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.runtimeCheckMs = options.runtimeCheckMs ?? 5000;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.address = options.address ?? '127.0.0.1';
    const serviceHost = options.serviceHost ?? this.address;
    this.routerHost = serviceHost;
    this.services = new ServiceCache({
      api: this.api,
      logger: this.logger,
      delay: (ms, signal) => this.delay(ms, signal),
      backoffMs: (failures) => this.backoffMs(failures),
      onReady: () => this.requestSync(),
      onChange: () => this.dns?.refresh(),
    });
    this.manager = new PodManager({
      ...(options.manager ?? {}),
      driver: options.runtime,
      node: options.name,
      clock: this.clock,
      logger: options.logger,
      hostIP: this.address,
      onStatus: (pod, status) => this.onStatus(pod, status),
      onRemoved: (pod) => this.onRemoved(pod),
      envLookup: (namespace, ref) => this.envLookup(namespace, ref),
      serviceEnv: (pod) => podServiceEnv(pod, this.services.snapshot(), serviceHost),
      allowPrivileged: options.allowPrivileged === true,
      dataDir: options.stateDir,
    });
    if (options.dns !== undefined) {
      const domain = options.dns.clusterDomain;
      this.dns = new NodeDns({
        host: options.dns.host ?? this.address,
        port: options.dns.port,
        ...(domain !== undefined ? { clusterDomain: domain } : {}),
        ...(options.dns.hostResolvConf !== undefined ? { hostResolvConf: options.dns.hostResolvConf } : {}),
        dataDir: options.stateDir,
        logger: this.logger,
        snapshot:
          options.dns.snapshot ??
          (() => {
            const local = {
              services: this.services.snapshot(),
              pods: [...this.pods.values()].map((pod) => ({ pod, status: this.lastStatus.get(key(pod.metadata.namespace, pod.metadata.name)) })),
              routerAddress: serviceHost,
              nodeAddress: this.address,
              ...(domain !== undefined ? { clusterDomain: domain } : {}),
            };
            // The node's router sees every pod of the cluster; without it, this node's pods only.
            const router = this.nodeRouter?.router;
            return router !== undefined ? routerDnsSnapshot(router, local, this.nodeRouter?.podNames) : localDnsSnapshot(local);
          }),
      });
    }
  }

  /** Where the node's DNS server listens, while it runs. */
  get dnsAddress(): { host: string; port: number } | undefined {
    return this.dns?.address();
  }

  /** Answers the node's DNS gives from the snapshot source's newest view (e.g. after the router's views changed). */
  refreshDns(): void {
    this.dns?.refresh();
  }

  get state(): NodeAgentState {
    if (this.stopping) return 'STOPPING';
    return this.abort ? 'RUNNING' : 'STOPPED';
  }

  /** Asks the server to sign a certificate for this node's key (`capstan join`, rotation). */
  requestCertificate(request: { csr: string; hosts: string[] }): Promise<{ certificate: string; ca: string; notAfter: string }> {
    return this.api.call('POST', `/api/v1/nodes/${encodeURIComponent(this.name)}/certificate`, request);
  }

  /** A renewed node certificate: presented from the next connection on, and served on the agent port. */
  updateTls(tls: import('../pki/index.js').ClientTls): void {
    this.api.setTls(tls);
    if (tls.cert && tls.key) this.agentServer?.setCertificate({ cert: tls.cert, key: tls.key });
  }

  /** Why the container runtime does not answer, while it does not (the node is then not ready). */
  get runtimeProblem(): string | undefined {
    return this.runtimeDown;
  }

  /** The node object this agent registers; not ready while its runtime does not answer (as the kubelet's "container runtime is down"). */
  nodeBody(): Omit<NodeInfo, 'status'> & { status: Omit<NodeInfo['status'], 'lastHeartbeat'>; podMetrics?: NodeAgent['podMetrics'] } {
    const c = this.options.capacity;
    const down = this.runtimeDown;
    const endpoint = this.endpoint;
    // A port bound to one address is reached there; one on every address at the node's address.
    const reached = endpoint === undefined || ['0.0.0.0', '::', ''].includes(endpoint.host) ? this.address : endpoint.host;
    const where = {
      addresses: [
        { type: 'InternalIP', address: reached },
        { type: 'Hostname', address: this.name },
      ],
      ...(endpoint !== undefined ? { daemonEndpoints: { kubeletEndpoint: { port: endpoint.port, ...(this.agentServer?.https ? { scheme: 'https' as const } : {}) } } } : {}),
    };
    return {
      ...(this.podMetrics && down === undefined ? { podMetrics: this.podMetrics } : {}),
      name: this.name,
      labels: { ...wellKnownNodeLabels(this.name), ...this.options.labels },
      capacity: { cpu: c.cpu, memory: c.memory, pods: c.pods ?? 110 },
      runtime: this.options.runtime.name,
      ...(this.options.allowPrivileged ? { allowPrivileged: true } : {}),
      status:
        down === undefined
          ? { ready: true, address: this.address, ...where }
          : { ready: false, address: this.address, message: `container runtime is down: ${down}`, ...where },
    };
  }

  /**
   * Registers the node (throws when the server refuses the token or the body), then keeps
   * heartbeating and watching until stop().
   */
  async start(): Promise<void> {
    if (this.abort) return;
    this.closed = false;
    if (this.options.listen !== false && this.agentServer === undefined) {
      const server = new AgentServer({
        ...(this.options.listen ?? {}),
        secret: () => this.proxySecret,
        pods: this.manager,
        driver: this.options.runtime,
        node: this.name,
        logger: this.logger,
        ...(this.options.tls?.cert && this.options.tls.key ? { tls: { cert: this.options.tls.cert, key: this.options.tls.key } } : {}),
      });
      this.endpoint = await server.listen();
      this.agentServer = server;
    }
    try {
      this.takeSecret(await this.api.call('PUT', `/api/v1/nodes/${encodeURIComponent(this.name)}`, this.nodeBody()));
    } catch (err) {
      await this.closeAgentServer();
      throw err;
    }
    const dns = this.dns;
    if (dns !== undefined && (await dns.start())) {
      const port = dns.address()?.port;
      if (this.options.dns?.podResolvConf ?? port === 53) {
        this.options.runtime.setPodResolvConf?.(async (ref) => {
          const pod = this.pods.get(key(ref.namespace, ref.pod));
          return pod === undefined ? undefined : dns.writeResolvConf(pod);
        });
      } else if (this.options.runtime.setPodResolvConf !== undefined) {
        this.logger.info({ port }, `the node DNS is on port ${port}: containers keep the host's resolver (resolv.conf names no port; use --dns-port 53 to give it to them)`);
      }
    }
    this.logger.info({ server: this.options.server, runtime: this.options.runtime.name }, 'node registered');
    this.abort = new AbortController();
    this.scheduleHeartbeat();
    this.scheduleRuntimeCheck();
    this.watchLoop = this.runWatch(this.abort.signal);
    this.serviceLoop = this.services.run(this.abort.signal);
    const routing = this.options.serviceRouter;
    if (routing !== undefined) {
      const settings = nodeRouterSettings(routing, { address: this.address, serviceHost: this.routerHost });
      // The node's DNS answers follow what the router serves.
      this.nodeRouter = new NodeRouter({ ...settings, onChange: () => (settings.onChange?.(), this.refreshDns()), api: this.api, node: this.name, logger: this.logger });
      this.nodeRouter.start();
    }
  }

  /** This node's Service router (its `addresses()` say what it serves), once started; undefined without one. */
  get serviceRouter(): Router | undefined {
    return this.nodeRouter?.router;
  }

  /** The node's router runner: `ready()` once it serves, `sendStats()` sends its figures now. */
  get mesh(): NodeRouter | undefined {
    return this.nodeRouter;
  }

  /** Where the logs and exec port listens, once started. */
  get agentEndpoint(): { host: string; port: number } | undefined {
    return this.endpoint;
  }

  private takeSecret(answer: unknown): void {
    const secret = (answer as { proxySecret?: unknown } | undefined)?.proxySecret;
    if (typeof secret === 'string' && secret !== '') this.proxySecret = secret;
  }

  private async closeAgentServer(): Promise<void> {
    const server = this.agentServer;
    this.agentServer = undefined;
    this.endpoint = undefined;
    await server?.close();
  }

  /**
   * Stops heartbeats and the watch. Containers keep running for the next instance to adopt
   * unless `stopPods` is set.
   */
  stop(options: { stopPods?: boolean } = {}): Promise<void> {
    const abort = this.abort;
    if (!abort) return Promise.resolve();
    this.stopping ??= (async () => {
      abort.abort();
      if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
      if (this.runtimeTimer !== undefined) this.clock.clearTimeout(this.runtimeTimer);
      await this.runtimeCheck;
      await this.watchLoop;
      await this.serviceLoop;
      await this.nodeRouter?.stop();
      this.nodeRouter = undefined;
      await this.syncing;
      await this.closeAgentServer();
      await this.manager.close({ stopContainers: options.stopPods === true });
      this.options.runtime.setPodResolvConf?.(undefined);
      await this.dns?.close();
      if (this.pushTimer !== undefined) this.clock.clearTimeout(this.pushTimer);
      this.pushTimer = undefined;
      await this.pushing;
      this.closed = true;
      if (this.pushTimer !== undefined) this.clock.clearTimeout(this.pushTimer);
      this.pushTimer = undefined;
      this.abort = undefined;
      this.stopping = undefined;
      this.logger.info('node agent stopped');
    })();
    return this.stopping;
  }

  /** Pods the agent currently sees bound to its node. */
  boundPods(): Pod[] {
    return [...this.pods.values()];
  }

  /** Resolves once no sync, no worker pass and no status push is under way. */
  async idle(): Promise<void> {
    for (;;) {
      await this.syncing;
      await this.manager.idle();
      await this.pushing;
      if (!this.syncing && !this.pushing) return;
    }
  }

  private scheduleHeartbeat(ms = this.heartbeatMs): void {
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.measure()
        .then(() => this.api.call('PUT', `/api/v1/nodes/${encodeURIComponent(this.name)}`, this.nodeBody(), this.abort?.signal))
        .then((answer) => this.takeSecret(answer))
        .catch((err: unknown) => {
          if (!this.abort?.signal.aborted) this.logger.warn({ err }, 'heartbeat failed');
        })
        .finally(() => {
          if (this.abort && !this.abort.signal.aborted && this.heartbeatTimer === undefined) this.scheduleHeartbeat();
        });
    }, ms);
  }

  /** Samples every container's usage (cpu as millicores since the previous sample). Never throws. */
  private async measure(): Promise<void> {
    const runtime = this.options.runtime;
    if (!canMeasure(runtime) || this.runtimeDown !== undefined) return;
    try {
      const handles = await runtime.list();
      const measured = await Promise.all(handles.map(async (handle) => ({ handle, usage: await runtime.stats(handle) })));
      const now = this.clock.now();
      const pods = this.sampler.sample(
        now,
        measured.filter((m): m is { handle: typeof m.handle; usage: NonNullable<typeof m.usage> } => m.usage !== undefined),
      );
      this.podMetrics = { at: new Date(now).toISOString(), windowSeconds: this.lastSampleAt === undefined ? 0 : (now - this.lastSampleAt) / 1000, pods };
      this.lastSampleAt = now;
    } catch (err) {
      this.logger.debug({ err }, 'could not measure containers');
    }
  }

  private runtimeCheck: Promise<void> | undefined;

  private scheduleRuntimeCheck(): void {
    if (this.options.runtime.ping === undefined) return;
    this.runtimeTimer = this.clock.setTimeout(() => {
      this.runtimeCheck = this.checkRuntime().finally(() => {
        this.runtimeCheck = undefined;
        if (this.abort && !this.abort.signal.aborted) this.scheduleRuntimeCheck();
      });
    }, this.runtimeCheckMs);
  }

  /**
   * Asks the runtime whether it answers. Going down: the node reports NotReady with the
   * reason at once. Coming back: the node is ready again, every pod is looked at now
   * (containers the daemon stopped are started again by their workers) and containers no
   * pod owns are removed.
   */
  private async checkRuntime(): Promise<void> {
    let problem: string | undefined;
    try {
      await this.options.runtime.ping!();
    } catch (err) {
      problem = (err as Error).message;
    }
    if (this.abort?.signal.aborted) return;
    if (problem !== undefined) {
      if (this.runtimeDown === undefined) this.logger.warn({ problem }, 'container runtime does not answer; reporting the node not ready');
      const changed = this.runtimeDown === undefined;
      this.runtimeDown = problem;
      if (changed) this.scheduleHeartbeat(0);
      return;
    }
    if (this.runtimeDown === undefined) return;
    this.logger.info('container runtime answers again');
    this.runtimeDown = undefined;
    this.scheduleHeartbeat(0);
    this.manager.kickAll();
    try {
      const removed = await this.manager.sweep();
      if (removed > 0) this.logger.info({ removed }, 'removed containers no pod owns after the runtime came back');
    } catch (err) {
      this.logger.warn({ err }, 'could not look for containers no pod owns');
    }
  }

  private delay(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        this.clock.clearTimeout(handle);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const handle = this.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async runWatch(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.revision === undefined) await this.list(signal);
        failures = 0;
        await this.api.watch<Pod>('/api/v1/pods?watch=1', this.revision, signal, (events) => this.apply(events));
        if (signal.aborted) return;
        this.logger.info({ revision: this.revision }, 'pod watch ended; resuming');
      } catch (err) {
        if (signal.aborted) return;
        if (statusOf(err) === 410) {
          this.logger.info({ revision: this.revision }, 'watch resume point compacted; listing again');
          this.revision = undefined;
          continue;
        }
        failures++;
        this.logger.warn({ err, failures }, 'pod watch failed; retrying');
      }
      await this.delay(this.backoffMs(failures), signal);
    }
  }

  private backoffMs(failures: number): number {
    return Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.max(0, failures - 1));
  }

  private async list(signal: AbortSignal): Promise<void> {
    const body = await this.api.call<{ items: Pod[]; resourceVersion: number }>('GET', '/api/v1/pods', undefined, signal);
    this.pods.clear();
    for (const pod of body.items) if (pod.spec?.nodeName === this.name) this.pods.set(key(pod.metadata.namespace, pod.metadata.name), pod);
    this.revision = body.resourceVersion;
    this.listed = true;
    this.requestSync();
  }

  private apply(events: ApiEvent<Pod>[]): void {
    for (const e of events) {
      const pod = e.object;
      const k = key(pod.metadata.namespace, pod.metadata.name);
      if (e.type === 'DELETED' || pod.spec?.nodeName !== this.name) this.pods.delete(k);
      else this.pods.set(k, pod);
      this.revision = e.revision;
    }
    this.requestSync();
  }

  /** Runs PodManager.sync with the newest pods; calls while one runs fold into one more. */
  private requestSync(): void {
    if (!this.listed || !this.services.ready) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      try {
        do {
          this.syncAgain = false;
          await this.manager.sync([...this.pods.values()]);
        } while (this.syncAgain);
      } catch (err) {
        this.logger.error({ err }, 'pod sync failed');
      } finally {
        this.syncing = undefined;
      }
    })();
  }

  private async envLookup(namespace: string, ref: EnvSourceRef): Promise<Record<string, string> | undefined> {
    const path = `/api/v1/desired/${ref.kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(ref.name)}`;
    try {
      const item = await this.api.call<{ object?: Record<string, unknown> }>('GET', path);
      return item?.object ? envData(ref.kind, item.object) : undefined;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 403) return undefined; // reported as a missing reference
      throw err;
    }
  }

  private onStatus(pod: Pod, status: PodStatus): void {
    const k = key(pod.metadata.namespace, pod.metadata.name);
    this.lastStatus.set(k, status);
    this.dns?.refresh();
    this.queueStatus(pod.metadata.namespace, pod.metadata.name, status);
  }

  private onRemoved(pod: Pod): void {
    const k = key(pod.metadata.namespace, pod.metadata.name);
    const last = this.lastStatus.get(k);
    this.lastStatus.delete(k);
    this.dns?.refresh();
    if (this.dns !== undefined) void this.dns.forgetPod(pod.metadata.namespace, pod.metadata.name).catch((err: unknown) => this.logger.debug({ err, pod: k }, 'could not remove the pod resolv.conf'));
    // Tell the control plane the pod is gone, so its key can be removed; a pod no longer
    // bound here (evicted, deleted) has nobody to tell.
    const current = this.pods.get(k);
    const deleting = current?.metadata.deletionRequestedAt !== undefined || pod.metadata.deletionRequestedAt !== undefined;
    if (current !== undefined && deleting) {
      const status: PodStatus = { ...(last ?? current.status), ready: false, terminatedAt: new Date(this.clock.now()).toISOString() };
      this.queueStatus(pod.metadata.namespace, pod.metadata.name, status);
    }
  }

  private queueStatus(namespace: string, name: string, status: PodStatus): void {
    const k = key(namespace, name);
    const failures = this.pending.get(k)?.failures ?? 0;
    this.pending.set(k, { namespace, name, status, failures });
    if (this.pushTimer === undefined) this.pushSoon(0);
  }

  private pushSoon(ms: number): void {
    if (this.closed) return;
    if (this.pushTimer !== undefined) this.clock.clearTimeout(this.pushTimer);
    this.pushTimer = this.clock.setTimeout(() => {
      this.pushTimer = undefined;
      if (this.pushing) {
        void this.pushing.then(() => this.pushSoon(0));
        return;
      }
      this.pushing = this.pushAll().finally(() => {
        this.pushing = undefined;
      });
    }, ms);
  }

  /**
   * Sends every pending status once, a few at a time (the server syncs concurrent writes to
   * disk together); failures stay pending and are retried after a backoff.
   */
  private async pushAll(): Promise<void> {
    let retryIn: number | undefined;
    const todo = [...this.pending];
    let taken = 0;
    const lane = async (): Promise<void> => {
      while (taken < todo.length) {
        const [k, p] = todo[taken++]!;
        await pushOne(k, p);
      }
    };
    const pushOne = async (k: string, p: PendingStatus): Promise<void> => {
      try {
        await this.api.call('PUT', `/api/v1/pods/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}/status`, p.status);
        if (this.pending.get(k) === p) this.pending.delete(k);
      } catch (err) {
        const status = statusOf(err);
        if (status === 403 || status === 404 || status === 400) {
          // The pod is gone or no longer ours (or the status is refused): nothing to retry.
          if (this.pending.get(k) === p) this.pending.delete(k);
          this.logger.debug({ err, pod: k }, 'pod status not accepted');
          return;
        }
        p.failures++;
        const wait = this.backoffMs(p.failures);
        retryIn = retryIn === undefined ? wait : Math.min(retryIn, wait);
        this.logger.warn({ err, pod: k, failures: p.failures }, 'pod status push failed; retrying');
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATUS_PUSH_LANES, todo.length) }, lane));
    if (this.pending.size > 0) this.pushSoon(retryIn ?? 0);
  }
}
