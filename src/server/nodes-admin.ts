// Node maintenance, as kubectl's cordon, uncordon, drain and delete node (admin role):
//
//   POST   /api/v1/nodes/{name}/cordon    sets `unschedulable: true`; the scheduler places no new pod there
//   POST   /api/v1/nodes/{name}/uncordon  clears it
//   POST   /api/v1/nodes/{name}/drain     cordons, then evicts one bounded batch of the node's pods
//                                         and says what is left; the CLI repeats it until nothing is
//   DELETE /api/v1/nodes/{name}           removes the node object, its lease key, its proxy secret and its pods
//
// Evicting a pod sets `deletionRequestedAt`: the agent stops it gracefully, and its revision or
// Job controller creates a replacement at once, which the scheduler places on another node.
// When the node has no lease (its agent is gone) nobody would confirm the stop, so the pod's key
// is removed outright, as the node lifecycle controller does for a dead node. Pods that have
// finished (Succeeded, Failed, terminated) run nothing and are left alone.
//
// A pod whose owner no controller keeps (no stored Deployment, Rollout or Job of that name, such
// as an analysis job's pod) would not come back: drain refuses while there is one unless
// `force` is set, as kubectl drain refuses unmanaged pods without --force.
//
// DaemonSet pods are left running, as `kubectl drain --ignore-daemonsets` does: their
// controller would make them again on the same node, which they tolerate being cordoned.
//
// A deleted node that heartbeats again re-registers as a new, schedulable node.
import type { Logger } from 'pino';
import { STORE_PREFIX, type DrainStep, type NodeInfo, type Pod } from '../api/cluster.js';
import { systemClock, type Clock } from '../common/clock.js';
import { silentLogger } from '../common/index.js';
import { EventRecorder } from '../controllers/index.js';
import type { KV, KeyValue } from '../store/index.js';
import { NODE_LEASE_PREFIX } from './agent.js';
import { apiError, isRecord, readJsonBody } from './http.js';
import type { Route } from './routes.js';

export const EVENT_NODE_CORDONED = 'NodeCordoned';
export const EVENT_NODE_UNCORDONED = 'NodeUncordoned';
export const EVENT_NODE_DRAINED = 'NodeDrained';
export const EVENT_NODE_DELETED = 'NodeDeleted';
export const EVENT_POD_EVICTED = 'Evicted';

/** Pods evicted per drain request unless the request asks for another size (at most MAX). */
export const DEFAULT_DRAIN_BATCH = 10;
export const MAX_DRAIN_BATCH = 100;

export interface NodeAdminOptions {
  kv: KV;
  bodyLimit: number;
  now: () => number;
  logger?: Logger;
}


const decoder = new TextDecoder();

function decode<T>(kv: KeyValue | undefined): T | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(decoder.decode(kv.value)) as T;
  } catch {
    return undefined;
  }
}

function podName(p: Pod): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

