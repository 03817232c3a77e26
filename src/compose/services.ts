// Service traffic in the control-plane process: the router's listeners, and what `capstan get
// services` and `capstan status` show (address, ready endpoints, set weights, and each
// revision's measured figures over the router's window) written as each Service's status.
// The figures are the sum of this router's window and every node's (the routing mesh: each
// agent's router sends its window to `/capstan/routerstats/<node>`), merged bucket by bucket
// (router/merge.ts), so analysis and the status see every request wherever it entered.

import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../api/cluster.js';
import type { Logger } from '../common/index.js';
import { EventRecorder } from '../controllers/index.js';
import { mergedRevisions, mergedStats, mergeWindows, Router, shiftSeries, type ServiceView, type WindowSeries, type WindowStats } from '../router/index.js';
import { ROUTER_STATS_PREFIX, type StoredRouterStats } from '../server/router-stats.js';
import type { KV } from '../store/types.js';

export interface ServiceTrafficOptions {
  kv: KV;
  logger: Logger;
  registry: Registry;
  bindAddress?: string;
  /** The Ingress listener's ports (`--ingress-port`, `--ingress-https-port`); off unless given. */
  ingress?: { httpPort: number; httpsPort?: number };
  /** `--node-port-addresses`: where node ports are served (default: bindAddress). */
  nodePortAddresses?: string[];
  /** `--router-workers`: worker processes serving the HTTP Service ports (unset or 1: none). */
  workers?: number;
  /** How often the Service status is refreshed from the router (default 2 s). */
  statusEveryMs?: number;
  /**
   * Under steady traffic the figures change on every refresh; they are rewritten at most this
   * often (default 5 s) so the store sees a bounded write rate per Service.
   */
  statsEveryMs?: number;
  /** The window the published figures cover (default 30 s). */
  statsWindowSeconds?: number;
  now?: () => number;
}

export interface ServiceTraffic {
  router: Router;
  /**
   * A revision's figures over the last `windowSeconds`, summed over this router and every
   * node's (as the analysis provider reads them): `service` is `<namespace>/<name>`, or a bare
   * name in `default`; undefined when no router has served the revision.
   */
  statsFor(service: string, revision: string, windowSeconds: number): WindowStats | undefined;
  /** Reads the nodes' figures from the store now (they are read before each status refresh too). */
  refreshNodeStats(): Promise<void>;
  stop(): Promise<void>;
}

/** The nodes' stored router windows, each moved onto the receiving server's clock; reports older than `maxAgeMs` are left out. */
export function nodeWindows(values: Iterable<Uint8Array>, nowMs: number, maxAgeMs: number): WindowSeries[][] {
  const out: WindowSeries[][] = [];
  for (const value of values) {
    let report: StoredRouterStats;
    try {
      report = JSON.parse(Buffer.from(value).toString('utf8')) as StoredRouterStats;
    } catch {
      continue;
    }
    if (!Array.isArray(report.series) || typeof report.receivedAt !== 'number' || nowMs - report.receivedAt > maxAgeMs) continue;
    out.push(shiftSeries(report.series, report.sentAt, report.receivedAt));
  }
  return out;
}

/** One revision's figures as the Service status carries them (JSON: no NaN, rounded). */
export interface RevisionTraffic {
  requests: number;
  errors: number;
  /** 0..1, null without requests. */
  successRate: number | null;
  /** Milliseconds (bucket upper bound), null without requests. */
  p50: number | null;
  p99: number | null;
  /** Percent of the Service's requests in the window this revision served: the actual weight. */
  share: number;
}

export interface ServiceTrafficStats {
  windowSeconds: number;
  /** Per revision hash; revisions without a request in the window are left out. */
  revisions: Record<string, RevisionTraffic>;
}

const finite = (n: number, digits: number): number | null => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

/** Per-revision figures of one Service from the router's sliding window. */
export function serviceTrafficStats(
  revisions: string[],
  stats: (revision: string) => WindowStats,
  windowSeconds: number,
): ServiceTrafficStats {
  const seen = revisions.map((r) => [r, stats(r)] as const).filter(([, s]) => s.requests > 0);
  const total = seen.reduce((n, [, s]) => n + s.requests, 0);
  const out: Record<string, RevisionTraffic> = {};
  for (const [r, s] of seen) {
    out[r] = {
      requests: s.requests,
      errors: s.errors,
      successRate: finite(s.successRate, 4),
      p50: finite(s.p50, 3),
      p99: finite(s.p99, 3),
      share: Number(((s.requests / total) * 100).toFixed(1)),
    };
  }
  return { windowSeconds, revisions: out };
}

