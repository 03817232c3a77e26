// The node lifecycle controller, as Kubernetes' node lifecycle controller: a node whose lease
// has expired (its agent stopped heartbeating) is marked NotReady; once it has been NotReady
// for the eviction timeout, the pods bound to it get `deletionRequestedAt` and their keys are
// removed outright, because no agent is there to confirm they stopped. The workload's
// revision controller then creates replacements, which the scheduler places on live nodes.
// When the agent returns, its watch no longer shows those pods and it stops what it still
// runs, so a pod never runs twice for long.
//
// When a node became NotReady is kept in memory (as the upstream controller does): a new
// leader starts the timeout again, which only ever delays an eviction.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../api/cluster.js';
import { silentLogger } from '../../common/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { systemClock, type Clock } from '../framework/clock.js';
import { Controller, type Reconciler, type ReconcileContext, type Result } from '../framework/controller.js';
import { watchSource } from '../framework/watch-source.js';
import { EventRecorder } from '../events.js';
import { NODE_LEASES_PREFIX } from '../scheduling/index.js';

export const DEFAULT_EVICTION_TIMEOUT_MS = 60_000;
export const NODE_NOT_READY_MESSAGE = 'the node stopped sending heartbeats (its lease expired)';
export const EVENT_NODE_NOT_READY = 'NodeNotReady';
export const EVENT_EVICTED = 'Evicted';

export interface NodeLifecycleOptions {
  kv: KV;
  /** How long a node stays NotReady before its pods are removed (default 60 s). */
  evictionTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** `source` of the events written (default "node-lifecycle"). */
  source?: string;
}

export interface NodeLifecycleControllerOptions extends NodeLifecycleOptions {
  registry?: Registry;
  resyncMs?: number;
}