/** A pod that has stopped for good runs nothing on its node. */
function finished(p: Pod): boolean {
  return p.status?.terminatedAt !== undefined || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

function daemonPod(p: Pod): boolean {
  return p.metadata.owner?.kind === 'DaemonSet';
}

/** The store key of the object whose controller recreates the pod, if its kind has one. */
function ownerKey(p: Pod): string | undefined {
  const o = p.metadata.owner;
  if (!o?.name) return undefined;
  if (o.kind === 'Deployment' || o.kind === 'Rollout' || o.kind === 'StatefulSet') return `${STORE_PREFIX.desired}${o.kind}/${p.metadata.namespace}/${o.name}`;
  if (o.kind === 'Job') return `${STORE_PREFIX.jobs}${p.metadata.namespace}/${o.name}`;
  return undefined;
}

export class NodeAdmin {
  private readonly kv: KV;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly events: EventRecorder;

  constructor(options: Omit<NodeAdminOptions, 'bodyLimit'>) {
    this.kv = options.kv;
    this.now = options.now;
    this.logger = options.logger ?? silentLogger();
    const clock: Clock = { ...systemClock, now: options.now };
    this.events = new EventRecorder({ kv: options.kv, source: 'api-server', clock, logger: this.logger });
  }

  /** Sets or clears `unschedulable` by compare-and-swap; returns the node and whether it changed. */
  async setUnschedulable(name: string, value: boolean): Promise<{ node: NodeInfo; changed: boolean }> {
    const key = STORE_PREFIX.nodes + name;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.kv.get(key);
      const node = decode<NodeInfo>(current);
      if (!current || !node) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `node ${name} does not exist`);
      if ((node.unschedulable === true) === value) return { node, changed: false };
      const { unschedulable: _old, ...rest } = node;
      const next: NodeInfo = value ? { ...rest, unschedulable: true } : rest;
      const r = await this.kv.txn({
        compare: [{ key, target: 'modRevision', op: '==', value: current.modRevision }],
        success: [{ type: 'put', key, value: JSON.stringify(next) }],
        failure: [],
      });
      if (!r.succeeded) continue;
      this.logger.info({ node: name }, value ? 'node cordoned' : 'node uncordoned');
      await this.events.record({
        namespace: 'default',
        object: `Node/${name}`,
        type: 'Normal',
        reason: value ? EVENT_NODE_CORDONED : EVENT_NODE_UNCORDONED,
        message: value ? `node ${name} was cordoned: no new pods are placed on it` : `node ${name} was uncordoned: pods may be placed on it again`,
      });
      return { node: next, changed: true };
    }
    throw apiError('CAPSTAN_ERR_API_CONFLICT', `node ${name} kept changing while it was updated`);
  }

  /** Pods bound to the node, with their keys. */
  private async podsOn(name: string): Promise<{ pod: Pod; kv: KeyValue }[]> {
    const r = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    const out: { pod: Pod; kv: KeyValue }[] = [];
    for (const item of r.kvs) {
      const pod = decode<Pod>(item);
      if (pod?.metadata && pod.spec?.nodeName === name) out.push({ pod, kv: item });
    }
    return out;
  }

  private async managed(pods: Pod[]): Promise<Set<string>> {
    const keys = [...new Set(pods.map(ownerKey).filter((k): k is string => k !== undefined))];
    const present = new Set<string>();
    await Promise.all(keys.map(async (k) => ((await this.kv.get(k)) ? present.add(k) : undefined)));
    const out = new Set<string>();
    for (const p of pods) {
      const k = ownerKey(p);
      if (k !== undefined && present.has(k)) out.add(podName(p));
    }
    return out;
  }

  /**
   * Marks the pod for deletion; with `remove` (no agent to confirm the stop) also removes its
   * key. False when the pod changed or moved meanwhile (the next request looks again).
   */
  private async evict(pod: Pod, item: KeyValue, nodeName: string, remove: boolean, why: string): Promise<boolean> {
    let modRevision = item.modRevision;
    if (pod.metadata.deletionRequestedAt === undefined) {
      const marked: Pod = { ...pod, metadata: { ...pod.metadata, deletionRequestedAt: new Date(this.now()).toISOString() } };
      const put = await this.kv.txn({
        compare: [{ key: item.key, target: 'modRevision', op: '==', value: modRevision }],
        success: [{ type: 'put', key: item.key, value: JSON.stringify(marked) }],
        failure: [],
      });
      if (!put.succeeded) return false;
      modRevision = put.revision;
    } else if (!remove) {
      return false; // already stopping
    }
    if (remove) {
      const del = await this.kv.txn({
        compare: [{ key: item.key, target: 'modRevision', op: '==', value: modRevision }],
        success: [{ type: 'delete', key: item.key }],
        failure: [],
      });
      if (!del.succeeded) return false;
    }
    await this.events.record({
      namespace: pod.metadata.namespace,
      object: `Pod/${pod.metadata.name}`,
      type: 'Normal',
      reason: EVENT_POD_EVICTED,
      message: `${why} node ${nodeName}; the pod is recreated elsewhere by its controller`,
    });
    return true;
  }

  /** One drain step: cordon, refuse unmanaged pods unless forced, evict up to `batch` pods. */
  async drainStep(name: string, options: { force?: boolean; batch?: number } = {}): Promise<DrainStep> {
    const { changed } = await this.setUnschedulable(name, true);
    const batch = Math.min(Math.max(1, Math.floor(options.batch ?? DEFAULT_DRAIN_BATCH)), MAX_DRAIN_BATCH);
    const onNode = (await this.podsOn(name)).filter((p) => !finished(p.pod));
    const running = onNode.filter((p) => !daemonPod(p.pod));
    const daemonSet = onNode.filter((p) => daemonPod(p.pod)).map((p) => podName(p.pod));
    const managed = await this.managed(running.map((p) => p.pod));
    const unmanaged = running.filter((p) => !managed.has(podName(p.pod))).map((p) => podName(p.pod));
    const step: DrainStep = { node: name, cordoned: changed, evicted: [], remaining: [], unmanaged, daemonSet, done: false };
    if (unmanaged.length > 0 && !options.force) {
      throw apiError(
        'CAPSTAN_ERR_API_CONFLICT',
        `node ${name} runs pods no controller would recreate: ${unmanaged.join(', ')}; drain with force to evict them anyway`,
        { unmanaged },
      );
    }
    const leased = (await this.kv.get(NODE_LEASE_PREFIX + name)) !== undefined;
    for (const { pod, kv } of running) {
      if (step.evicted.length >= batch) break;
      if (pod.metadata.deletionRequestedAt !== undefined && leased) continue; // its agent is stopping it
      if (await this.evict(pod, kv, name, !leased, 'drained from')) step.evicted.push(podName(pod));
    }
    const left = (await this.podsOn(name)).filter((p) => !finished(p.pod) && !daemonPod(p.pod));
    step.remaining = left.map((p) => podName(p.pod));
    step.done = left.length === 0;
    if (step.done) {
      await this.events.record({ namespace: 'default', object: `Node/${name}`, type: 'Normal', reason: EVENT_NODE_DRAINED, message: `node ${name} was drained: no pods run on it${daemonSet.length > 0 ? ` but ${daemonSet.length} DaemonSet pod(s)` : ''}` });
    }
    return step;
  }

  /**
   * Removes the node object, its lease key and its proxy secret (an agent that registers again
   * gets a new one), and its pods so they are recreated elsewhere.
   */
  async deleteNode(name: string): Promise<{ node: string; deleted: true; evicted: string[] }> {
    const key = STORE_PREFIX.nodes + name;
    if (!(await this.kv.get(key))) throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `node ${name} does not exist`);
    await this.kv.txn({
      compare: [],
      success: [{ type: 'delete', key }, { type: 'delete', key: NODE_LEASE_PREFIX + name }, { type: 'delete', key: STORE_PREFIX.proxySecrets + name }],
      failure: [],
    });
    const evicted: string[] = [];
    // Pods that keep changing are looked at again; a few rounds settle every one.
    for (let round = 0; round < 5; round++) {
      const pods = await this.podsOn(name);
      if (pods.length === 0) break;
      for (const { pod, kv } of pods) if (await this.evict(pod, kv, name, true, 'removed with the deleted')) evicted.push(podName(pod));
    }
    this.logger.warn({ node: name, pods: evicted.length }, 'node deleted');
    await this.events.record({
      namespace: 'default',
      object: `Node/${name}`,
      type: 'Normal',
      reason: EVENT_NODE_DELETED,
      message: `node ${name} was deleted with ${evicted.length} pod(s); an agent that heartbeats again registers it anew`,
    });
    return { node: name, deleted: true, evicted };
  }
}

