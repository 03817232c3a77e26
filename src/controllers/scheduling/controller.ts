// The scheduling controller: binds pods without `spec.nodeName` to nodes. Level-based: every
// pass reads nodes, node leases and pods, brings the scheduler core's cluster view up to date
// and places every pending pod, oldest first, counting each placement before the next
// decision. The view lives across passes and only what changed since the last one is applied
// to it (see ClusterView). All triggers map to one key, so a burst of changes becomes one
// pass (the queue de-duplicates).
// Binding is a compare-and-swap on the pod's modRevision: two schedulers never both bind a pod.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX, type NodeInfo as StoredNode, type Pod } from '../../api/cluster.js';
import { silentLogger, sleep } from '../../common/index.js';
import type { PodDisruptionBudget, PriorityClass } from '../../api/index.js';
import { type Scheduler, type BoundPod, type Decision, type DisruptionBudget, type PodRequest, type ScoringStrategy } from '../../scheduler/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { systemClock, type Clock } from '../framework/clock.js';
import { Controller, type Reconciler, type ReconcileContext, type Result } from '../framework/controller.js';
import { watchSource } from '../framework/watch-source.js';
import { EventRecorder } from '../events.js';
import { CLAIMS_PREFIX } from '../statefulset/controller.js';
import { bindClaim, claimId, isClaimRecord, podClaimNames, volumePlacement, type ClaimRecord } from '../volumes/claims.js';
import { ClusterView } from './cluster-view.js';
import { disruptionBudgets, isOurs, priorityClasses, queueOrder, resolvePriority, type PriorityClasses } from './priority.js';
import { boundPod, needsScheduling, podId, podKey, podRequest, schedulerNode } from './view.js';

/** The one queue key: a pass always looks at the whole cluster. */
export const SCHEDULING_KEY = 'pending-pods';
export const NODE_LEASES_PREFIX = `${STORE_PREFIX.leases}nodes/`;
export const REASON_UNSCHEDULABLE_POD = 'Unschedulable';
export const EVENT_FAILED_SCHEDULING = 'FailedScheduling';
export const EVENT_SCHEDULED = 'Scheduled';
export const EVENT_PREEMPTED = 'Preempted';
export const REASON_PREEMPTED = 'Preempted';
const DESIRED_PRIORITY_CLASSES = `${STORE_PREFIX.desired}PriorityClass/`;
const DESIRED_BUDGETS = `${STORE_PREFIX.desired}PodDisruptionBudget/`;
const DESIRED_NAMESPACES = `${STORE_PREFIX.desired}Namespace/`;

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
  /** NodeResourcesFit's scoring strategy (default LeastAllocated). */
  scoringStrategy?: ScoringStrategy;
  /**
   * Least time from one pass's start to the next's (default 50 ms). Changes that arrive
   * meanwhile wait and are decided together: while thousands of pods are created, a pass per
   * change would cost more than the binding.
   */
  minPassIntervalMs?: number;
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
  /** Pods that evicted lower-priority pods and wait for them on their nominated node. */
  preempted: { pod: string; node: string; victims: string[] }[];
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

/** A pod bound to `node`, its Unschedulable reason and nomination cleared, its resolved priority kept in its spec. */
function withNode(pod: Pod, node: string, priority?: number): Pod {
  const status = { ...pod.status };
  if (status.reason === REASON_UNSCHEDULABLE_POD) {
    delete status.reason;
    delete status.message;
  }
  delete status.nominatedNodeName;
  const spec = { ...pod.spec, nodeName: node };
  if (priority !== undefined && spec.priority === undefined) spec.priority = priority;
  return { ...pod, spec, status };
}

/** Pods bound per transaction: far under the 1.5 MiB request limit. */
const BIND_BATCH = 100;

interface PlannedBind {
  pod: Pod;
  kv: KeyValue;
  node: string;
  request: PodRequest;
}