function decode<T>(kv: KeyValue | undefined): T | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(Buffer.from(kv.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** What to do with a node, from what the store shows (pure). */
export type NodeAction =
  | { kind: 'none' }
  | { kind: 'markNotReady' }
  | { kind: 'wait'; ms: number }
  | { kind: 'evict' };

export function nodeAction(input: { node: NodeInfo; leasePresent: boolean; notReadySince: number | undefined; now: number; evictionTimeoutMs: number }): NodeAction {
  if (input.leasePresent) return { kind: 'none' };
  if (input.node.status?.ready !== false) return { kind: 'markNotReady' };
  const since = input.notReadySince ?? input.now;
  const left = since + input.evictionTimeoutMs - input.now;
  return left > 0 ? { kind: 'wait', ms: left } : { kind: 'evict' };
}

export class NodeLifecycleReconciler implements Reconciler {
  readonly name = 'node-lifecycle';
  private readonly kv: KV;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly events: EventRecorder;
  /** Node name → when this instance first saw it without a lease. */
  private readonly notReadySince = new Map<string, number>();

  constructor(options: NodeLifecycleOptions) {
    this.kv = options.kv;
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = options.evictionTimeoutMs ?? DEFAULT_EVICTION_TIMEOUT_MS;
    this.events = new EventRecorder({ kv: options.kv, source: options.source ?? 'node-lifecycle', clock: this.clock, logger: options.logger });
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<Result> {
    const [nodeKv, lease] = await Promise.all([this.kv.get(STORE_PREFIX.nodes + name), this.kv.get(NODE_LEASES_PREFIX + name)]);
    const node = decode<NodeInfo>(nodeKv);
    if (!nodeKv || !node) {
      this.notReadySince.delete(name);
      return undefined;
    }
    const now = this.clock.now();
    if (lease) this.notReadySince.delete(name);
    else if (!this.notReadySince.has(name)) this.notReadySince.set(name, now);
    const action = nodeAction({ node, leasePresent: lease !== undefined, notReadySince: this.notReadySince.get(name), now, evictionTimeoutMs: this.timeoutMs });
    switch (action.kind) {
      case 'none':
        return undefined;
      case 'markNotReady':
        await this.markNotReady(node, nodeKv, ctx.logger);
        // The write re-queues the node through the watch; requeue anyway in case it raced.
        return { requeueAfterMs: this.timeoutMs };
      case 'wait':
        return { requeueAfterMs: action.ms };
      case 'evict': {
        const evicted = await this.evictPods(name, ctx.logger);
        if (evicted > 0) ctx.logger.warn({ node: name, pods: evicted }, 'evicted pods from a node that is not ready');
        // Pods bound to it later (they should not be) are found on the next check.
        return { requeueAfterMs: this.timeoutMs };
      }
    }
  }

  private async markNotReady(node: NodeInfo, current: KeyValue, logger: Logger): Promise<void> {
    const key = STORE_PREFIX.nodes + node.name;
    const next: NodeInfo = { ...node, status: { ...node.status, ready: false, message: NODE_NOT_READY_MESSAGE } };
    const r = await this.kv.txn({
      compare: [{ key, target: 'modRevision', op: '==', value: current.modRevision }],
      success: [{ type: 'put', key, value: JSON.stringify(next) }],
      failure: [],
    });
    if (!r.succeeded) return; // a heartbeat (or anyone) wrote it meanwhile: the next pass decides again
    logger.warn({ node: node.name }, 'node is not ready: its lease expired');
    await this.events.record({ namespace: 'default', object: `Node/${node.name}`, type: 'Warning', reason: EVENT_NODE_NOT_READY, message: `node ${node.name}: ${NODE_NOT_READY_MESSAGE}` });
  }

  /** Requests deletion of every pod bound to the node, then removes its key. Returns how many went. */
  private async evictPods(nodeName: string, logger: Logger): Promise<number> {
    const pods = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    let evicted = 0;
    for (const item of pods.kvs) {
      const pod = decode<Pod>(item);
      if (pod?.spec?.nodeName !== nodeName) continue;
      if (await this.evictOne(pod, item, nodeName, logger)) evicted++;
    }
    return evicted;
  }

  private async evictOne(pod: Pod, first: KeyValue, nodeName: string, logger: Logger): Promise<boolean> {
    const key = first.key;
    let current: KeyValue | undefined = first;
    let body = pod;
    for (let attempt = 0; attempt < 5 && current; attempt++) {
      if (body.spec.nodeName !== nodeName) return false; // moved meanwhile
      let modRevision = current.modRevision;
      if (body.metadata.deletionRequestedAt === undefined) {
        // Say why it goes before it goes, so watchers see the request, then the removal.
        const marked: Pod = { ...body, metadata: { ...body.metadata, deletionRequestedAt: new Date(this.clock.now()).toISOString() } };
        const put = await this.kv.txn({
          compare: [{ key, target: 'modRevision', op: '==', value: modRevision }],
          success: [{ type: 'put', key, value: JSON.stringify(marked) }],
          failure: [],
        });
        if (!put.succeeded) {
          current = await this.kv.get(key);
          body = decode<Pod>(current) ?? body;
          continue;
        }
        modRevision = put.revision;
      }
      const del = await this.kv.txn({
        compare: [{ key, target: 'modRevision', op: '==', value: modRevision }],
        success: [{ type: 'delete', key }],
        failure: [],
      });
      if (del.succeeded) {
        logger.info({ pod: `${body.metadata.namespace}/${body.metadata.name}`, node: nodeName }, 'pod removed from a node that is not ready');
        await this.events.record({
          namespace: body.metadata.namespace,
          object: `Pod/${body.metadata.name}`,
          type: 'Warning',
          reason: EVENT_EVICTED,
          message: `node ${nodeName} has not been ready for ${Math.round(this.timeoutMs / 1000)}s; the pod was removed so it can be recreated elsewhere`,
        });
        return true;
      }
      current = await this.kv.get(key);
      body = decode<Pod>(current) ?? body;
    }
    return false;
  }
}

/** A Controller running the node lifecycle reconciler on node and node-lease changes. */
export function nodeLifecycleController(options: NodeLifecycleControllerOptions): Controller {
  const { kv, clock } = options;
  const logger = options.logger ?? silentLogger();
  const common = { kv, clock, logger, resyncMs: options.resyncMs };
  return new Controller({
    reconciler: new NodeLifecycleReconciler(options),
    clock,
    logger,
    registry: options.registry,
    sources: [
      watchSource({ ...common, prefix: STORE_PREFIX.nodes }),
      watchSource({ ...common, prefix: NODE_LEASES_PREFIX }),
    ],
  });
}