/** The admin routes above; mounted before the generic `/api/v1/:resource/*` reads. */
export function nodeAdminRoutes(options: NodeAdminOptions): Route[] {
  const admin = new NodeAdmin(options);
  return [
    { method: 'POST', pattern: '/api/v1/nodes/:name/cordon', access: 'admin', handler: async (ctx) => admin.setUnschedulable(ctx.params.name!, true) },
    { method: 'POST', pattern: '/api/v1/nodes/:name/uncordon', access: 'admin', handler: async (ctx) => admin.setUnschedulable(ctx.params.name!, false) },
    {
      method: 'POST',
      pattern: '/api/v1/nodes/:name/drain',
      access: 'admin',
      handler: async (ctx) => {
        const body = await readJsonBody(ctx.req, options.bodyLimit);
        if (body !== undefined && !isRecord(body)) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send { "force"?: boolean, "batchSize"?: number }');
        const force = body?.force === true;
        const batch = typeof body?.batchSize === 'number' && body.batchSize > 0 ? body.batchSize : undefined;
        return admin.drainStep(ctx.params.name!, { force, ...(batch !== undefined ? { batch } : {}) });
      },
    },
    { method: 'DELETE', pattern: '/api/v1/nodes/:name', access: 'admin', handler: async (ctx) => admin.deleteNode(ctx.params.name!) },
  ];
}
