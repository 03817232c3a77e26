// Recreate, after the Kubernetes deployment controller (recreate.go): scale every old
// revision to 0, wait until none of their pods exists (terminating ones included), then
// scale the new revision to the desired replicas. Old and new never run together.

import { finishDecision, pausedDecision } from './status.js';
import type { RolloutDecision, RolloutInput, ScaleAction } from './types.js';

export function oldPodsExist(input: RolloutInput): boolean {
  return input.oldRevisions.some((r) => r.pods.total > 0 || r.pods.terminating > 0);
}

export function recreate(input: RolloutInput): RolloutDecision {
  if (input.paused) return pausedDecision(input);
  const down: ScaleAction[] = [...input.oldRevisions]
    .filter((r) => r.replicas > 0)
    .sort((a, b) => a.revisionNumber - b.revisionNumber)
    .map((r) => ({ revision: r.name, replicas: 0 }));
  if (down.length > 0) return finishDecision(input, down);
  if (oldPodsExist(input)) return finishDecision(input, []);
  const n = input.newRevision;
  return finishDecision(input, n.replicas === input.replicas ? [] : [{ revision: n.name, replicas: input.replicas }]);
}