/** What one pass reads besides pods and nodes: priority classes, budgets, namespace labels. */
interface PassContext {
  classes: PriorityClasses;
  /** Resolved priority per pending pod id. */
  priorities: Map<string, { priority: number; preemptionPolicy: 'PreemptLowerPriority' | 'Never' }>;
  /** The pods the view counts (bound in the store, or placed by this pass). */
  view: ClusterView;
  /** Store records of every pod by id, for victims (built on first use). */
  kvs: () => Map<string, KeyValue>;
  budgets: () => DisruptionBudget[];
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
  /** The scheduler looked at the nodes (no claim problem decided it first), so evicting pods may help. */
  preemptible?: boolean;
  claims: { id: string; key: string; modRevision: number; bound: ClaimRecord }[];
}

type BindOutcome =
  | { kind: 'bound'; node: string }
  | { kind: 'unschedulable'; reason: string }
  | { kind: 'preempted'; node: string; victims: string[] }
  | { kind: 'skipped' };

export class SchedulingReconciler implements Reconciler {
  readonly name = 'scheduling';
  private readonly kv: KV;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retryMs: number;
  private readonly events: EventRecorder;
  private readonly attempts: number;
  private readonly summaries = new WeakMap<KeyValue, PodSummary | null>();
  private readonly scoringStrategy: ScoringStrategy | undefined;
  private view: ClusterView | undefined;
  private readonly minPassIntervalMs: number;
  private lastPassAt = Number.NEGATIVE_INFINITY;

  constructor(options: SchedulingOptions) {
    this.kv = options.kv;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.retryMs = options.retryUnschedulableMs ?? 30_000;
    this.events = new EventRecorder({ kv: options.kv, source: options.source ?? 'scheduler', clock: this.clock, logger: options.logger });
    this.attempts = options.bindAttempts ?? 5;
    this.scoringStrategy = options.scoringStrategy;
    this.minPassIntervalMs = options.minPassIntervalMs ?? 50;
  }

  async reconcile(_key: string, ctx: ReconcileContext): Promise<Result> {
    const wait = this.lastPassAt + this.minPassIntervalMs - this.clock.now();
    if (wait > 0) await sleep(this.clock, wait);
    this.lastPassAt = this.clock.now();
    const result = await this.pass(ctx.logger);
    if (result.bound.length > 0 || result.unschedulable.length > 0) {
      ctx.logger.info({ bound: result.bound.length, unschedulable: result.unschedulable.length, conflicts: result.conflicts }, 'scheduling pass');
    }
    return result.unschedulable.length > 0 ? { requeueAfterMs: this.retryMs } : undefined;
  }

