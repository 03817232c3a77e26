// The workload controller's pure core: from one consistent read of a workload (desired
// object, revisions, pods, status, history) to the single transaction that moves it on, the
// events to report once that transaction lands, and when to look again.
import type { Pod, PodSpec, Revision } from '../../api/cluster.js';
import { applyDefaults, type Deployment, type Rollout } from '../../api/index.js';
import type { EventInput } from '../events.js';
import {
  computeStatus,
  nextRolloutAction,
  summarizePods,
  type RevisionState,
  type RolloutDecision,
  type RolloutInput,
  type StrategyRegistry,
  type StrategySpec,
} from '../../rollout/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import { planHistory, wasHealthy, type HistoryTrigger, type StoredHistoryEntry } from './history.js';
import { REVISION_HASH_LABEL, historyKeyOf, iso, ms, revisionsPrefixOf, statusKeyOf, templateHash } from './keys.js';
import type { ObservedWorkload, Stored, StoredWorkloadStatus } from './observed.js';
import { livePinOf, planProgressiveWrites, progressiveInput, progressiveStatus, trafficRecords } from './progressive.js';
import { planWorkloadRefScale, resolveWorkloadRef } from './workload-ref.js';
import { experimentPhase, experimentRevisions, planExperimentRevisions, type ExperimentStatus } from './experiment.js';

/** Kubernetes treats a deadline of MaxInt32 as "no deadline". */
const NO_DEADLINE = 2 ** 31 - 1;

/**
 * `spec.rollbackWindow.revisions` when unset: a return to any of the 3 revisions before the
 * current one that ended Healthy is fast-tracked. (Argo Rollouts has no window unless set;
 * here a rollback is the common way back, so it is fast by default; 0 turns it off.)
 */
export const DEFAULT_ROLLBACK_WINDOW = 3;

/** The message and condition a workload carries while a live rollback holds it against Git. */
export const LIVE_ROLLBACK_MESSAGE = 'live rollback; Git is ahead';

/**
 * Whether a return to `target`'s template is within the rollback window: `target` is among
 * the `window` newest revisions older than the one being left, and its rollout ended Healthy.
 */
export function withinRollbackWindow(
  revisions: readonly Revision[],
  history: readonly StoredHistoryEntry[],
  target: Revision,
  leaving: number,
  window: number,
): boolean {
  if (window <= 0) return false;
  const older = revisions
    .map((r) => r.metadata.revision)
    .filter((n) => n < leaving)
    .sort((a, b) => b - a);
  const rank = older.indexOf(target.metadata.revision);
  if (rank < 0 || rank >= window) return false;
  return wasHealthy(history.find((e) => e.revision === target.metadata.revision));
}

export interface WorkloadPlan {
  /** Guards: every key read and rewritten is unchanged since the read. */
  compare: Compare[];
  ops: TxnOp[];
  /** Reported after the transaction succeeded. */
  events: EventInput[];
  /** Look again after this long even if nothing changes (minReadySeconds, deadline). */
  requeueAfterMs?: number;
}

type Workload = Deployment | Rollout;

export function strategyOf(w: Workload): StrategySpec {
  const s = w.spec.strategy ?? {};
  if (s.canary) return { type: 'Canary', canary: s.canary as Record<string, unknown> };
  if (s.blueGreen) return { type: 'BlueGreen', blueGreen: s.blueGreen as unknown as Record<string, unknown> };
  if ('type' in s && s.type === 'Recreate') return { type: 'Recreate' };
  return { type: 'RollingUpdate', rollingUpdate: 'rollingUpdate' in s ? s.rollingUpdate : undefined };
}

function guard(compare: Compare[], item: { key: string; modRevision: number }): void {
  compare.push({ key: item.key, target: 'modRevision', op: '==', value: item.modRevision });
}

function put(ops: TxnOp[], key: string, value: unknown): void {
  ops.push({ type: 'put', key, value: JSON.stringify(value) });
}

function podsByHash(pods: readonly Stored<Pod>[]): Map<string, Pod[]> {
  const out = new Map<string, Pod[]>();
  for (const { value: p } of pods) {
    const hash = p.metadata.owner.revision;
    const list = out.get(hash);
    if (list) list.push(p);
    else out.set(hash, [p]);
  }
  return out;
}

