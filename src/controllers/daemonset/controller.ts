// The DaemonSet controller: one key per set (`DaemonSet/<ns>/<name>`). Each pass reads the
// desired set, its status, its pods and every node at one store revision, asks the pure core
// (plan.ts) for the next writes and applies them in one guarded transaction. A node change
// wakes every DaemonSet.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type DesiredRecord, type NodeInfo, type Pod } from '../../api/cluster.js';
import type { DaemonSet } from '../../api/index.js';
import { silentLogger } from '../../common/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { EventRecorder } from '../events.js';
import { Controller, systemClock, watchSource, type Clock, type Reconciler, parseObjectKey } from '../framework/index.js';
import { decodeJson } from '../workload/index.js';
import { KIND, planDaemonSet, type DaemonSetKeys, type DaemonSetStatus, type ObservedDaemonSet } from './plan.js';

const CONFLICT_RETRY_MS = 10;

export const daemonSetKeys: DaemonSetKeys = {
  pod: (ns, name) => `${STORE_PREFIX.pods}${ns}/${name}`,
  status: (ns, name) => `${STORE_PREFIX.status}${KIND}/${ns}/${name}`,
};

function isPod(v: unknown): v is Pod {
  const p = v as Partial<Pod> | undefined;
  return typeof p === 'object' && p !== null && typeof p.metadata?.name === 'string' && typeof p.metadata.owner === 'object' && typeof p.status === 'object' && typeof p.spec === 'object';
}

function isNode(v: unknown): v is NodeInfo {
  const n = v as Partial<NodeInfo> | undefined;
  return typeof n === 'object' && n !== null && typeof n.name === 'string' && typeof n.capacity === 'object';
}

export function parseDaemonSetKey(key: string): { namespace: string; name: string } | undefined {
  return parseObjectKey(KIND, key);
}

export async function observeDaemonSet(kv: KV, namespace: string, name: string): Promise<ObservedDaemonSet> {
  const first = await kv.range(`${STORE_PREFIX.desired}${KIND}/${namespace}/${name}`);
  const revision = first.revision;
  const [status, pods, nodes] = await Promise.all([
    kv.range(daemonSetKeys.status(namespace, name), { revision }),
    kv.range(`${STORE_PREFIX.pods}${namespace}/${name}-`, { prefix: true, revision }),
    kv.range(STORE_PREFIX.nodes, { prefix: true, revision }),
  ]);
  const out: ObservedDaemonSet = { namespace, name, pods: [], nodes: [] };
  const record = decodeJson<DesiredRecord>(first.kvs[0]);
  if (record?.object?.kind === KIND) {
    out.set = record.object as DaemonSet;
    if (record.commit !== undefined) out.commit = record.commit;
  }
  const st = decodeJson<DaemonSetStatus>(status.kvs[0]);
  if (st && typeof st === 'object') out.status = { key: status.kvs[0]!.key, value: st, modRevision: status.kvs[0]!.modRevision };
  for (const item of pods.kvs) {
    const p = decodeJson<unknown>(item);
    // Owner kind, not the name's shape, says whose pod it is.
    if (isPod(p) && p.metadata.owner.kind === KIND && p.metadata.owner.name === name) out.pods.push({ key: item.key, value: p, modRevision: item.modRevision });
  }
  for (const item of nodes.kvs) {
    const n = decodeJson<unknown>(item);
    if (isNode(n)) out.nodes.push(n);
  }
  return out;
}

export interface DaemonSetReconcilerOptions {
  kv: KV;
  clock?: Clock;
  /** `[0, 1)`, for pod name suffixes. */
  random?: () => number;
  events?: EventRecorder;
}

export function daemonSetReconciler(options: DaemonSetReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  return {
    name: 'daemonset',
    async reconcile(key, ctx) {
      const ref = parseDaemonSetKey(key);
      if (!ref) return;
      const o = await observeDaemonSet(kv, ref.namespace, ref.name);
      const now = clock.now();
      const plan = planDaemonSet(o, now, random, daemonSetKeys);
      const wake = plan.requeueAt !== undefined ? { requeueAfterMs: Math.max(1, plan.requeueAt - now) } : undefined;
      if (plan.ops.length === 0) return wake;
      const r = await kv.txn({ compare: plan.compare, success: plan.ops, failure: [] });
      if (!r.succeeded) {
        ctx.logger.debug('daemon set, its pods or the nodes changed while reconciling; looking again');
        return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      for (const e of plan.events) await events?.record(e);
      ctx.logger.debug({ created: plan.created, stopping: plan.stopping, removed: plan.removed }, 'daemon set pass');
      return wake;
    },
  };
}

export interface DaemonSetControllerOptions {
  kv: KV;
  logger?: Logger;
  clock?: Clock;
  random?: () => number;
  registry?: Registry;
  resyncMs?: number;
  events?: EventRecorder;
}

export function daemonSetController(options: DaemonSetControllerOptions): Controller {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: 'daemonset-controller', clock, logger });
  // Every DaemonSet seen in the desired prefix: a node change wakes them all.
  const known = new Set<string>();
  const desiredKey = (item: KeyValue): string | undefined => {
    const key = item.key.slice(STORE_PREFIX.desired.length);
    if (!key.startsWith(`${KIND}/`)) return undefined;
    known.add(key);
    return key;
  };
  const podKey = (item: KeyValue): string | undefined => {
    const v = decodeJson<unknown>(item);
    return isPod(v) && v.metadata.owner.kind === KIND ? `${KIND}/${v.metadata.namespace}/${v.metadata.owner.name}` : undefined;
  };
  const resync = options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {};
  return new Controller({
    reconciler: daemonSetReconciler({ kv, clock, events, ...(options.random ? { random: options.random } : {}) }),
    sources: [
      watchSource({ kv, prefix: STORE_PREFIX.desired, keysOf: desiredKey, clock, logger, ...resync }),
      watchSource({ kv, prefix: STORE_PREFIX.pods, keysOf: podKey, clock, logger, ...resync }),
      watchSource({ kv, prefix: STORE_PREFIX.nodes, keysOf: () => [...known], clock, logger, ...resync }),
    ],
    clock,
    logger,
    ...(options.registry ? { registry: options.registry } : {}),
    workers: 2,
  });
}
