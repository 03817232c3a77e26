// What every strategy shares after choosing its scaling: the deployment status, whether the
// rollout made progress, the progress deadline, the phase and the Kubernetes-style conditions.

import { maxUnavailableFor } from './fenceposts.js';
import type {
  PodCounts,
  RevisionState,
  RolloutCondition,
  RolloutDecision,
  RolloutInput,
  RolloutStatus,
  ScaleAction,
  TrafficWeight,
} from './types.js';

/** Kubernetes treats a deadline of MaxInt32 as "no deadline". */
const NO_DEADLINE = 2 ** 31 - 1;

export interface PodObservation {
  ready: boolean;
  /** When the pod last became ready, ms. */
  readySince?: number;
  terminating?: boolean;
}

/**
 * Counts a revision's pods. Available = ready for at least minReadySeconds (Kubernetes
 * `IsPodAvailable`: ready-since + minReadySeconds strictly before now). `nextAvailableAt` is
 * when the next ready pod turns available, so the controller knows when to look again.
 */
export function summarizePods(
  pods: readonly PodObservation[],
  minReadySeconds: number,
  now: number,
): { counts: PodCounts; nextAvailableAt: number | null } {
  const counts: PodCounts = { total: 0, ready: 0, available: 0, terminating: 0 };
  let next: number | null = null;
  for (const p of pods) {
    if (p.terminating) {
      counts.terminating++;
      continue;
    }
    counts.total++;
    if (!p.ready) continue;
    counts.ready++;
    if (minReadySeconds <= 0) {
      counts.available++;
      continue;
    }
    const at = (p.readySince ?? now) + minReadySeconds * 1000;
    if (at < now) counts.available++;
    else if (next === null || at < next) next = at;
  }
  return { counts, nextAvailableAt: next };
}

export function isComplete(input: RolloutInput): boolean {
  const n = input.newRevision;
  return (
    n.replicas === input.replicas &&
    n.pods.total === input.replicas &&
    n.pods.available === input.replicas &&
    input.oldRevisions.every((r) => r.replicas === 0 && r.pods.total === 0 && r.pods.terminating === 0)
  );
}

function all(input: RolloutInput): RevisionState[] {
  return [...input.oldRevisions, input.newRevision];
}

/** Kubernetes `calculateStatus`, with desired replicas taken after this pass's scaling. */
export function computeStatus(input: RolloutInput, scale: readonly ScaleAction[]): RolloutStatus {
  const revisions = all(input);
  const desired = new Map(revisions.map((r) => [r.name, r.replicas]));
  for (const s of scale) desired.set(s.revision, s.replicas);
  let replicas = 0;
  let ready = 0;
  let available = 0;
  let desiredSum = 0;
  for (const r of revisions) {
    replicas += r.pods.total;
    ready += r.pods.ready;
    available += r.pods.available;
    desiredSum += desired.get(r.name) ?? r.replicas;
  }
  return {
    replicas,
    updatedReplicas: input.newRevision.pods.total,
    readyReplicas: ready,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, desiredSum - available),
  };
}

/** Kubernetes `DeploymentProgressing`, plus: a pass that scales is progress by itself. */
function madeProgress(input: RolloutInput, status: RolloutStatus, scale: readonly ScaleAction[]): boolean {
  if (scale.length > 0) return true;
  const prev = input.previousStatus;
  if (!prev) return false;
  return (
    status.updatedReplicas > prev.updatedReplicas ||
    status.replicas - status.updatedReplicas < prev.replicas - prev.updatedReplicas ||
    status.readyReplicas > prev.readyReplicas ||
    status.availableReplicas > prev.availableReplicas
  );
}

function hasDeadline(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds < NO_DEADLINE;
}

function availableCondition(input: RolloutInput, status: RolloutStatus): RolloutCondition {
  const ok = status.availableReplicas >= input.replicas - maxUnavailableFor(input.strategy, input.replicas);
  return ok
    ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
    : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
}

/** The kubectl rollout status wording for a rollout still under way. */
function waitingMessage(input: RolloutInput, status: RolloutStatus): string {
  const want = input.replicas;
  if (status.updatedReplicas < want) {
    return `Waiting for rollout to finish: ${status.updatedReplicas} out of ${want} new replicas have been updated...`;
  }
  const old = status.replicas - status.updatedReplicas + input.oldRevisions.reduce((n, r) => n + r.pods.terminating, 0);
  if (old > 0) return `Waiting for rollout to finish: ${old} old replicas are pending termination...`;
  const newAvailable = input.newRevision.pods.available;
  if (newAvailable < status.updatedReplicas) {
    return `Waiting for rollout to finish: ${newAvailable} of ${status.updatedReplicas} updated replicas are available...`;
  }
  return `Waiting for rollout to finish: revision "${input.newRevision.name}" is scaling...`;
}

export interface DecisionExtras {
  traffic?: TrafficWeight[];
  step?: { index: number; count: number };
}

/** Paused: no scaling; the deadline clock restarts on resume, as in Kubernetes. */
export function pausedDecision(input: RolloutInput, extras: DecisionExtras = {}): RolloutDecision {
  const status = computeStatus(input, []);
  return {
    scale: [],
    phase: 'Paused',
    reason: 'RolloutPaused',
    message: `Rollout of revision "${input.newRevision.name}" is paused.`,
    conditions: [
      availableCondition(input, status),
      { type: 'Progressing', status: 'Unknown', reason: 'RolloutPaused', message: 'Deployment is paused.' },
    ],
    lastProgressAt: input.now,
    status,
    ...extras,
  };
}

/** Builds the decision once a strategy has chosen its scaling for this pass. */
export function finishDecision(input: RolloutInput, scale: ScaleAction[], extras: DecisionExtras = {}): RolloutDecision {
  const status = computeStatus(input, scale);
  const available = availableCondition(input, status);
  const name = input.newRevision.name;
  const base = { scale, status, ...extras };
  if (scale.length === 0 && isComplete(input)) {
    const message = `Revision "${name}" has successfully progressed.`;
    return {
      ...base,
      phase: 'Healthy',
      reason: 'NewRevisionAvailable',
      message,
      conditions: [available, { type: 'Progressing', status: 'True', reason: 'NewRevisionAvailable', message }],
      lastProgressAt: input.lastProgressAt,
    };
  }
  // Still rolling: progress moves the deadline's clock, waiting does not.
  const progressing = (lastProgressAt: number): RolloutDecision => ({
    ...base,
    phase: 'Progressing',
    reason: 'RevisionUpdated',
    message: waitingMessage(input, status),
    conditions: [
      available,
      { type: 'Progressing', status: 'True', reason: 'RevisionUpdated', message: `Revision "${name}" is progressing.` },
    ],
    lastProgressAt,
  });
  if (madeProgress(input, status, scale)) return progressing(input.now);
  // Kubernetes `DeploymentTimedOut`: last progress + deadline strictly before now.
  if (hasDeadline(input.progressDeadlineSeconds) && input.lastProgressAt + input.progressDeadlineSeconds * 1000 < input.now) {
    const message = `Revision "${name}" has timed out progressing.`;
    return {
      ...base,
      phase: 'Degraded',
      reason: 'ProgressDeadlineExceeded',
      message: `${message} ${waitingMessage(input, status)}`,
      conditions: [available, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message }],
      lastProgressAt: input.lastProgressAt,
    };
  }
  return progressing(input.lastProgressAt);
}