function revisionState(rev: Revision, pods: readonly Pod[], minReadySeconds: number, now: number): { state: RevisionState; nextAvailableAt: number | null } {
  const { counts, nextAvailableAt } = summarizePods(
    pods.map((p) => ({
      ready: p.status.ready === true,
      // A ready pod without readySince (an older agent) counts from its start, never from now.
      readySince: ms(p.status.readySince) ?? ms(p.status.startedAt) ?? ms(p.metadata.createdAt),
      terminating: p.metadata.deletionRequestedAt !== undefined,
    })),
    minReadySeconds,
    now,
  );
  return { state: { name: rev.metadata.hash, revisionNumber: rev.metadata.revision, replicas: rev.replicas, pods: counts }, nextAvailableAt };
}

function scaleMessage(rev: Revision, from: number, to: number): string {
  return `Scaled ${to > from ? 'up' : 'down'} revision ${rev.metadata.name} to ${to} from ${from}`;
}

/** A workload gone from Git: scale every revision to 0, then remove what is left once no pod remains. */
function planDeletion(o: ObservedWorkload): WorkloadPlan {
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  const events: EventInput[] = [];
  const object = `${o.ref.kind}/${o.ref.name}`;
  for (const r of o.revisions) {
    if (r.value.replicas === 0) continue;
    guard(compare, r);
    put(ops, r.key, { ...r.value, replicas: 0 });
    events.push({ namespace: o.ref.namespace, object, reason: 'ScalingReplicaSet', message: scaleMessage(r.value, r.value.replicas, 0) });
  }
  // A Rollout's experiment pod groups go with it (their pods stop), and a referenced
  // Deployment it scaled down runs Git's count again.
  for (const r of [...(o.experiments ?? []), ...(o.orphanScales ?? [])]) {
    guard(compare, r);
    ops.push({ type: 'delete', key: r.key });
  }
  if (ops.length > 0 || o.pods.length > 0) return { compare, ops, events };
  for (const item of [...o.revisions, ...o.history, ...(o.status ? [o.status] : [])]) {
    guard(compare, item);
    ops.push({ type: 'delete', key: item.key });
  }
  return { compare, ops, events };
}

/** A Rollout whose workloadRef names no Deployment: nothing is scaled, the status says why. */
function planUnresolvedRef(o: ObservedWorkload, now: number, message: string): WorkloadPlan {
  const prev = o.status?.value;
  const nowIso = iso(now);
  const before = prev?.conditions?.find((c) => c.type === 'Progressing');
  const reason = 'WorkloadRefNotFound';
  const status: StoredWorkloadStatus = {
    namespace: o.ref.namespace,
    name: o.ref.name,
    kind: o.ref.kind,
    phase: 'Degraded',
    reason,
    revision: prev?.revision ?? 0,
    replicas: prev?.replicas ?? 0,
    readyReplicas: prev?.readyReplicas ?? 0,
    availableReplicas: prev?.availableReplicas ?? 0,
    updatedReplicas: prev?.updatedReplicas ?? 0,
    ...(o.desired?.commit !== undefined ? { syncedCommit: o.desired.commit } : {}),
    message,
    conditions: [{ type: 'Progressing', status: 'False', reason, message, lastTransitionTime: before?.status === 'False' ? before.lastTransitionTime : nowIso }],
    observedAt: nowIso,
  };
  if (prev && JSON.stringify({ ...prev, observedAt: '' }) === JSON.stringify({ ...status, observedAt: '' })) return { compare: [], ops: [], events: [] };
  const key = statusKeyOf(o.ref);
  return {
    compare: [{ key, target: 'modRevision', op: '==', value: o.status?.modRevision ?? 0 }],
    ops: [{ type: 'put', key, value: JSON.stringify(status) }],
    events: prev?.reason === reason ? [] : [{ namespace: o.ref.namespace, object: `${o.ref.kind}/${o.ref.name}`, reason, message, type: 'Warning' }],
  };
}

/** The decision when the strategy cannot run (unknown type, or it threw): hold everything, report why. */
function failedDecision(input: RolloutInput, err: unknown): RolloutDecision {
  const status = computeStatus(input, []);
  const cause = err instanceof Error ? err.message : String(err);
  const message = `${input.strategy.type} rollouts are not supported by this controller yet: ${cause}`;
  return {
    scale: [],
    phase: 'Degraded',
    reason: 'StrategyUnsupported',
    message,
    conditions: [{ type: 'Progressing', status: 'False', reason: 'StrategyUnsupported', message }],
    lastProgressAt: input.lastProgressAt,
    status,
  };
}

