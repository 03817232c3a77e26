// The scheduling controller: binds pods without `spec.nodeName` to nodes. Level-based: every
// pass reads nodes, node leases and pods, builds the scheduler core's cluster view and places
// every pending pod, oldest first, counting each placement before the next decision. All
// triggers map to one key, so a burst of changes becomes one pass (the queue de-duplicates).
// Binding is a compare-and-swap on the pod's modRevision: two schedulers never both bind a pod.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type NodeInfo as StoredNode, type Pod } from '../../api/cluster.js';
import { silentLogger } from '../../common/index.js';
import { Scheduler, type BoundPod, type Decision, type PodRequest } from '../../scheduler/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { systemClock, type Clock } from '../framework/clock.js';
import { Controller, type Reconciler, type ReconcileContext, type Result } from '../framework/controller.js';
import { watchSource } from '../framework/watch-source.js';
import { EventRecorder } from '../events.js';
import { CLAIMS_PREFIX } from '../statefulset/controller.js';
import { bindClaim, claimId, isClaimRecord, podClaimNames, volumePlacement, type ClaimRecord } from '../volumes/claims.js';
import { boundPod, needsScheduling, podId, podKey, podRequest, schedulerNode, schedulingOrder } from './view.js';

/** The one queue key: a pass always looks at the whole cluster. */
export const SCHEDULING_KEY = 'pending-pods';
export const NODE_LEASES_PREFIX = `${STORE_PREFIX.leases}nodes/`;
export const REASON_UNSCHEDULABLE_POD = 'Unschedulable';
export const EVENT_FAILED_SCHEDULING = 'FailedScheduling';
export const EVENT_SCHEDULED = 'Scheduled';

export interface SchedulingOptions {
  kv: KV;
  clock?: Clock;
  logger?: Logger;
  /** Breaks score ties; inject a seeded one for repeatable placements. */
  random?: () => number;
  /** Try unschedulable pods again this often even when nothing changes (default 30 s). */
  retryUnschedulableMs?: number;
  /** `source` of the events written (default "scheduler"). */
  source?: string;
  /** Attempts to bind one pod when its key keeps changing under us (default 5). */
  bindAttempts?: number;
}

export interface SchedulingControllerOptions extends SchedulingOptions {
  registry?: Registry;
  /** Full re-list of watched prefixes (default 10 min). */
  resyncMs?: number;
}

/** What one pass did, for logs and tests. */
export interface SchedulingPassResult {
  bound: { pod: string; node: string }[];
  unschedulable: { pod: string; reason: string }[];
  /** Binds lost to a concurrent writer (the pod was re-read and, if still pending, retried). */
  conflicts: number;
}

