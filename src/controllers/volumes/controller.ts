// The claims controller: PersistentVolumeClaims from Git → claim records at CLAIMS_PREFIX.
// One key for the whole cluster (claims are few): every pass reads the desired claims, the
// claim records and the pods at one store revision and applies plan.ts's writes in one
// guarded transaction.
import { STORE_PREFIX, type DesiredRecord, type Pod } from '../../api/cluster.js';
import type { PersistentVolumeClaim } from '../../api/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { storeController, type StoreControllerOptions } from '../store-controller.js';
import { EventRecorder } from '../events.js';
import { Controller, systemClock, type Clock, type Reconciler } from '../framework/index.js';
import { CLAIMS_PREFIX } from '../statefulset/controller.js';
import { claimsInUse, isClaimRecord, podClaimNames, type ClaimRecord } from './claims.js';
import { planClaims, type ObservedClaims } from './plan.js';

export const CLAIMS_KEY = 'persistentvolumeclaims';
const DESIRED_CLAIMS = `${STORE_PREFIX.desired}PersistentVolumeClaim/`;
const CONFLICT_RETRY_MS = 10;

function decode<T>(item: KeyValue): T | undefined {
  try {
    return JSON.parse(Buffer.from(item.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export const claimKey = (namespace: string, name: string): string => `${CLAIMS_PREFIX}${namespace}/${name}`;

export async function observeClaims(kv: KV): Promise<ObservedClaims> {
  const first = await kv.range(DESIRED_CLAIMS, { prefix: true });
  const revision = first.revision;
  const [records, pods] = await Promise.all([kv.range(CLAIMS_PREFIX, { prefix: true, revision }), kv.range(STORE_PREFIX.pods, { prefix: true, revision })]);
  const out: ObservedClaims = { desired: [], records: [], inUse: new Map() };
  for (const item of first.kvs) {
    const r = decode<DesiredRecord>(item);
    if (r?.object?.kind === 'PersistentVolumeClaim') out.desired.push({ claim: r.object as PersistentVolumeClaim, ...(r.commit !== undefined ? { commit: r.commit } : {}) });
  }
  for (const item of records.kvs) {
    const c = decode<unknown>(item);
    if (isClaimRecord(c)) out.records.push({ key: item.key, value: c as ClaimRecord, modRevision: item.modRevision });
  }
  const list: Pod[] = [];
  for (const item of pods.kvs) {
    const p = decode<Pod>(item);
    if (p?.metadata && p.spec) list.push(p);
  }
  out.inUse = claimsInUse(list);
  return out;
}

export interface ClaimsReconcilerOptions {
  kv: KV;
  clock?: Clock;
  events?: EventRecorder;
}

export function claimsReconciler(options: ClaimsReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'persistentvolumeclaims',
    async reconcile(_key, ctx) {
      const o = await observeClaims(kv);
      const plan = planClaims(o, clock.now(), claimKey);
      if (plan.ops.length === 0) return undefined;
      const r = await kv.txn({ compare: plan.compare, success: plan.ops, failure: [] });
      if (!r.succeeded) {
        ctx.logger.debug('claims or pods changed while reconciling; looking again');
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      for (const e of plan.events) await events?.record(e);
      return undefined;
    },
  };
}

export type ClaimsControllerOptions = StoreControllerOptions;

/** Desired claims, claim records and pods (a pod going frees its claims) → one pass. */
export function claimsController(options: ClaimsControllerOptions): Controller {
  // Only pods with claims matter: their going may free a claim marked for deletion.
  const podKeys = (item: KeyValue): string | undefined => {
    const p = decode<Pod>(item);
    return p?.spec && podClaimNames(p).length > 0 ? CLAIMS_KEY : undefined;
  };
  return storeController(options, {
    eventSource: 'persistentvolume-controller',
    keysOf: () => CLAIMS_KEY,
    prefixes: [DESIRED_CLAIMS, CLAIMS_PREFIX, [STORE_PREFIX.pods, podKeys]],
    reconciler: (deps) => claimsReconciler(deps),
    workers: 1,
  });
}