  /** One pass over every pending pod. */
  async pass(logger: Logger = silentLogger()): Promise<SchedulingPassResult> {
    const result: SchedulingPassResult = { bound: [], unschedulable: [], preempted: [], conflicts: 0 };
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
    const [nodes, leases, claimKvs, classKvs, budgetKvs, namespaceKvs] = await Promise.all([
      this.kv.range(STORE_PREFIX.nodes, { prefix: true }),
      this.kv.range(NODE_LEASES_PREFIX, { prefix: true, keysOnly: true }),
      this.kv.range(CLAIMS_PREFIX, { prefix: true }),
      this.kv.range(DESIRED_PRIORITY_CLASSES, { prefix: true }),
      this.kv.range(DESIRED_BUDGETS, { prefix: true }),
      this.kv.range(DESIRED_NAMESPACES, { prefix: true }),
    ]);
    const claims: ClaimView = new Map();
    claims.usedBy = usedBy;
    for (const item of claimKvs.kvs) {
      const c = decode<unknown>(item);
      if (isClaimRecord(c)) claims.set(claimId(c.metadata.namespace, c.metadata.name), { key: item.key, claim: c, modRevision: item.modRevision });
    }
    const classes = priorityClasses(desiredObjects<PriorityClass>(classKvs.kvs, 'PriorityClass'));
    const namespaceLabels: Record<string, Record<string, string>> = {};
    for (const ns of desiredObjects<{ metadata: { name: string; labels?: Record<string, string> } }>(namespaceKvs.kvs, 'Namespace')) {
      namespaceLabels[ns.metadata.name] = ns.metadata.labels ?? {};
    }
    const leased = new Set(leases.kvs.map((l) => l.key.slice(NODE_LEASES_PREFIX.length)));
    const podKvs = lazy(() => new Map(pods.kvs.map((k) => [k.key.slice(STORE_PREFIX.pods.length), k])));
    const view = this.currentView(namespaceLabels, [...namespaceKvs.kvs, ...classKvs.kvs]);
    view.syncNodes(nodes.kvs, leased, (item, hasLease) => {
      const node = decode<StoredNode>(item);
      return node?.name && node.capacity ? schedulerNode(node, hasLease) : undefined;
    });
    view.syncBound(holding, (held) => (held.priority === undefined ? this.withClassPriority(held, podKvs().get(held.id), classes) : held));
    const scheduler = view.scheduler;
    const ctx: PassContext = {
      classes,
      priorities: new Map(),
      view,
      kvs: podKvs,
      budgets: lazy(() => {
        const all: Pod[] = [];
        for (const item of pods.kvs) {
          const p = decode<Pod>(item);
          if (p?.metadata && p.spec) all.push(p);
        }
        return disruptionBudgets(desiredObjects<PodDisruptionBudget>(budgetKvs.kvs, 'PodDisruptionBudget'), all);
      }),
    };
    const pending: { pod: Pod; kv: KeyValue; priority: number }[] = [];
    const record = (pod: Pod, outcome: BindOutcome): void => {
      if (outcome.kind === 'bound') result.bound.push({ pod: podId(pod), node: outcome.node });
      else if (outcome.kind === 'unschedulable') result.unschedulable.push({ pod: podId(pod), reason: outcome.reason });
      else if (outcome.kind === 'preempted') result.preempted.push({ pod: podId(pod), node: outcome.node, victims: outcome.victims });
    };
    for (const item of waiting) {
      const pod = decode<Pod>(item);
      // A pod for another scheduler is that scheduler's: no binding, no Pending reason from us.
      if (!pod || !isOurs(pod)) continue;
      const resolved = resolvePriority(pod, classes);
      if (!resolved.ok) {
        record(pod, await this.markUnschedulable(pod, item, resolved.reason, result));
        continue;
      }
      ctx.priorities.set(podId(pod), { priority: resolved.priority, preemptionPolicy: resolved.preemptionPolicy });
      pending.push({ pod, kv: item, priority: resolved.priority });
    }
    pending.sort(queueOrder);
    // Decide every pod first, counting each placement before the next decision; bind in
    // batches: one transaction (one log entry) per batch instead of one per pod.
    const binds: PlannedBind[] = [];
    for (const { pod, kv } of pending) {
      const { request, decision, claims: toBind, preemptible } = this.decide(scheduler, pod, claims, ctx);
      if (decision.fits && toBind.length === 0) {
        view.assume(request, decision.node);
        binds.push({ pod, kv, node: decision.node, request });
        continue;
      }
      if (!decision.fits && preemptible === true && this.mayPreempt(pod, request, ctx)) {
        const outcome = await this.preempt(view, pod, kv, request, decision.reason, ctx, result, logger);
        if (outcome) {
          record(pod, outcome);
          continue;
        }
      }
      // A pod binding claims writes them with itself, one pod per transaction.
      record(pod, await this.placeOne(view, pod, kv, result, logger, claims, ctx));
    }
    for (let i = 0; i < binds.length; i += BIND_BATCH) {
      const batch = binds.slice(i, i + BIND_BATCH);
      if (await this.bindBatch(batch)) {
        for (const b of batch) record(b.pod, { kind: 'bound', node: b.node });
        continue;
      }
      // Some pod changed since it was read: undo the batch's placements and bind one by one,
      // each compare-and-swap re-reading its pod on a conflict.
      for (const b of batch) view.forget(b.request.id);
      for (const b of batch) record(b.pod, await this.placeOne(view, b.pod, b.kv, result, logger, claims, ctx));
    }
    return result;
  }

  /** A bound pod without spec.priority counts with its class's (or the global default's) value. */
  private withClassPriority(b: BoundPod, item: KeyValue | undefined, classes: PriorityClasses): BoundPod {
    if (classes.byName.size === 0) return b;
    const pod = item ? decode<Pod>(item) : undefined;
    if (!pod) return b;
    const r = resolvePriority(pod, classes);
    return r.ok && r.priority !== 0 ? { ...b, priority: r.priority } : b;
  }