function decode<T>(kv: KeyValue): T | undefined {
  try {
    return JSON.parse(Buffer.from(kv.value).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * What a pass needs of a stored pod: waiting for a node, or what it holds where it is bound.
 * Kept per stored record (a KV served from a watch cache hands out the same record until the
 * key changes), so each version of a pod is decoded once and only this small summary stays.
 */
type PodSummary = { pending: true } | { pending: false; bound: BoundPod | undefined; claims?: string[] };

function summarize(item: KeyValue): PodSummary | undefined {
  const pod = decode<Pod>(item);
  if (!pod?.metadata || !pod.spec) return undefined;
  if (needsScheduling(pod)) return { pending: true };
  const bound = boundPod(pod);
  const claims = bound ? podClaimNames(pod).map((n) => claimId(pod.metadata.namespace, n)) : [];
  return claims.length > 0 ? { pending: false, bound, claims } : { pending: false, bound };
}

/** A pod bound to `node`, its Unschedulable reason cleared. */
function withNode(pod: Pod, node: string): Pod {
  const status = { ...pod.status };
  if (status.reason === REASON_UNSCHEDULABLE_POD) {
    delete status.reason;
    delete status.message;
  }
  return { ...pod, spec: { ...pod.spec, nodeName: node }, status };
}

/** Pods bound per transaction: far under the 1.5 MiB request limit. */
const BIND_BATCH = 100;

interface PlannedBind {
  pod: Pod;
  kv: KeyValue;
  node: string;
  request: PodRequest;
}

/** The claims of one pass: `<ns>/<name>` → record and the store version it was read at. */
type ClaimView = Map<string, { key: string; claim: ClaimRecord; modRevision: number }> & {
  /** `<ns>/<claim>` → the pod (`<ns>/<name>`) bound with it, for ReadWriteOncePod claims. */
  usedBy?: Map<string, string>;
};

/** One decision, with the claims it binds to the chosen node (WaitForFirstConsumer). */
interface PodDecision {
  request: PodRequest;
  decision: Decision;
  claims: { id: string; key: string; modRevision: number; bound: ClaimRecord }[];
}

type BindOutcome = { kind: 'bound'; node: string } | { kind: 'unschedulable'; reason: string } | { kind: 'skipped' };

export class SchedulingReconciler implements Reconciler {
  readonly name = 'scheduling';
  private readonly kv: KV;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retryMs: number;
  private readonly events: EventRecorder;
  private readonly attempts: number;
  private readonly summaries = new WeakMap<KeyValue, PodSummary | null>();

  constructor(options: SchedulingOptions) {
    this.kv = options.kv;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.retryMs = options.retryUnschedulableMs ?? 30_000;
    this.events = new EventRecorder({ kv: options.kv, source: options.source ?? 'scheduler', clock: this.clock, logger: options.logger });
    this.attempts = options.bindAttempts ?? 5;
  }

  async reconcile(_key: string, ctx: ReconcileContext): Promise<Result> {
    const result = await this.pass(ctx.logger);
    if (result.bound.length > 0 || result.unschedulable.length > 0) {
      ctx.logger.info({ bound: result.bound.length, unschedulable: result.unschedulable.length, conflicts: result.conflicts }, 'scheduling pass');
    }
    return result.unschedulable.length > 0 ? { requeueAfterMs: this.retryMs } : undefined;
  }

  /** One pass over every pending pod. */
  async pass(logger: Logger = silentLogger()): Promise<SchedulingPassResult> {
    const result: SchedulingPassResult = { bound: [], unschedulable: [], conflicts: 0 };
    const pods = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    const waiting: KeyValue[] = [];
    const holding: BoundPod[] = [];
    const usedBy = new Map<string, string>();
    for (const item of pods.kvs) {
      const s = this.summary(item);
      if (s?.pending) waiting.push(item);
      else if (s?.bound) {
        holding.push(s.bound);
        for (const c of s.claims ?? []) usedBy.set(c, s.bound.id);
      }
    }
    if (waiting.length === 0) return result;
    const [nodes, leases, claimKvs] = await Promise.all([
      this.kv.range(STORE_PREFIX.nodes, { prefix: true }),
      this.kv.range(NODE_LEASES_PREFIX, { prefix: true, keysOnly: true }),
      this.kv.range(CLAIMS_PREFIX, { prefix: true }),
    ]);
    const claims: ClaimView = new Map();
    claims.usedBy = usedBy;
    for (const item of claimKvs.kvs) {
      const c = decode<unknown>(item);
      if (isClaimRecord(c)) claims.set(claimId(c.metadata.namespace, c.metadata.name), { key: item.key, claim: c, modRevision: item.modRevision });
    }
    const leased = new Set(leases.kvs.map((l) => l.key.slice(NODE_LEASES_PREFIX.length)));
    const scheduler = new Scheduler({ random: this.random });
    for (const item of nodes.kvs) {
      const node = decode<StoredNode>(item);
      if (node?.name && node.capacity) scheduler.upsertNode(schedulerNode(node, leased.has(node.name)));
    }
    // A pod on a node the view does not know (node object gone) holds nothing anywhere.
    for (const b of holding) if (scheduler.allocated(b.node) !== undefined) scheduler.assume(b, b.node);
    const pending: { pod: Pod; kv: KeyValue }[] = [];
    for (const item of waiting) {
      const pod = decode<Pod>(item);
      if (pod) pending.push({ pod, kv: item });
    }
    pending.sort((a, b) => schedulingOrder(a.pod, b.pod));
    const record = (pod: Pod, outcome: BindOutcome): void => {
      if (outcome.kind === 'bound') result.bound.push({ pod: podId(pod), node: outcome.node });
      else if (outcome.kind === 'unschedulable') result.unschedulable.push({ pod: podId(pod), reason: outcome.reason });
    };
    // Decide every pod first, counting each placement before the next decision; bind in
    // batches: one transaction (one log entry) per batch instead of one per pod.
    const binds: PlannedBind[] = [];
    for (const { pod, kv } of pending) {
      const { request, decision, claims: toBind } = this.decide(scheduler, pod, claims);
      if (decision.fits && toBind.length === 0) {
        scheduler.assume(request, decision.node);
        binds.push({ pod, kv, node: decision.node, request });
      } else {
        // A pod binding claims writes them with itself, one pod per transaction.
        record(pod, await this.placeOne(scheduler, pod, kv, result, logger, claims));
      }
    }
    for (let i = 0; i < binds.length; i += BIND_BATCH) {
      const batch = binds.slice(i, i + BIND_BATCH);
      if (await this.bindBatch(batch)) {
        for (const b of batch) record(b.pod, { kind: 'bound', node: b.node });
        continue;
      }
      // Some pod changed since it was read: undo the batch's placements and bind one by one,
      // each compare-and-swap re-reading its pod on a conflict.
      for (const b of batch) scheduler.forget(b.request);
      for (const b of batch) record(b.pod, await this.placeOne(scheduler, b.pod, b.kv, result, logger, claims));
    }
    return result;
  }

  /** Binds every pod of `batch` to its node in one transaction, or none when any changed. */
  private async bindBatch(batch: PlannedBind[]): Promise<boolean> {
    const r = await this.kv.txn({
      compare: batch.map((b) => ({ key: b.kv.key, target: 'modRevision' as const, op: '==' as const, value: b.kv.modRevision })),
      success: batch.map((b) => ({ type: 'put' as const, key: b.kv.key, value: JSON.stringify(withNode(b.pod, b.node)) })),
      failure: [],
    });
    return r.succeeded;
  }

  /**
   * The scheduler's decision for one pod, its claims first: a missing or deleting claim keeps it
   * Pending, claims bound to a node pin it there, and unbound claims bind where it goes.
   */
  private decide(scheduler: Scheduler, pod: Pod, claims: ClaimView): PodDecision {
    const request = podRequest(pod);
    if (podClaimNames(pod).length === 0) return { request, decision: scheduler.schedule(request), claims: [] };
    const records = new Map([...claims].map(([id, c]) => [id, c.claim]));
    const placement = volumePlacement(pod, records);
    if (!placement.ok) {
      const total = scheduler.nodeCount;
      const reason = total === 0 ? 'no nodes available to schedule pods' : `0/${total} nodes are available: ${placement.reason}.`;
      return { request, decision: { fits: false, reason, failures: { [placement.reason]: total }, evaluatedNodes: 0, feasibleNodes: 0 }, claims: [] };
    }
    const id = podId(pod);
    for (const name of podClaimNames(pod)) {
      // ReadWriteOncePod: one pod at a time in the whole cluster.
      const cid = claimId(pod.metadata.namespace, name);
      const user = claims.usedBy?.get(cid);
      if (user !== undefined && user !== id && claims.get(cid)?.claim.spec.accessModes?.includes('ReadWriteOncePod')) {
        const total = scheduler.nodeCount;
        const why = `persistentvolumeclaim "${name}" has access mode ReadWriteOncePod and is used by pod ${user.slice(pod.metadata.namespace.length + 1)}`;
        return { request, decision: { fits: false, reason: `0/${total} nodes are available: ${why}.`, failures: { [why]: total }, evaluatedNodes: 0, feasibleNodes: 0 }, claims: [] };
      }
    }
    if (placement.node !== undefined) request.volumeNode = placement.node;
    const decision = scheduler.schedule(request);
    if (!decision.fits) return { request, decision, claims: [] };
    for (const name of podClaimNames(pod)) claims.usedBy?.set(claimId(pod.metadata.namespace, name), id);
    const now = this.clock.now();
    const toBind = placement.unbound.map((name) => {
      const id = claimId(pod.metadata.namespace, name);
      const c = claims.get(id)!;
      return { id, key: c.key, modRevision: c.modRevision, bound: bindClaim(c.claim, decision.node, now) };
    });
    return { request, decision, claims: toBind };
  }

  private summary(item: KeyValue): PodSummary | undefined {
    let s = this.summaries.get(item);
    if (s === undefined) {
      s = summarize(item) ?? null;
      this.summaries.set(item, s);
    }
    return s ?? undefined;
  }

  /** Decide, then bind with a CAS; on a conflict re-read the pod and decide again. */
  private async placeOne(scheduler: Scheduler, first: Pod, firstKv: KeyValue, result: SchedulingPassResult, logger: Logger, claims: ClaimView): Promise<BindOutcome> {
    let pod = first;
    let current = firstKv;
    const key = podKey(pod.metadata.namespace, pod.metadata.name);
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const { request, decision, claims: toBind } = this.decide(scheduler, pod, claims);
      let txn;
      if (decision.fits) {
        const next = withNode(pod, decision.node);
        txn = await this.kv.txn({
          compare: [
            { key, target: 'modRevision', op: '==', value: current.modRevision },
            ...toBind.map((c) => ({ key: c.key, target: 'modRevision' as const, op: '==' as const, value: c.modRevision })),
          ],
          success: [{ type: 'put', key, value: JSON.stringify(next) }, ...toBind.map((c) => ({ type: 'put' as const, key: c.key, value: JSON.stringify(c.bound) }))],
          failure: [{ type: 'get', key }, ...toBind.map((c) => ({ type: 'get' as const, key: c.key }))],
        });
        if (txn.succeeded) {
          // Later pods of this pass see the claims bound: they follow this pod's node.
          for (const c of toBind) claims.set(c.id, { key: c.key, claim: c.bound, modRevision: txn.revision });
          if (toBind.length > 0) logger.info({ pod: podId(pod), node: decision.node, claims: toBind.map((c) => c.id) }, 'claims bound to node');
          scheduler.assume(request, decision.node);
          logger.debug({ pod: podId(pod), node: decision.node, score: decision.score }, 'bound');
          return { kind: 'bound', node: decision.node };
        }
      } else {
        const unchanged = pod.status?.reason === REASON_UNSCHEDULABLE_POD && pod.status.message === decision.reason;
        if (unchanged) return { kind: 'unschedulable', reason: decision.reason };
        const next: Pod = { ...pod, status: { ...pod.status, phase: 'Pending', ready: false, reason: REASON_UNSCHEDULABLE_POD, message: decision.reason } };
        txn = await this.kv.txn({
          compare: [{ key, target: 'modRevision', op: '==', value: current.modRevision }],
          success: [{ type: 'put', key, value: JSON.stringify(next) }],
          failure: [{ type: 'get', key }],
        });
        if (txn.succeeded) {
          await this.events.record({
            namespace: pod.metadata.namespace,
            object: `Pod/${pod.metadata.name}`,
            type: 'Warning',
            reason: EVENT_FAILED_SCHEDULING,
            message: decision.reason,
          });
          return { kind: 'unschedulable', reason: decision.reason };
        }
      }
      // Someone else wrote the pod (another scheduler bound it, its status changed) or one of
      // its claims (another pod bound it): look again.
      result.conflicts++;
      for (const r of txn.results.slice(1)) {
        const item = r.type === 'get' ? r.kvs[0] : undefined;
        const c = item ? decode<unknown>(item) : undefined;
        if (item && isClaimRecord(c)) claims.set(claimId(c.metadata.namespace, c.metadata.name), { key: item.key, claim: c, modRevision: item.modRevision });
      }
      const fresh = txn.results[0];
      const kvs = fresh?.type === 'get' ? fresh.kvs : [];
      const reread = kvs[0] ? decode<Pod>(kvs[0]) : undefined;
      if (!reread || !kvs[0] || !needsScheduling(reread)) {
        // Bound elsewhere: count it, so later decisions in this pass see its node's load.
        const b = reread ? boundPod(reread) : undefined;
        if (b && scheduler.allocated(b.node) !== undefined) scheduler.assume(b, b.node);
        return { kind: 'skipped' };
      }
      pod = reread;
      current = kvs[0];
    }
    logger.warn({ pod: podId(first) }, 'pod kept changing while it was being bound; trying again next pass');
    return { kind: 'skipped' };
  }
}

// Every pod change triggers a pass: a delete only carries the previous (bound) value, so a
// pod freeing its node's room cannot be told apart from a status update. Passes coalesce in
// the queue, and a pass with nothing pending stops after reading the pods.
const podTrigger = (): string => SCHEDULING_KEY;

/** A Controller running the scheduling reconciler on pod, node and node-lease changes. */
export function schedulingController(options: SchedulingControllerOptions): Controller {
  const { kv, clock, logger } = options;
  const common = { kv, clock, logger, resyncMs: options.resyncMs };
  return new Controller({
    reconciler: new SchedulingReconciler(options),
    clock,
    logger,
    registry: options.registry,
    sources: [
      watchSource({ ...common, prefix: STORE_PREFIX.pods, keysOf: podTrigger }),
      watchSource({ ...common, prefix: STORE_PREFIX.nodes, keysOf: () => SCHEDULING_KEY }),
      watchSource({ ...common, prefix: NODE_LEASES_PREFIX, keysOf: () => SCHEDULING_KEY }),
      // A claim appearing (or going) decides pods waiting for it.
      watchSource({ ...common, prefix: CLAIMS_PREFIX, keysOf: () => SCHEDULING_KEY }),
    ],
  });
}
