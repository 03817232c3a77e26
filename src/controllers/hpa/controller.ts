// The HorizontalPodAutoscaler controller: one key per HPA (`<ns>/<name>`), looked at every
// period. A pass reads the HPA, its target's replica count (the scale record's, else Git's),
// the target's pods and their measurements, asks the pure core (algorithm.ts) for a count and
// writes the scale record, the HPA's status and a SuccessfulRescale event. When the HPA is gone
// from Git its scale record is deleted, so the target's spec.replicas applies again.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type DesiredRecord, type Pod } from '../../api/cluster.js';
import { normalizeHpaSpec, parseQuantity, type HorizontalPodAutoscaler } from '../../api/index.js';
import { silentLogger } from '../../common/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { EventRecorder } from '../events.js';
import { Controller, systemClock, watchSource, type Clock, type Reconciler } from '../framework/index.js';
import { decide, emptyHistory, type CurrentMetric, type HpaCondition, type HpaHistory, type HpaPod } from './algorithm.js';
import { SCALE_PREFIX, decodeScale, scaleKey, type ScaleRecord } from './scale.js';

export const HPA_KIND = 'HorizontalPodAutoscaler';
/** Kubernetes' --horizontal-pod-autoscaler-sync-period. */
export const DEFAULT_HPA_PERIOD_MS = 15_000;

/** What a pod measures now: cpu millicores, memory bytes, Pods metrics by name. */
export interface PodUsage {
  cpu?: number;
  memory?: number;
  metrics?: Record<string, number>;
}

/** Where measurements come from (the agents' metrics records, the router); injected for tests. */
export interface MetricsSource {
  /** Usage of each pod that has a fresh measurement, by pod name. */
  podUsage(namespace: string, pods: readonly Pod[]): Promise<Map<string, PodUsage>>;
}

export interface HpaStatus {
  currentReplicas: number;
  desiredReplicas: number;
  currentMetrics: CurrentMetric[];
  conditions: Array<HpaCondition & { lastTransitionTime: string }>;
  lastScaleTime?: string;
  /** The target's Kind/name. */
  target: string;
}

const decoder = new TextDecoder();
function json<T>(item: KeyValue | undefined): T | undefined {
  if (!item || item.value.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(item.value)) as T;
  } catch {
    return undefined;
  }
}

export const hpaStatusKey = (namespace: string, name: string): string => `${STORE_PREFIX.status}${HPA_KIND}/${namespace}/${name}`;

function parseKey(key: string): { namespace: string; name: string } | undefined {
  const parts = key.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return { namespace: parts[0]!, name: parts[1]! };
}

function isPod(v: unknown): v is Pod {
  const p = v as Partial<Pod> | undefined;
  return typeof p === 'object' && p !== null && typeof p.metadata?.name === 'string' && typeof p.metadata.owner === 'object' && typeof p.status === 'object' && typeof p.spec === 'object';
}

/** A pod's request for a resource summed over its containers; undefined when one sets none (limits stand in, as Kubernetes defaults them). */
function podRequest(pod: Pod, resource: 'cpu' | 'memory'): number | undefined {
  let total = 0;
  for (const c of pod.spec.containers) {
    const q = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
    if (q === undefined) return undefined;
    try {
      total += parseQuantity(q, resource);
    } catch {
      return undefined;
    }
  }
  return total;
}

export function toHpaPod(pod: Pod, usage: PodUsage | undefined): HpaPod {
  const requests: HpaPod['requests'] = {};
  const cpu = podRequest(pod, 'cpu');
  const memory = podRequest(pod, 'memory');
  if (cpu !== undefined) requests.cpu = cpu;
  if (memory !== undefined) requests.memory = memory;
  const u: HpaPod['usage'] = {};
  if (usage?.cpu !== undefined) u.cpu = usage.cpu;
  if (usage?.memory !== undefined) u.memory = usage.memory;
  return {
    name: pod.metadata.name,
    phase: pod.status.phase,
    ready: pod.status.ready === true,
    deleting: pod.metadata.deletionRequestedAt !== undefined,
    requests,
    usage: u,
    metrics: usage?.metrics ?? {},
  };
}

export interface HpaReconcilerOptions {
  kv: KV;
  metrics: MetricsSource;
  clock?: Clock;
  events?: EventRecorder;
  /** How often each HPA is looked at (default 15 s). */
  periodMs?: number;
}