export function planWorkload(o: ObservedWorkload, now: number, strategies?: StrategyRegistry): WorkloadPlan {
  const record = o.desired;
  if (!record || typeof record.object !== 'object' || record.object === null) return planDeletion(o);
  let w = applyDefaults(record.object) as Workload;
  const { ref } = o;
  // A Rollout with spec.workloadRef runs the referenced Deployment's template.
  if (w.kind === 'Rollout' && w.spec.workloadRef) {
    const resolved = resolveWorkloadRef(w, o);
    if ('message' in resolved) return planUnresolvedRef(o, now, resolved.message);
    w = resolved.workload;
  }
  const spec = w.spec;
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  const events: EventInput[] = [];
  const object = `${ref.kind}/${ref.name}`;
  const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    events.push({ namespace: ref.namespace, object, reason, message, type });
  };

  // A live rollback serves a kept revision's template instead of Git's, until Git changes.
  const ov = o.progressive?.override?.value;
  const pin = livePinOf(ov, record.commit);
  const pinned = pin && !pin.released ? o.revisions.find((r) => r.value.metadata.hash === pin.hash) : undefined;

  // The revision for the current template: new, reused from an old hash, or already current.
  let labels = { ...(spec.template.metadata?.labels ?? {}) };
  let podSpec = spec.template.spec as unknown as PodSpec;
  if (pinned) {
    const { [REVISION_HASH_LABEL]: _hash, ...own } = pinned.value.template.metadata.labels;
    labels = own;
    podSpec = pinned.value.template.spec;
  }
  const hash = pinned ? pinned.value.metadata.hash : templateHash({ labels, spec: podSpec });
  const maxNumber = o.revisions.reduce((n, r) => Math.max(n, r.value.metadata.revision), 0);
  const existing = o.revisions.find((r) => r.value.metadata.hash === hash);
  const leaving = o.revisions.find((r) => r.value.metadata.revision === maxNumber && r.value.metadata.hash !== hash);
  const prev = o.status?.value;
  let current: Revision;
  let starting = false;
  let trigger: HistoryTrigger = 'push';
  let fastTrack = false;
  // `capstan retry` of an aborted rollout: the same template rolls again under a new number,
  // so the aborted attempt stays in the history as it ended.
  const retried =
    existing !== undefined &&
    existing.value.metadata.revision === maxNumber &&
    prev?.aborted === true &&
    prev.pinnedHash === hash &&
    ov?.retryOf === hash &&
    ov.abortedHash !== hash;
  if (!existing) {
    current = {
      metadata: {
        name: `${ref.name}-${hash}`,
        namespace: ref.namespace,
        owner: { kind: ref.kind, name: ref.name },
        hash,
        revision: maxNumber + 1,
        createdAt: iso(now),
        ...(record.commit !== undefined ? { commit: record.commit } : {}),
      },
      template: {
        metadata: {
          labels: { ...labels, [REVISION_HASH_LABEL]: hash },
          ...(spec.template.metadata?.annotations ? { annotations: spec.template.metadata.annotations } : {}),
        },
        spec: podSpec,
      },
      replicas: 0,
    };
    compare.push({ key: `${revisionsPrefixOf(ref)}${hash}`, target: 'createRevision', op: '==', value: 0 });
    starting = true;
  } else if (existing.value.metadata.revision < maxNumber) {
    // Back to an older template: Kubernetes reuses its ReplicaSet under a new revision number.
    // That is a rollback (a `capstan rollback` commit, a revert, or a live rollback), and a
    // return to a recently healthy revision is fast-tracked.
    // A live rollback serves the revision's own commit, not Git's.
    const commit = pinned ? existing.value.metadata.commit : record.commit;
    current = { ...existing.value, metadata: { ...existing.value.metadata, revision: maxNumber + 1, commit } };
    starting = true;
    // Leaving a live rollback (resumed, or Git changed) follows Git again: that is no rollback.
    const unpinned = !pinned && prev?.liveRollback !== undefined;
    trigger = pinned ? 'live-rollback' : unpinned ? 'push' : 'rollback';
    const window = spec.rollbackWindow?.revisions ?? DEFAULT_ROLLBACK_WINDOW;
    fastTrack = withinRollbackWindow(
      o.revisions.map((r) => r.value),
      o.history.map((e) => e.value),
      existing.value,
      maxNumber,
      window,
    );
  } else if (retried) {
    current = { ...existing.value, metadata: { ...existing.value.metadata, revision: maxNumber + 1 } };
    starting = true;
    trigger = 'retry';
  } else {
    current = existing.value;
  }
  const currentKey = existing?.key ?? `${revisionsPrefixOf(ref)}${hash}`;

  // Observe every revision's pods into the rollout math's input.
  const minReadySeconds = spec.minReadySeconds ?? 0;
  const byHash = podsByHash(o.pods);
  let nextAvailableAt: number | null = null;
  const note = (at: number | null): void => {
    if (at !== null && (nextAvailableAt === null || at < nextAvailableAt)) nextAvailableAt = at;
  };
  const cur = revisionState(current, byHash.get(hash) ?? [], minReadySeconds, now);
  note(cur.nextAvailableAt);
  const olds: RevisionState[] = [];
  for (const r of o.revisions) {
    if (r.value.metadata.hash === hash) continue;
    const s = revisionState(r.value, byHash.get(r.value.metadata.hash) ?? [], minReadySeconds, now);
    note(s.nextAvailableAt);
    olds.push(s.state);
  }

  const sameRollout = !starting && prev !== undefined && prev.revision === current.metadata.revision;
  if (sameRollout && prev.fastTrack === true) fastTrack = true;
  const deadline = spec.progressDeadlineSeconds ?? 600;
  const prog = o.progressive ? progressiveInput(o.progressive, prev, sameRollout, hash) : undefined;
  if (prog && fastTrack) prog.state.fastTrack = true;
  const input: RolloutInput = {
    strategy: strategyOf(w),
    // An autoscaler's count (its own record) wins over Git's, which stays as it is.
    replicas: o.scale?.replicas ?? spec.replicas ?? 1,
    minReadySeconds,
    progressDeadlineSeconds: deadline,
    paused: spec.paused === true || prog?.paused === true,
    now,
    lastProgressAt: (sameRollout ? ms(prev.lastProgressAt) : undefined) ?? now,
    newRevision: cur.state,
    oldRevisions: olds,
    ...(sameRollout
      ? {
          previousStatus: {
            replicas: prev.currentReplicas ?? 0,
            updatedReplicas: prev.updatedReplicas,
            readyReplicas: prev.readyReplicas,
            availableReplicas: prev.availableReplicas,
            unavailableReplicas: prev.unavailableReplicas ?? 0,
          },
          ...(typeof prev.step === 'number' ? { stepIndex: prev.step } : {}),
        }
      : {}),
    ...(prog ? { progressive: prog.state, pauseStartedAt: prog.pauseStartedAt ?? null } : {}),
  };
  let decision: RolloutDecision;
  try {
    decision = nextRolloutAction(input, strategies);
  } catch (err) {
    decision = failedDecision(input, err);
  }

  // An experiment step: its phase (duration, analyses) goes back to the strategy once decided.
  let experiment: ExperimentStatus | undefined;
  let experimentEndsAt: number | undefined;
  if (decision.experiment) {
    const exp = decision.experiment;
    const before = sameRollout && prev.experiment?.key === exp.key ? ms(prev.experiment.startedAt) : undefined;
    const startedAt = before ?? now;
    const result = ov?.analysis?.hash === hash ? ov.analysis : undefined;
    const p = experimentPhase(exp, startedAt, now, result);
    experimentEndsAt = p.endsAt;
    if (p.phase !== 'Running') {
      const again: RolloutInput = { ...input, progressive: { ...(input.progressive ?? {}), experiment: { key: exp.key, phase: p.phase, ...(p.message ? { message: p.message } : {}) } } };
      try {
        decision = nextRolloutAction(again, strategies);
      } catch (err) {
        decision = failedDecision(again, err);
      }
    }
    experiment = {
      key: exp.key,
      startedAt: iso(startedAt),
      phase: p.phase,
      ...(exp.spec.duration !== undefined ? { duration: exp.spec.duration } : {}),
      templates: exp.spec.templates.map((t) => ({ name: t.name, specRef: t.specRef, replicas: t.replicas, revision: exp.revisions[t.specRef] })),
      analyses: exp.spec.analyses.map((a) => a.templateName),
      ...(p.message ? { message: p.message } : {}),
    };
  }

  // Revisions: the new one (created or renumbered) and every scaled one, each guarded.
  const target = new Map<string, number>();
  for (const s of decision.scale) target.set(s.revision, s.replicas);
  const byKey = new Map(o.revisions.map((r) => [r.key, r]));
  const writeRevision = (key: string, rev: Revision, force: boolean): Revision => {
    const want = target.get(rev.metadata.hash);
    if (!force && (want === undefined || want === rev.replicas)) return rev;
    const next = want === undefined ? rev : { ...rev, replicas: want };
    const read = byKey.get(key);
    if (read) guard(compare, read);
    put(ops, key, next);
    if (want !== undefined && want !== rev.replicas) event('ScalingReplicaSet', scaleMessage(rev, rev.replicas, want));
    return next;
  };
  current = writeRevision(currentKey, current, starting);
  const finalReplicas = new Map<string, number>([[hash, current.replicas]]);
  for (const r of o.revisions) {
    if (r.value.metadata.hash === hash) continue;
    finalReplicas.set(r.value.metadata.hash, writeRevision(r.key, r.value, false).replicas);
  }

  // revisionHistoryLimit: old revisions with no replicas and no pods, beyond the newest N.
  const limit = spec.revisionHistoryLimit ?? 10;
  const idle = o.revisions
    .filter((r) => r.value.metadata.hash !== hash && finalReplicas.get(r.value.metadata.hash) === 0 && !byHash.has(r.value.metadata.hash))
    .sort((a, b) => b.value.metadata.revision - a.value.metadata.revision);
  for (const r of idle.slice(limit)) {
    if (target.has(r.value.metadata.hash)) continue; // rewritten this pass: next time
    guard(compare, r);
    ops.push({ type: 'delete', key: r.key });
  }

  // Status, written only when something other than the observation time changed.
  const nowIso = iso(now);
  // The revision number asked for (the pinned revision is renumbered once it serves again).
  const pinnedNumber = pin?.revision ?? pinned?.value.metadata.revision;
  const liveConditions = pinned
    ? [{ type: 'GitSynced', status: 'False' as const, reason: 'LiveRollback', message: `${LIVE_ROLLBACK_MESSAGE}: revision ${current.metadata.revision} serves revision ${pinnedNumber}'s template` }]
    : [];
  const conditions = [...decision.conditions, ...liveConditions].map((c) => {
    const before = prev?.conditions?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : nowIso;
    return { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime };
  });
  const message = pinned
    ? `${LIVE_ROLLBACK_MESSAGE}: pinned until Git changes the manifest or capstan resume. ${decision.message}`
    : decision.message;
  const status: StoredWorkloadStatus = {
    namespace: ref.namespace,
    name: ref.name,
    kind: ref.kind,
    phase: decision.phase,
    revision: current.metadata.revision,
    revisionName: current.metadata.name,
    reason: decision.reason,
    replicas: input.replicas,
    currentReplicas: decision.status.replicas,
    readyReplicas: decision.status.readyReplicas,
    availableReplicas: decision.status.availableReplicas,
    updatedReplicas: decision.status.updatedReplicas,
    unavailableReplicas: decision.status.unavailableReplicas,
    ...(record.commit !== undefined ? { syncedCommit: record.commit } : {}),
    message,
    conditions,
    ...(decision.step ? { step: decision.step.index, stepCount: decision.step.count } : {}),
    ...(decision.traffic ? { weight: decision.traffic.find((t) => t.revision === hash)?.weight ?? 0 } : {}),
    lastProgressAt: iso(decision.lastProgressAt),
    ...progressiveStatus(decision, hash, prog?.state.aborted === true),
    ...(experiment ? { experiment } : {}),
    // The analysis runner runs a running experiment's analyses as the step's analysis.
    ...(decision.experiment && experiment?.phase === 'Running' && experiment.analyses.length > 0 ? { analysis: { key: experiment.key, templates: experiment.analyses } } : {}),
    ...(fastTrack ? { fastTrack: true } : {}),
    ...(pinned ? { liveRollback: pinnedNumber } : {}),
    observedAt: nowIso,
  };
  if (o.progressive) {
    const records = trafficRecords(input.strategy, decision, o.progressive.services, labels);
    const writes = planProgressiveWrites(ref, o.progressive, records, decision, hash, nowIso, { releaseLivePin: pin?.released === true });
    compare.push(...writes.compare);
    ops.push(...writes.ops);
  }
  if (w.kind === 'Rollout' && w.spec.workloadRef) {
    const writes = planWorkloadRefScale(w, o, { phase: decision.phase, availableReplicas: decision.status.availableReplicas }, nowIso);
    compare.push(...writes.compare);
    ops.push(...writes.ops);
  }
  if (o.experiments) {
    const want = decision.experiment ? experimentRevisions(ref, decision.experiment, [current, ...o.revisions.map((r) => r.value)], now) : [];
    const writes = planExperimentRevisions(o.experiments, want);
    compare.push(...writes.compare);
    ops.push(...writes.ops);
  }
  const statusKey = statusKeyOf(ref);
  const changed = !prev || JSON.stringify({ ...prev, observedAt: '' }) !== JSON.stringify({ ...status, observedAt: '' });
  if (changed || ops.length > 0) {
    compare.push({ key: statusKey, target: 'modRevision', op: '==', value: o.status?.modRevision ?? 0 });
    put(ops, statusKey, status);
  }

  // History: the entry of the current revision follows the rollout's outcome.
  const images = podSpec.containers.map((c) => c.image);
  const h = planHistory({
    workload: ref,
    entries: o.history,
    revision: current.metadata.revision,
    starting,
    phase: decision.phase,
    commit: pinned ? current.metadata.commit : record.commit,
    ...(pinned ? { message: `live rollback to revision ${pinnedNumber}` } : { author: record.author, message: record.commitMessage }),
    images,
    now: nowIso,
    keyOf: (n) => historyKeyOf(ref, n),
    ...(decision.reason === 'RolloutAborted' ? { aborted: true } : {}),
    trigger,
    ...(starting && (trigger === 'rollback' || trigger === 'live-rollback') && leaving ? { rolledBackFrom: leaving.value.metadata.revision } : {}),
  });
  compare.push(...h.compare);
  ops.push(...h.ops);

  // Events for transitions only, so a steady state reports nothing.
  const wasPhase = sameRollout ? prev.phase : undefined;
  if (starting) {
    const from = existing && trigger !== 'retry' ? existing.value.metadata.revision : undefined;
    const why = trigger === 'live-rollback' ? ` (live rollback to revision ${from}; Git is ahead)` : trigger === 'rollback' ? ` (rollback to revision ${from})` : trigger === 'retry' ? ' (retry)' : '';
    event('RolloutStarted', `Rolling out revision ${current.metadata.revision} (${current.metadata.name})${why}`);
    if (fastTrack && input.strategy.type !== 'RollingUpdate' && input.strategy.type !== 'Recreate') {
      event('RolloutFastTracked', `Revision ${current.metadata.revision} returns to revision ${from}, Healthy within the rollback window: skipping steps and analysis, straight to full promotion`);
    }
  }
  if (pin?.released) event('LiveRollbackReleased', `Git changed the manifest (commit ${record.commit ?? 'unknown'}): the live rollback pin is released and Git is followed again`);
  if (decision.phase !== wasPhase) {
    if (decision.phase === 'Healthy') event('RolloutCompleted', `Revision ${current.metadata.revision} (${current.metadata.name}) is available: ${decision.message}`);
    else if (decision.phase === 'Degraded') event(decision.reason, decision.message, 'Warning');
    else if (decision.phase === 'Paused') event('RolloutPaused', decision.message);
  }

  // Look again when a ready pod turns available or when the progress deadline passes.
  let requeue: number | undefined;
  const at = (t: number): void => {
    const d = Math.max(1, t - now);
    if (requeue === undefined || d < requeue) requeue = d;
  };
  if (nextAvailableAt !== null) at(nextAvailableAt + 1);
  if (decision.requeueAt !== undefined) at(decision.requeueAt);
  if (experimentEndsAt !== undefined && decision.experiment) at(experimentEndsAt);
  if (decision.phase === 'Progressing' && Number.isFinite(deadline) && deadline < NO_DEADLINE) {
    at(decision.lastProgressAt + deadline * 1000 + 1);
  }
  return { compare, ops, events, ...(requeue !== undefined ? { requeueAfterMs: requeue } : {}) };
}
