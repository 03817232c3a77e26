// The workload and revision controllers: each reads one key's state, asks its pure core for
// the next step and writes it in one guarded transaction. A lost race (a guarded key changed
// since the read) is simply looked at again shortly.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../../api/cluster.js';
import { silentLogger } from '../../common/index.js';
import type { StrategyRegistry } from '../../rollout/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { EventRecorder } from '../events.js';
import { Controller, systemClock, watchSource, type Clock, type Reconciler } from '../framework/index.js';
import { WORKLOAD_KINDS, decodeJson, isPod, isRevision, parseRevisionKey, parseWorkloadKey, revisionKey } from './keys.js';
import { observeWorkload } from './observed.js';
import { SCALE_PREFIX, scaleTargetKey } from '../hpa/scale.js';
import { OVERRIDES_PREFIX } from './progressive.js';
import { planWorkload } from './plan.js';
import { observeRevision, planRevision } from './revision-plan.js';

/** Retry delay after a guarded write lost to a concurrent one. */
const CONFLICT_RETRY_MS = 10;

export interface WorkloadReconcilerOptions {
  kv: KV;
  clock?: Clock;
  /** Strategies by type (default: the rollout package's RollingUpdate and Recreate). */
  registry?: StrategyRegistry;
  events?: EventRecorder;
}

export function workloadReconciler(options: WorkloadReconcilerOptions): Reconciler {
  const { kv, registry, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'workload',
    async reconcile(key, ctx) {
      const ref = parseWorkloadKey(key);
      if (!ref) return;
      const observed = await observeWorkload(kv, ref);
      const plan = planWorkload(observed, clock.now(), registry);
      if (plan.ops.length > 0) {
        const r = await kv.txn({ compare: plan.compare, success: plan.ops, failure: [] });
        if (!r.succeeded) {
          ctx.logger.debug('workload changed while reconciling; looking again');
          return { requeueAfterMs: CONFLICT_RETRY_MS };
        }
        for (const e of plan.events) await events?.record(e);
      }
      return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
    },
  };
}

export interface RevisionReconcilerOptions {
  kv: KV;
  clock?: Clock;
  /** `[0, 1)`, for pod name suffixes. */
  random?: () => number;
}