export function hpaReconciler(options: HpaReconcilerOptions): Reconciler {
  const { kv, metrics, events } = options;
  const clock = options.clock ?? systemClock;
  const periodMs = options.periodMs ?? DEFAULT_HPA_PERIOD_MS;
  // Recommendations and scale events per HPA, kept in memory as Kubernetes does.
  const histories = new Map<string, HpaHistory>();
  // When each HPA was last looked at, and at which version of its manifest: one pass per
  // period, however often its records change (its own writes wake it too).
  const lastPass = new Map<string, { at: number; modRevision: number }>();
  return {
    name: 'hpa',
    async reconcile(key) {
      const ref = parseKey(key);
      if (!ref) return;
      const { namespace, name } = ref;
      const now = clock.now();
      const desiredItem = (await kv.range(`${STORE_PREFIX.desired}${HPA_KIND}/${namespace}/${name}`)).kvs[0];
      const desired = json<DesiredRecord>(desiredItem);
      const statusKey = hpaStatusKey(namespace, name);
      if (desired?.object?.kind !== HPA_KIND || !desiredItem) {
        // Gone from Git: its scale records go, so spec.replicas applies again.
        histories.delete(key);
        lastPass.delete(key);
        const records = await kv.range(SCALE_PREFIX, { prefix: true });
        for (const item of records.kvs) if (decodeScale(item)?.hpa === key) await kv.delete(item.key);
        await kv.delete(statusKey);
        return;
      }
      const last = lastPass.get(key);
      if (last && last.modRevision === desiredItem.modRevision && now - last.at < periodMs) return { requeueAfterMs: last.at + periodMs - now };
      lastPass.set(key, { at: now, modRevision: desiredItem.modRevision });
      const spec = normalizeHpaSpec(desired.object as HorizontalPodAutoscaler);
      const target = spec.scaleTargetRef;
      const targetId = `${target.kind}/${target.name}`;
      const prevStatus = json<HpaStatus>((await kv.range(statusKey)).kvs[0]);
      const writeStatus = async (s: Omit<HpaStatus, 'conditions' | 'target'>, conditions: HpaCondition[]) => {
        const stamp = new Date(now).toISOString();
        const withTimes = conditions.map((c) => {
          const before = prevStatus?.conditions?.find((p) => p.type === c.type);
          return { ...c, lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : stamp };
        });
        const status: HpaStatus = { ...s, conditions: withTimes, target: targetId };
        await kv.put(statusKey, JSON.stringify(status));
      };

      // An HPA that now points elsewhere leaves its old target's record behind: remove it.
      const sKey = scaleKey(target.kind, namespace, target.name);
      const records = await kv.range(SCALE_PREFIX, { prefix: true });
      for (const item of records.kvs) if (item.key !== sKey && decodeScale(item)?.hpa === key) await kv.delete(item.key);

      const targetRecord = json<DesiredRecord>((await kv.range(`${STORE_PREFIX.desired}${target.kind}/${namespace}/${target.name}`)).kvs[0]);
      if (!targetRecord?.object) {
        await writeStatus({ currentReplicas: 0, desiredReplicas: 0, currentMetrics: [] }, [
          { type: 'AbleToScale', status: 'False', reason: 'FailedGetScale', message: `the HPA controller was unable to get the target's current scale: ${targetId} not found` },
        ]);
        return { requeueAfterMs: periodMs };
      }
      const scaleItem = (await kv.range(sKey)).kvs[0];
      const scale = decodeScale(scaleItem);
      const gitReplicas = (targetRecord.object.spec as { replicas?: number } | undefined)?.replicas ?? 1;
      const currentReplicas = scale?.replicas ?? gitReplicas;

      const podItems = await kv.range(`${STORE_PREFIX.pods}${namespace}/${target.name}-`, { prefix: true });
      const pods: Pod[] = [];
      for (const item of podItems.kvs) {
        const p = json<unknown>(item);
        if (isPod(p) && p.metadata.owner.kind === target.kind && p.metadata.owner.name === target.name) pods.push(p);
      }
      const usage = await metrics.podUsage(namespace, pods);
      const decision = decide({
        spec,
        currentReplicas,
        pods: pods.map((p) => toHpaPod(p, usage.get(p.metadata.name))),
        now,
        history: histories.get(key) ?? emptyHistory(),
      });
      histories.set(key, decision.history);
      let lastScaleTime = prevStatus?.lastScaleTime;
      if (decision.rescale) {
        const record: ScaleRecord = { replicas: decision.desiredReplicas, hpa: key, updatedAt: new Date(now).toISOString() };
        await kv.put(sKey, JSON.stringify(record));
        lastScaleTime = record.updatedAt;
        await events?.record({
          namespace,
          object: `${HPA_KIND}/${name}`,
          reason: 'SuccessfulRescale',
          message: `New size: ${decision.desiredReplicas}; reason: ${decision.reason ?? 'All metrics below target'}`,
        });
      }
      await writeStatus(
        {
          currentReplicas,
          desiredReplicas: decision.desiredReplicas,
          currentMetrics: decision.currentMetrics,
          ...(lastScaleTime !== undefined ? { lastScaleTime } : {}),
        },
        decision.conditions,
      );
      return { requeueAfterMs: periodMs };
    },
  };
}

/** Desired HPAs and scale records → the HPA's key. */
export function hpaKeyOf(item: KeyValue): string | undefined {
  if (item.key.startsWith(STORE_PREFIX.desired)) {
    const key = item.key.slice(STORE_PREFIX.desired.length);
    return key.startsWith(`${HPA_KIND}/`) ? key.slice(HPA_KIND.length + 1) : undefined;
  }
  if (item.key.startsWith(SCALE_PREFIX)) return decodeScale(item)?.hpa;
  return undefined;
}

export interface HpaControllerOptions {
  kv: KV;
  metrics: MetricsSource;
  logger?: Logger;
  clock?: Clock;
  registry?: Registry;
  resyncMs?: number;
  events?: EventRecorder;
  periodMs?: number;
}

export function hpaController(options: HpaControllerOptions): Controller {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: 'horizontal-pod-autoscaler', clock, logger });
  const src = (prefix: string) => watchSource({ kv, prefix, keysOf: hpaKeyOf, clock, logger, ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}) });
  return new Controller({
    reconciler: hpaReconciler({ kv, metrics: options.metrics, clock, events, ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}) }),
    sources: [src(STORE_PREFIX.desired), src(SCALE_PREFIX)],
    clock,
    logger,
    ...(options.registry ? { registry: options.registry } : {}),
    workers: 1,
  });
}
