// The StatefulSet controller: one key per set (`StatefulSet/<ns>/<name>`). Each pass reads the
// desired set, its status, its pods and its claims at one store revision, asks the pure core
// (plan.ts) for the next writes and applies them in one guarded transaction.
import { STORE_PREFIX, type DesiredRecord, type Pod } from '../../api/cluster.js';
import type { StatefulSet } from '../../api/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { storeController, type StoreControllerOptions } from '../store-controller.js';
import { EventRecorder } from '../events.js';
import { Controller, systemClock, type Clock, type Reconciler, parseObjectKey } from '../framework/index.js';
import { decodeJson, type Stored } from '../workload/index.js';
import { SCALE_PREFIX, decodeScale, scaleKey } from '../hpa/scale.js';
import { KIND, ordinalOf, planStatefulSet, type ObservedStatefulSet, type PlanKeys, type StatefulSetStatus, type StoredClaim } from './plan.js';

/**
 * Where claims are kept: `<ns>/<claim name>` → StoredClaim. The pod names its claim in
 * `spec.volumes[].persistentVolumeClaim.claimName`.
 */
export const CLAIMS_PREFIX = '/capstan/persistentvolumeclaims/';
const CONFLICT_RETRY_MS = 10;

export const statefulSetKeys: PlanKeys = {
  pod: (ns, name) => `${STORE_PREFIX.pods}${ns}/${name}`,
  claim: (ns, name) => `${CLAIMS_PREFIX}${ns}/${name}`,
  status: (ns, name) => `${STORE_PREFIX.status}${KIND}/${ns}/${name}`,
};

function isPod(v: unknown): v is Pod {
  const p = v as Partial<Pod> | undefined;
  return typeof p === 'object' && p !== null && typeof p.metadata?.name === 'string' && typeof p.metadata.owner === 'object' && typeof p.status === 'object' && typeof p.spec === 'object';
}

function isClaim(v: unknown): v is StoredClaim {
  const c = v as Partial<StoredClaim> | undefined;
  return typeof c === 'object' && c !== null && c.kind === 'PersistentVolumeClaim' && typeof c.metadata?.name === 'string' && c.metadata.owner?.kind === KIND;
}

export function parseStatefulSetKey(key: string): { namespace: string; name: string } | undefined {
  return parseObjectKey(KIND, key);
}

export async function observeStatefulSet(kv: KV, namespace: string, name: string): Promise<ObservedStatefulSet> {
  const first = await kv.range(`${STORE_PREFIX.desired}${KIND}/${namespace}/${name}`);
  const revision = first.revision;
  const [status, pods, claims, scale] = await Promise.all([
    kv.range(statefulSetKeys.status(namespace, name), { revision }),
    kv.range(`${STORE_PREFIX.pods}${namespace}/${name}-`, { prefix: true, revision }),
    kv.range(`${CLAIMS_PREFIX}${namespace}/`, { prefix: true, revision }),
    kv.range(scaleKey(KIND, namespace, name), { revision }),
  ]);
  const out: ObservedStatefulSet = { namespace, name, pods: [], claims: [] };
  const scaled = decodeScale(scale.kvs[0]);
  if (scaled) out.scaledReplicas = scaled.replicas;
  const record = decodeJson<DesiredRecord>(first.kvs[0]);
  if (record?.object?.kind === KIND) {
    out.set = record.object as StatefulSet;
    if (record.commit !== undefined) out.commit = record.commit;
  }
  const st = decodeJson<StatefulSetStatus>(status.kvs[0]);
  if (st && typeof st === 'object') out.status = { key: status.kvs[0]!.key, value: st, modRevision: status.kvs[0]!.modRevision };
  for (const item of pods.kvs) {
    const p = decodeJson<unknown>(item);
    // Owner kind, not the name's shape, says whose pod it is.
    if (!isPod(p) || p.metadata.owner.kind !== KIND || p.metadata.owner.name !== name || ordinalOf(name, p.metadata.name) === undefined) continue;
    out.pods.push({ key: item.key, value: p, modRevision: item.modRevision });
  }
  for (const item of claims.kvs) {
    const c = decodeJson<unknown>(item);
    if (isClaim(c) && c.metadata.owner.name === name) out.claims.push({ key: item.key, value: c, modRevision: item.modRevision } as Stored<StoredClaim>);
  }
  return out;
}

export interface StatefulSetReconcilerOptions {
  kv: KV;
  clock?: Clock;
  events?: EventRecorder;
}

export function statefulSetReconciler(options: StatefulSetReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'statefulset',
    async reconcile(key, ctx) {
      const ref = parseStatefulSetKey(key);
      if (!ref) return;
      const o = await observeStatefulSet(kv, ref.namespace, ref.name);
      const now = clock.now();
      const plan = planStatefulSet(o, now, statefulSetKeys);
      if (plan.ops.length === 0) return minReadyWake(o, now);
      const r = await kv.txn({ compare: plan.compare, success: plan.ops, failure: [] });
      if (!r.succeeded) {
        ctx.logger.debug('statefulset or its pods changed while reconciling; looking again');
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      for (const e of plan.events) await events?.record(e);
      ctx.logger.debug({ created: plan.created, stopping: plan.stopping, removed: plan.removed }, 'statefulset pass');
      return minReadyWake(o, now);
    },
  };
}

/** With minReadySeconds, look again when the next ready pod becomes available. */
function minReadyWake(o: ObservedStatefulSet, now: number): { requeueAfterMs: number } | undefined {
  const min = o.set?.spec.minReadySeconds ?? 0;
  if (min <= 0) return undefined;
  let next: number | undefined;
  for (const p of o.pods) {
    const since = p.value.status.readySince === undefined ? Number.NaN : Date.parse(p.value.status.readySince);
    const at = since + min * 1000;
    if (!Number.isNaN(at) && at > now && (next === undefined || at < next)) next = at;
  }
  return next === undefined ? undefined : { requeueAfterMs: next - now };
}

/** Desired StatefulSets, their pods and their claims → `StatefulSet/<ns>/<name>`. */
export function statefulSetKeyOf(item: KeyValue): string | undefined {
  if (item.key.startsWith(SCALE_PREFIX)) {
    const key = item.key.slice(SCALE_PREFIX.length);
    return key.startsWith(`${KIND}/`) ? key : undefined;
  }
  if (item.key.startsWith(STORE_PREFIX.desired)) {
    const key = item.key.slice(STORE_PREFIX.desired.length);
    return key.startsWith(`${KIND}/`) ? key : undefined;
  }
  const v = decodeJson<unknown>(item);
  if (isPod(v) || isClaim(v)) {
    const owner = (v as Pod).metadata.owner;
    return owner.kind === KIND ? `${KIND}/${(v as Pod).metadata.namespace}/${owner.name}` : undefined;
  }
  return undefined;
}

export type StatefulSetControllerOptions = StoreControllerOptions;

export function statefulSetController(options: StatefulSetControllerOptions): Controller {
  return storeController(options, { eventSource: 'statefulset-controller', keysOf: statefulSetKeyOf, prefixes: [STORE_PREFIX.desired, STORE_PREFIX.pods, CLAIMS_PREFIX, SCALE_PREFIX], reconciler: (deps) => statefulSetReconciler(deps) });
}