export function revisionReconciler(options: RevisionReconcilerOptions): Reconciler {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  return {
    name: 'revision',
    async reconcile(key, ctx) {
      const ref = parseRevisionKey(key);
      if (!ref) return;
      const observed = await observeRevision(kv, ref);
      const plan = planRevision(observed, clock.now(), random);
      if (plan.ops.length === 0) return;
      const r = await kv.txn({ compare: plan.compare, success: plan.ops, failure: [] });
      if (!r.succeeded) {
        ctx.logger.debug('revision or its pods changed while reconciling; looking again');
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      ctx.logger.debug({ created: plan.created, stopping: plan.stopping, removed: plan.removed }, 'revision pods updated');
    },
  };
}

/** Desired objects of a workload kind → their key. */
export function desiredWorkloadKey(item: KeyValue): string | undefined {
  const key = item.key.slice(STORE_PREFIX.desired.length);
  return WORKLOAD_KINDS.includes(key.split('/')[0] ?? '') ? key : undefined;
}

/**
 * Desired workloads → their key, and a Deployment → also the Rollouts whose spec.workloadRef
 * names it (so a change of its template rolls them). `refs` is the index kept from the
 * Rollouts seen: Deployment key → Rollout keys.
 */
export function desiredWorkloadKeys(refs: Map<string, Set<string>>): (item: KeyValue) => string | string[] | undefined {
  const byRollout = new Map<string, string>();
  return (item) => {
    const key = desiredWorkloadKey(item);
    if (key === undefined) return undefined;
    const [kind, ns] = key.split('/');
    if (kind === 'Rollout') {
      const old = byRollout.get(key);
      if (old !== undefined) refs.get(old)?.delete(key);
      byRollout.delete(key);
      const name = decodeJson<{ object?: { spec?: { workloadRef?: { name?: unknown } } } }>(item)?.object?.spec?.workloadRef?.name;
      if (typeof name === 'string' && name !== '') {
        const dep = `Deployment/${ns}/${name}`;
        byRollout.set(key, dep);
        let set = refs.get(dep);
        if (!set) refs.set(dep, (set = new Set()));
        set.add(key);
      }
      return key;
    }
    const rollouts = kind === 'Deployment' ? refs.get(key) : undefined;
    return rollouts && rollouts.size > 0 ? [key, ...rollouts] : key;
  };
}

/** A revision or pod → the key of the workload that owns it; pods of other owners (a Job's) are not ours. */
export function ownerWorkloadKey(item: KeyValue): string | undefined {
  const v = decodeJson<unknown>(item);
  if ((isRevision(v) || isPod(v)) && WORKLOAD_KINDS.includes(v.metadata.owner.kind)) {
    return `${v.metadata.owner.kind}/${v.metadata.namespace}/${v.metadata.owner.name}`;
  }
  return undefined;
}

/** A pod of a Deployment or Rollout → the key of its revision (by owner kind, never by name shape). */
export function podRevisionKey(item: KeyValue): string | undefined {
  const v = decodeJson<unknown>(item);
  return isPod(v) && WORKLOAD_KINDS.includes(v.metadata.owner.kind) ? revisionKey(v.metadata.namespace, v.metadata.owner.name, v.metadata.owner.revision) : undefined;
}

export interface WorkloadControllersOptions {
  kv: KV;
  logger?: Logger;
  clock?: Clock;
  /** `[0, 1)`, for pod name suffixes. */
  random?: () => number;
  /** Rollout strategies by type; canary and blue-green join here. */
  registry?: StrategyRegistry;
  /** Prometheus registry for the controllers' metrics. */
  metrics?: Registry;
  /** Full relist period of the watch sources (default 10 min). */
  resyncMs?: number;
  /** Event recorder to use (default: one writing as `workload-controller`). */
  events?: EventRecorder;
}

export interface WorkloadControllers {
  workload: Controller;
  revision: Controller;
  events: EventRecorder;
  /** Both controllers, for a ControllerManager. */
  all: Controller[];
}

/**
 * Keys reconciled at once by each of the two controllers: kube-controller-manager's default
 * for Deployments and ReplicaSets (--concurrent-deployment-syncs, --concurrent-replicaset-syncs).
 * A reconcile mostly waits for store writes; concurrent ones share a disk sync.
 */
const SYNC_WORKERS = 5;

/** The workload (Deployment/Rollout → revisions) and revision (→ pods) controllers, not started. */
export function createWorkloadControllers(options: WorkloadControllersOptions): WorkloadControllers {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: 'workload-controller', clock, logger });
  const src = (prefix: string, keysOf: (item: KeyValue) => string | string[] | undefined) =>
    watchSource({ kv, prefix, keysOf, clock, logger, ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}) });
  const common = { clock, logger, ...(options.metrics ? { registry: options.metrics } : {}) };
  const workload = new Controller({
    ...common,
    reconciler: workloadReconciler({ kv, clock, events, ...(options.registry ? { registry: options.registry } : {}) }),
    sources: [
      src(STORE_PREFIX.desired, desiredWorkloadKeys(new Map())),
      src(STORE_PREFIX.revisions, ownerWorkloadKey),
      src(STORE_PREFIX.pods, ownerWorkloadKey),
      src(OVERRIDES_PREFIX, (item) => item.key.slice(OVERRIDES_PREFIX.length)),
      src(SCALE_PREFIX, scaleTargetKey),
    ],
    workers: SYNC_WORKERS,
  });
  const revision = new Controller({
    ...common,
    reconciler: revisionReconciler({ kv, clock, ...(options.random ? { random: options.random } : {}) }),
    sources: [src(STORE_PREFIX.revisions, (item) => item.key.slice(STORE_PREFIX.revisions.length)), src(STORE_PREFIX.pods, podRevisionKey)],
    workers: SYNC_WORKERS,
  });
  return { workload, revision, events, all: [workload, revision] };
}
