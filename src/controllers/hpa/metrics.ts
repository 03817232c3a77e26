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
