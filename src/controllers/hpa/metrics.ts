// Measurements the autoscaler reads: the per-pod usage each node agent sends with its
// heartbeat (kept on the node record as `podMetrics`) and, for Pods metrics, a per-pod rate
// the router provides.
import { STORE_PREFIX, type Pod } from '../../api/cluster.js';
import type { KV } from '../../store/index.js';
import type { Clock } from '../framework/index.js';
import { systemClock } from '../framework/index.js';
import type { MetricsSource, PodUsage } from './controller.js';

/** The field of a node record (`/capstan/nodes/<node>`) that carries its pods' usage. */
export const NODE_METRICS_FIELD = 'podMetrics';

/** What the agent sends with each heartbeat (every 10 s by default, `capstan agent --heartbeat`). */
export interface NodeMetricsRecord {
  /** When the measurements were taken (ISO time). */
  at: string;
  /** The span the cpu rate is averaged over. */
  windowSeconds: number;
  /** By `<ns>/<pod>`: cpu in millicores, memory in bytes. */
  pods: Record<string, { cpu?: number; memory?: number }>;
}

/** Per-pod Pods metrics (e.g. requests per second from the router), by pod name. */
export type PodsMetricsProvider = (namespace: string, pods: readonly Pod[]) => Promise<Map<string, Record<string, number>>> | Map<string, Record<string, number>>;

export interface StoreMetricsSourceOptions {
  kv: KV;
  clock?: Clock;
  /** Records older than this are not fresh (default 60 s). */
  maxAgeMs?: number;
  podsMetrics?: PodsMetricsProvider;
}

const decoder = new TextDecoder();

/** Usage from the node records in the store (only the nodes the pods run on are read). */
export function storeMetricsSource(options: StoreMetricsSourceOptions): MetricsSource {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  return {
    async podUsage(namespace, pods) {
      const out = new Map<string, PodUsage>();
      const nodes = new Set(pods.map((p) => p.spec.nodeName).filter((n): n is string => typeof n === 'string'));
      const now = clock.now();
      for (const node of nodes) {
        const item = (await kv.range(`${STORE_PREFIX.nodes}${node}`)).kvs[0];
        if (!item) continue;
        let rec: NodeMetricsRecord | undefined;
        try {
          rec = (JSON.parse(decoder.decode(item.value)) as Record<string, NodeMetricsRecord | undefined>)[NODE_METRICS_FIELD];
        } catch {
          continue;
        }
        if (!rec || typeof rec.at !== 'string') continue;
        const at = Date.parse(rec.at);
        if (!Number.isFinite(at) || now - at > maxAgeMs || typeof rec.pods !== 'object' || rec.pods === null) continue;
        for (const p of pods) {
          if (p.spec.nodeName !== node) continue;
          const m = rec.pods[`${namespace}/${p.metadata.name}`];
          if (!m) continue;
          const u: PodUsage = {};
          if (typeof m.cpu === 'number') u.cpu = m.cpu;
          if (typeof m.memory === 'number') u.memory = m.memory;
          out.set(p.metadata.name, u);
        }
      }
      if (options.podsMetrics) {
        const extra = await options.podsMetrics(namespace, pods);
        for (const [pod, metrics] of extra) out.set(pod, { ...(out.get(pod) ?? {}), metrics });
      }
      return out;
    },
  };
}

/** The router's request count of one Service's revision over a window, or undefined when it has seen none. */
export type RevisionRequests = (service: string, revision: string, windowSeconds: number) => { requests: number } | undefined;

/** The Pods metric names a request rate is served under (see api/hpa.ts). */
const RATE_NAMES = ['http_requests_per_second', 'requests_per_second', 'capstan_requests_per_second'] as const;

function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (typeof selector !== 'object' || selector === null) return false;
  const entries = Object.entries(selector as Record<string, unknown>);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/**
 * Requests per second per pod from the router: for each Service selecting the pods, each
 * revision's request count over the window divided by the window and by that revision's
 * ready pods (the router spreads a revision's share evenly over its endpoints). A ready pod
 * behind a Service that saw no traffic gets 0.
 */
export function routerRequestRates(kv: KV, requests: RevisionRequests, windowSeconds = 30): PodsMetricsProvider {
  return async (namespace, pods) => {
    const out = new Map<string, Record<string, number>>();
    const ready = pods.filter((p) => p.status.ready && p.metadata.deletionRequestedAt === undefined);
    if (ready.length === 0) return out;
    const services = await kv.range(`${STORE_PREFIX.desired}Service/${namespace}/`, { prefix: true });
    const rate = new Map<string, number>();
    for (const item of services.kvs) {
      let svc: { object?: { metadata?: { name?: string }; spec?: { selector?: unknown } } };
      try {
        svc = JSON.parse(decoder.decode(item.value)) as typeof svc;
      } catch {
        continue;
      }
      const name = svc.object?.metadata?.name;
      const selector = svc.object?.spec?.selector;
      if (typeof name !== 'string') continue;
      const byRevision = new Map<string, Pod[]>();
      for (const p of ready) {
        if (!selects(selector, p.metadata.labels ?? {})) continue;
        const group = byRevision.get(p.metadata.owner.revision) ?? [];
        group.push(p);
        byRevision.set(p.metadata.owner.revision, group);
      }
      for (const [revision, group] of byRevision) {
        const count = requests(`${namespace}/${name}`, revision, windowSeconds)?.requests ?? 0;
        for (const p of group) rate.set(p.metadata.name, (rate.get(p.metadata.name) ?? 0) + count / windowSeconds / group.length);
      }
    }
    for (const [pod, r] of rate) out.set(pod, Object.fromEntries(RATE_NAMES.map((n) => [n, r])));
    return out;
  };
}
