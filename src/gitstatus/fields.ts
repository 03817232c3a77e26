// Workload status → the contract's `capstan.dev/*` annotations, and the rule for when a change
// is worth a commit. Pure functions: the writer decides with them against what Git holds.

import type { WorkloadPhase, WorkloadStatus } from '../api/cluster.js';

export const STATUS_ANNOTATIONS = {
  phase: 'capstan.dev/phase',
  revision: 'capstan.dev/revision',
  syncedCommit: 'capstan.dev/synced-commit',
  ready: 'capstan.dev/ready',
  message: 'capstan.dev/message',
} as const;

/** The annotations one object carries; `undefined` removes the key. */
export type StatusAnnotations = Record<(typeof STATUS_ANNOTATIONS)[keyof typeof STATUS_ANNOTATIONS], string | undefined>;

export const MAX_MESSAGE_LENGTH = 200;

/**
 * One line, at most 200 characters, with URL credentials (`scheme://user:pass@`) and any other
 * `user:pass@host` form removed. Status messages never hold secret values; this guards the URL
 * case, which can come from a Git or registry error.
 */
export function sanitizeMessage(message: string): string {
  let m = message
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1')
    .replace(/(^|[\s(<"'])[^\s:/@]+:[^\s/@]+@(?=[a-z0-9.-]+)/gi, '$1')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (m.length > MAX_MESSAGE_LENGTH) m = `${m.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
  return m;
}

/** The annotations for one workload's status. */
export function statusAnnotations(status: WorkloadStatus): StatusAnnotations {
  const message = sanitizeMessage(status.message ?? '');
  return {
    [STATUS_ANNOTATIONS.phase]: status.phase,
    [STATUS_ANNOTATIONS.revision]: String(status.revision),
    [STATUS_ANNOTATIONS.syncedCommit]: status.syncedCommit,
    [STATUS_ANNOTATIONS.ready]: `${status.readyReplicas}/${status.replicas}`,
    [STATUS_ANNOTATIONS.message]: message === '' ? undefined : message,
  } as StatusAnnotations;
}

/** Worst first: a release is as bad as its worst workload. */
const PHASE_RANK: Record<WorkloadPhase, number> = { Degraded: 0, Progressing: 1, Paused: 2, Suspended: 3, Healthy: 4 };

export function worstPhase(phases: WorkloadPhase[]): WorkloadPhase | undefined {
  let worst: WorkloadPhase | undefined;
  for (const p of phases) if (worst === undefined || (PHASE_RANK[p] ?? 0) < PHASE_RANK[worst]) worst = p;
  return worst;
}

/**
 * The annotations of a ChartRelease from the statuses of the workloads it rendered: the worst
 * phase, ready summed over workloads, the revision when there is one workload (else
 * `name=N` per workload), and the worst workload's message.
 */
export function releaseAnnotations(statuses: WorkloadStatus[], syncedCommit?: string): StatusAnnotations | undefined {
  if (statuses.length === 0) return undefined;
  const sorted = [...statuses].sort((a, b) => PHASE_RANK[a.phase] - PHASE_RANK[b.phase] || a.name.localeCompare(b.name));
  const worst = sorted[0]!;
  const ready = statuses.reduce((n, s) => n + s.readyReplicas, 0);
  const replicas = statuses.reduce((n, s) => n + s.replicas, 0);
  const revision =
    statuses.length === 1
      ? String(worst.revision)
      : [...statuses]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((s) => `${s.name}=${s.revision}`)
          .join(',');
  const message = worst.message ? sanitizeMessage(statuses.length === 1 ? worst.message : `${worst.name}: ${worst.message}`) : '';
  return {
    [STATUS_ANNOTATIONS.phase]: worst.phase,
    [STATUS_ANNOTATIONS.revision]: revision,
    [STATUS_ANNOTATIONS.syncedCommit]: syncedCommit ?? worst.syncedCommit,
    [STATUS_ANNOTATIONS.ready]: `${ready}/${replicas}`,
    [STATUS_ANNOTATIONS.message]: message === '' ? undefined : message,
  } as StatusAnnotations;
}

function settled(phase: string | undefined): boolean {
  return phase === 'Healthy' || phase === 'Degraded';
}

/** Phases that end a rollout (or say it will not move on its own): the ones worth a commit. */
function outcome(phase: string | undefined): boolean {
  return settled(phase) || phase === 'Suspended';
}

/**
 * Whether going from `current` (what the file holds) to `next` is worth a commit: one per
 * rollout outcome. The rollout's steps, pauses and weights on the way (Progressing, Paused)
 * live in the API and `capstan status`, not in Git, so a canary of five steps is one commit,
 * not five. An outcome is written when its phase, revision, synced commit, ready count or
 * message differs from what the file holds.
 */
export function isMeaningfulChange(current: Record<string, string | undefined>, next: StatusAnnotations): boolean {
  const A = STATUS_ANNOTATIONS;
  if (!outcome(next[A.phase])) return false;
  return [A.phase, A.revision, A.syncedCommit, A.ready, A.message].some((k) => (current[k] ?? undefined) !== next[k]);
}

/** Whether the file already holds exactly `next` (nothing to write). */
export function sameAnnotations(current: Record<string, string | undefined>, next: StatusAnnotations): boolean {
  return Object.entries(next).every(([k, v]) => current[k] === v);
}