export async function startServiceTraffic(options: ServiceTrafficOptions): Promise<ServiceTraffic> {
  const log = options.logger.child({ component: 'router' });
  const now = options.now ?? Date.now;
  const events = new EventRecorder({ kv: options.kv, source: 'router', logger: log });
  const router = new Router({
    kv: options.kv,
    logger: log,
    registry: options.registry,
    bindAddress: options.bindAddress,
    now,
    ingress: options.ingress,
    nodePortAddresses: options.nodePortAddresses,
    workers: options.workers,
    onEvent: (e) => void events.record(e).catch((err: unknown) => log.warn({ err }, 'could not record a router event')),
  });
  await router.start();
  let nodes: WindowSeries[][] = [];
  const refreshNodeStats = async (): Promise<void> => {
    const r = await options.kv.range(ROUTER_STATS_PREFIX, { prefix: true });
    // A report past two windows holds nothing any window still covers.
    nodes = nodeWindows(r.kvs.map((kv) => kv.value), now(), 120_000);
  };
  await refreshNodeStats().catch((err: unknown) => log.warn({ err }, 'could not read the nodes\' router figures'));
  const sources = (): WindowSeries[][] => [router.exportWindows(), ...nodes];
  const statsFor = (service: string, revision: string, windowSeconds: number): WindowStats | undefined => {
    const key = service.includes('/') ? service : `default/${service}`;
    const merged = nodes.length === 0 ? undefined : mergedStats(sources(), key, revision, Math.floor(now() / 1000), Math.min(windowSeconds, 60));
    return merged ?? router.statsFor(service, revision, windowSeconds);
  };
  const windowSeconds = options.statsWindowSeconds ?? 30;
  const statsEveryMs = options.statsEveryMs ?? 5000;
  const written = new Map<string, { base: string; value: string; statsAt: number }>();
  const publish = async (): Promise<void> => {
    await refreshNodeStats().catch((err: unknown) => log.debug({ err }, 'could not read the nodes\' router figures'));
    const merged = [mergeWindows(sources())];
    for (const view of router.addresses()) {
      const key = `${STORE_PREFIX.status}Service/${view.namespace}/${view.name}`;
      const base = JSON.stringify(viewFields(view));
      const prev = written.get(key);
      const at = now();
      // Only figures changed, and they were written recently: wait for the next slot.
      if (prev?.base === base && at - prev.statsAt < statsEveryMs) continue;
      const value = JSON.stringify({ ...viewFields(view), traffic: trafficOf(view, merged) });
      if (prev?.value === value) continue;
      await options.kv.put(key, value);
      written.set(key, { base, value, statsAt: at });
    }
  };
  const trafficOf = (view: ServiceView, merged: WindowSeries[][]): ServiceTrafficStats => {
    const key = `${view.namespace}/${view.name}`;
    const revisions = [...new Set([...router.revisionsWithTraffic(view.namespace, view.name), ...mergedRevisions(merged, key)])].sort();
    const nowSecond = Math.floor(now() / 1000);
    return serviceTrafficStats(revisions, (r) => mergedStats(merged, key, r, nowSecond, windowSeconds) ?? router.stats(view.namespace, view.name, r, windowSeconds), windowSeconds);
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(publish).catch((err: unknown) => log.warn({ err }, 'could not publish service status'));
  }, options.statusEveryMs ?? 2000);
  timer.unref();
  return {
    router,
    statsFor,
    refreshNodeStats,
    stop: async () => {
      clearInterval(timer);
      await running;
      await router.stop();
    },
  };
}

function viewFields(view: ServiceView): Pick<ServiceView, 'address' | 'endpoints' | 'weights' | 'nodePorts' | 'clusterIP'> {
  const out: Pick<ServiceView, 'address' | 'endpoints' | 'weights' | 'nodePorts' | 'clusterIP'> = { address: view.address, endpoints: view.endpoints, weights: view.weights };
  if (view.nodePorts !== undefined) out.nodePorts = view.nodePorts;
  if (view.clusterIP !== undefined) out.clusterIP = view.clusterIP;
  return out;
}
