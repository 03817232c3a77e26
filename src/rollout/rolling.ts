// RollingUpdate, after the Kubernetes deployment controller (rolling.go): each pass either
// scales the new revision up within replicas + maxSurge, or scales old revisions down while
// keeping replicas - maxUnavailable available; never both. Desired counts (`replicas` of each
// revision) bound the surge; only available pods count towards availability.

import { maxUnavailableFor, resolveFenceposts } from './fenceposts.js';
import { finishDecision, pausedDecision } from './status.js';
import type { RevisionState, RolloutDecision, RolloutInput, ScaleAction } from './types.js';

function desiredSum(revisions: readonly RevisionState[]): number {
  let n = 0;
  for (const r of revisions) n += r.replicas;
  return n;
}

function oldestFirst(revisions: readonly RevisionState[]): RevisionState[] {
  return [...revisions].sort((a, b) => a.revisionNumber - b.revisionNumber);
}

/** Kubernetes `reconcileNewReplicaSet` + `NewRSNewReplicas`. */
export function reconcileNewRevision(input: RolloutInput): ScaleAction | null {
  const { replicas, newRevision } = input;
  if (newRevision.replicas === replicas) return null;
  if (newRevision.replicas > replicas) return { revision: newRevision.name, replicas };
  const params = input.strategy.type === 'RollingUpdate' ? (input.strategy.rollingUpdate ?? {}) : {};
  const { maxSurge } = resolveFenceposts(params.maxSurge, params.maxUnavailable, replicas);
  const current = desiredSum(input.oldRevisions) + newRevision.replicas;
  const maxTotal = replicas + maxSurge;
  if (current >= maxTotal) return null;
  const up = Math.min(maxTotal - current, replicas - newRevision.replicas);
  return { revision: newRevision.name, replicas: newRevision.replicas + up };
}

/**
 * Kubernetes `reconcileOldReplicaSets`: first scale down old revisions' unhealthy (not
 * available) replicas, which costs no availability (`cleanupUnhealthyReplicas`), then scale
 * down healthy ones while more than replicas - maxUnavailable pods are available.
 */
export function reconcileOldRevisions(input: RolloutInput): ScaleAction[] {
  const olds = oldestFirst(input.oldRevisions.filter((r) => r.replicas > 0));
  const oldDesired = desiredSum(olds);
  if (oldDesired === 0) return [];
  const newRev = input.newRevision;
  const allDesired = oldDesired + newRev.replicas;
  const minAvailable = input.replicas - maxUnavailableFor(input.strategy, input.replicas);
  const newUnavailable = newRev.replicas - newRev.pods.available;
  const maxScaledDown = allDesired - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return [];

  // Desired replicas per old revision as this pass lowers them.
  const target = new Map(olds.map((r) => [r.name, r.replicas]));

  let cleaned = 0;
  for (const r of olds) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = r.replicas - r.pods.available;
    if (unhealthy <= 0) continue;
    const down = Math.min(maxScaledDown - cleaned, unhealthy);
    target.set(r.name, r.replicas - down);
    cleaned += down;
  }

  // scaleDownOldReplicaSetsForRollingUpdate: counts available pods of every revision.
  let available = newRev.pods.available;
  for (const r of input.oldRevisions) available += r.pods.available;
  if (available > minAvailable) {
    const budget = available - minAvailable;
    let scaled = 0;
    for (const r of olds) {
      if (scaled >= budget) break;
      const cur = target.get(r.name) ?? 0;
      if (cur === 0) continue;
      const down = Math.min(cur, budget - scaled);
      target.set(r.name, cur - down);
      scaled += down;
    }
  }

  const out: ScaleAction[] = [];
  for (const r of olds) {
    const t = target.get(r.name) ?? r.replicas;
    if (t !== r.replicas) out.push({ revision: r.name, replicas: t });
  }
  return out;
}

/** One pass of a RollingUpdate: scale up if possible, else scale down if possible. */
export function rollingUpdate(input: RolloutInput): RolloutDecision {
  if (input.paused) return pausedDecision(input);
  const up = reconcileNewRevision(input);
  if (up) return finishDecision(input, [up]);
  return finishDecision(input, reconcileOldRevisions(input));
}