  /**
   * kube-scheduler's PodEligibleToPreemptOthers: not with preemptionPolicy Never, and not while
   * a lower-priority pod on the node it was nominated to is still terminating (it waits for it).
   */
  private mayPreempt(pod: Pod, request: PodRequest, ctx: PassContext): boolean {
    if (request.preemptionPolicy === 'Never') return false;
    const nominated = pod.status?.nominatedNodeName;
    if (nominated === undefined) return true;
    const priority = request.priority ?? 0;
    for (const b of ctx.view.boundPods()) if (b.node === nominated && b.terminating && (b.priority ?? 0) < priority) return false;
    return true;
  }

  /**
   * Preemption: victims marked for graceful termination and the pod nominated to their node, in
   * one transaction guarded by every record it read. The view then counts the victims as
   * terminating and the pod on its node, so later pods of the pass leave that room alone.
   */
  private async preempt(view: ClusterView, pod: Pod, kv: KeyValue, request: PodRequest, reason: string, ctx: PassContext, result: SchedulingPassResult, logger: Logger): Promise<BindOutcome | undefined> {
    const found = view.scheduler.preempt(request, ctx.budgets());
    if (!found) return undefined;
    const now = new Date(this.clock.now()).toISOString();
    const id = podId(pod);
    const victims: { kv: KeyValue; pod: Pod }[] = [];
    for (const v of found.victims) {
      const item = ctx.kvs().get(v);
      const body = item ? decode<Pod>(item) : undefined;
      if (!item || !body) return undefined;
      victims.push({ kv: item, pod: body });
    }
    const message = `Preempted by pod ${id} on node ${found.node}`;
    const next: Pod = { ...pod, status: { ...pod.status, phase: 'Pending', ready: false, reason: REASON_UNSCHEDULABLE_POD, message: reason, nominatedNodeName: found.node } };
    const txn = await this.kv.txn({
      compare: [kv, ...victims.map((v) => v.kv)].map((k) => ({ key: k.key, target: 'modRevision' as const, op: '==' as const, value: k.modRevision })),
      success: [
        { type: 'put', key: kv.key, value: JSON.stringify(next) },
        ...victims.map((v) => ({
          type: 'put' as const,
          key: v.kv.key,
          value: JSON.stringify({
            ...v.pod,
            metadata: { ...v.pod.metadata, deletionRequestedAt: v.pod.metadata.deletionRequestedAt ?? now },
            status: { ...v.pod.status, reason: REASON_PREEMPTED, message },
          } satisfies Pod),
        })),
      ],
      failure: [],
    });
    if (!txn.succeeded) {
      // Something changed under us: the next pass sees it and decides again.
      result.conflicts++;
      return { kind: 'skipped' };
    }
    for (const v of found.victims) {
      const b = view.bound(v);
      if (!b) continue;
      view.assume({ ...b, terminating: true }, b.node);
    }
    view.assume(request, found.node);
    logger.info({ pod: id, node: found.node, victims: found.victims, pdbViolations: found.pdbViolations }, 'preempted lower-priority pods');
    for (const v of victims) {
      await this.events.record({ namespace: v.pod.metadata.namespace, object: `Pod/${v.pod.metadata.name}`, type: 'Normal', reason: EVENT_PREEMPTED, message });
    }
    if (pod.status?.message !== reason) {
      await this.events.record({ namespace: pod.metadata.namespace, object: `Pod/${pod.metadata.name}`, type: 'Warning', reason: EVENT_FAILED_SCHEDULING, message: reason });
    }
    return { kind: 'preempted', node: found.node, victims: found.victims };
  }

