// A node's own Service router (the routing mesh): the unchanged Router over the API's router
// feed (feed-kv.ts), serving every Service of the cluster on this node — each Service port on
// the service address, node ports on the node's addresses, LoadBalancer Services also on the
// external address — and sending its per-revision window to the server, which merges every
// node's figures for analysis and the Service status. The Ingress listener is not run here
// (TLS Secrets stay on the control plane).
import { Registry } from 'prom-client';
import type { ServicePort } from '../api/index.js';
import type { Logger } from '../common/index.js';
import { Router, type WindowSeries } from '../router/index.js';
import type { AgentApiClient } from './api-client.js';
import { FeedKV } from './feed-kv.js';
import { PodDnsNames } from './pod-dns-names.js';

export interface NodeRouterSettings {
  /** Where each Service port is served (the node's service address). */
  bindAddress: string;
  /** Every address node ports are served on (default: bindAddress). */
  nodePortAddresses?: string[];
  /** Where LoadBalancer Services' own ports are served too (the node's external address). */
  loadBalancerAddresses?: string[];
  /** The local port of a Service port (tests: 0 for a free one). */
  portFor?: (service: { namespace: string; name: string }, port: ServicePort) => number;
  /** The local port of a node port (tests). */
  nodePortFor?: (nodePort: number) => number;
  /** How often the window is sent to the server (default 5 s); 0 sends only on `sendStats()`. */
  statsEveryMs?: number;
  /** Pause before the router is started again after a failed start (default 1 s, doubling to 30 s). */
  retryMs?: number;
  /** Grace for in-flight requests when a listener closes (default 10 s). */
  drainMs?: number;
  /** Clock of the figures (ms since the epoch). */
  now?: () => number;
  /** Called whenever the router has applied a change (its `addresses()` may differ): the node's DNS follows it. */
  onChange?: () => void;
}

/** What the agent is told (`capstan agent`): the addresses default from the node's. */
export interface ServiceRouterOptions extends Partial<NodeRouterSettings> {
  /** `--external-address`: where LoadBalancer Services are served too (default the node's address). */
  externalAddress?: string;
}

const WILDCARD = ['0.0.0.0', '::', ''];

/**
 * The router's addresses on a node: Service ports on the service address, node ports on the
 * node's address and its external address (on the service address alone when that is a
 * wildcard, which covers them), LoadBalancer Services also on the external address.
 */
export function nodeRouterSettings(options: ServiceRouterOptions, node: { address: string; serviceHost: string }): NodeRouterSettings {
  const { externalAddress, ...rest } = options;
  const bindAddress = rest.bindAddress ?? node.serviceHost;
  const external = externalAddress ?? node.address;
  const nodePortAddresses = WILDCARD.includes(bindAddress) ? [bindAddress] : [...new Set([node.address, external])];
  return { ...rest, bindAddress, nodePortAddresses: rest.nodePortAddresses ?? nodePortAddresses, loadBalancerAddresses: rest.loadBalancerAddresses ?? [external] };
}

export interface NodeRouterOptions extends NodeRouterSettings {
  api: Pick<AgentApiClient, 'call' | 'watch'>;
  node: string;
  logger: Logger;
}

/** Latency counts without their trailing zeros (a reader treats missing slots as 0). */
function trimmed(series: WindowSeries[]): WindowSeries[] {
  return series.map((s) => ({
    ...s,
    buckets: s.buckets.map((b) => {
      let end = b.latency.length;
      while (end > 0 && b.latency[end - 1] === 0) end--;
      return { ...b, latency: Array.from(b.latency).slice(0, end) };
    }),
  }));
}

export class NodeRouter {
  private current: Router | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private lastSent: string | undefined;
  private started: Promise<void>;
  private markStarted!: () => void;
  private readonly now: () => number;
  private readonly logger: Logger;
  private failing = false;
  /** Every pod's hostname and subdomain, as the router's feed carries them (for the node's DNS). */
  readonly podNames = new PodDnsNames();

  constructor(private readonly options: NodeRouterOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'node-router' });
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** The router, once it has started (undefined before, and after stop()). */
  get router(): Router | undefined {
    return this.current;
  }

  /** Resolves once the router has listed the feed and opened its listeners (or stop() was called). */
  ready(): Promise<void> {
    return this.started;
  }

  /** Starts in the background: a failed start (the server unreachable, or too old for the feed) is retried. */
  start(): void {
    if (this.loop !== undefined) return;
    this.loop = this.run();
    const every = this.options.statsEveryMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.sendStats(), every);
      this.timer.unref();
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let wait = this.options.retryMs ?? 1000;
    while (!signal.aborted) {
      const o = this.options;
      const router = new Router({
        kv: new FeedKV(o.api, this.podNames),
        logger: this.logger,
        registry: new Registry(),
        bindAddress: o.bindAddress,
        ...(o.nodePortAddresses !== undefined ? { nodePortAddresses: o.nodePortAddresses } : {}),
        ...(o.loadBalancerAddresses !== undefined ? { loadBalancerAddresses: o.loadBalancerAddresses } : {}),
        ...(o.portFor !== undefined ? { portFor: o.portFor } : {}),
        ...(o.nodePortFor !== undefined ? { nodePortFor: o.nodePortFor } : {}),
        ...(o.now !== undefined ? { now: o.now } : {}),
        ...(o.drainMs !== undefined ? { drainMs: o.drainMs } : {}),
        ...(o.onChange !== undefined ? { onSynced: o.onChange } : {}),
      });
      try {
        await router.start();
        if (signal.aborted) {
          await router.stop();
          return;
        }
        this.current = router;
        this.logger.info({ address: o.bindAddress }, 'service router started on this node');
        this.markStarted();
        o.onChange?.();
        return;
      } catch (err) {
        await router.stop().catch(() => undefined);
        if (signal.aborted) return;
        this.logger.warn({ err, retryInMs: wait }, 'could not start the service router on this node; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
        wait = Math.min(30_000, wait * 2);
      }
    }
  }

  /** Sends the window to the server when it changed since the last send (one send at a time). */
  sendStats(): Promise<void> {
    this.sending = this.sending.then(() => this.sendOnce());
    return this.sending;
  }

  private async sendOnce(): Promise<void> {
    const router = this.current;
    if (router === undefined || this.abort.signal.aborted) return;
    const series = trimmed(router.exportWindows());
    const text = JSON.stringify(series);
    // Nothing new: an empty window is sent once, to clear what the server holds.
    if (text === this.lastSent) return;
    try {
      await this.options.api.call('POST', `/api/v1/nodes/${encodeURIComponent(this.options.node)}/routerstats`, { sentAt: this.now(), windowSeconds: 60, series });
      this.lastSent = text;
      if (this.failing) this.logger.info('router figures accepted again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn({ err }, 'could not send this node\'s router figures; retrying with the next');
      this.failing = true;
    }
  }

  /** Stops sending and closes every listener (in-flight requests get the router's drain time). */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.markStarted();
    await this.loop;
    await this.sending;
    const router = this.current;
    this.current = undefined;
    await router?.stop();
  }
}