  /** Pending with a reason found before any node is looked at (a missing PriorityClass). */
  private async markUnschedulable(pod: Pod, kv: KeyValue, reason: string, result: SchedulingPassResult): Promise<BindOutcome> {
    if (pod.status?.reason === REASON_UNSCHEDULABLE_POD && pod.status.message === reason) return { kind: 'unschedulable', reason };
    const next: Pod = { ...pod, status: { ...pod.status, phase: 'Pending', ready: false, reason: REASON_UNSCHEDULABLE_POD, message: reason } };
    const txn = await this.kv.txn({
      compare: [{ key: kv.key, target: 'modRevision', op: '==', value: kv.modRevision }],
      success: [{ type: 'put', key: kv.key, value: JSON.stringify(next) }],
      failure: [],
    });
    if (!txn.succeeded) {
      result.conflicts++;
      return { kind: 'skipped' };
    }
    await this.events.record({ namespace: pod.metadata.namespace, object: `Pod/${pod.metadata.name}`, type: 'Warning', reason: EVENT_FAILED_SCHEDULING, message: reason });
    return { kind: 'unschedulable', reason };
  }

  /** Binds every pod of `batch` to its node in one transaction, or none when any changed. */
  private async bindBatch(batch: PlannedBind[]): Promise<boolean> {
    const r = await this.kv.txn({
      compare: batch.map((b) => ({ key: b.kv.key, target: 'modRevision' as const, op: '==' as const, value: b.kv.modRevision })),
      success: batch.map((b) => ({ type: 'put' as const, key: b.kv.key, value: JSON.stringify(withNode(b.pod, b.node, b.request.priority)) })),
      failure: [],
    });
    return r.succeeded;
  }

  /**
   * The scheduler's decision for one pod, its claims first: a missing or deleting claim keeps it
   * Pending, claims bound to a node pin it there, and unbound claims bind where it goes.
   */
  private decide(scheduler: Scheduler, pod: Pod, claims: ClaimView, ctx: PassContext): PodDecision {
    const request = podRequest(pod);
    const resolved = ctx.priorities.get(podId(pod));
    if (resolved) {
      request.priority = resolved.priority;
      request.preemptionPolicy = resolved.preemptionPolicy;
    }
    if (podClaimNames(pod).length === 0) return { request, decision: scheduler.schedule(request), claims: [], preemptible: true };
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
    if (!decision.fits) return { request, decision, claims: [], preemptible: true };
    for (const name of podClaimNames(pod)) claims.usedBy?.set(claimId(pod.metadata.namespace, name), id);
    const now = this.clock.now();
    const toBind = placement.unbound.map((name) => {
      const id = claimId(pod.metadata.namespace, name);
      const c = claims.get(id)!;
      return { id, key: c.key, modRevision: c.modRevision, bound: bindClaim(c.claim, decision.node, now) };
    });
    return { request, decision, claims: toBind };
  }

  /** The view kept from the last pass, or a new one when what it was built under changed. */
  private currentView(namespaceLabels: Record<string, Record<string, string>>, builtFrom: readonly KeyValue[]): ClusterView {
    const key = builtFrom.map((k) => `${k.key}@${k.modRevision}`).join('\n');
    if (this.view?.key !== key) this.view = new ClusterView(key, { random: this.random, scoringStrategy: this.scoringStrategy, namespaceLabels });
    return this.view;
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
  private async placeOne(view: ClusterView, first: Pod, firstKv: KeyValue, result: SchedulingPassResult, logger: Logger, claims: ClaimView, ctx: PassContext): Promise<BindOutcome> {
    let pod = first;
    let current = firstKv;
    const key = podKey(pod.metadata.namespace, pod.metadata.name);
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const { request, decision, claims: toBind } = this.decide(view.scheduler, pod, claims, ctx);
      let txn;
      if (decision.fits) {
        const next = withNode(pod, decision.node, request.priority);
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
          view.assume(request, decision.node);
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
        if (b && view.scheduler.allocated(b.node) !== undefined) view.assume(b, b.node);
        return { kind: 'skipped' };
      }
      pod = reread;
      current = kvs[0];
    }
    logger.warn({ pod: podId(first) }, 'pod kept changing while it was being bound; trying again next pass');
    return { kind: 'skipped' };
  }
}

/** The objects of one kind among desired records. */
function desiredObjects<T>(kvs: KeyValue[], kind: string): T[] {
  const out: T[] = [];
  for (const item of kvs) {
    const r = decode<{ object?: { kind?: string } }>(item);
    if (r?.object?.kind === kind) out.push(r.object as T);
  }
  return out;
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
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
