// What happened, as a notification sees it: pure maps from what the system already records
// (workload events, workload status records, the sync state per source) to occurrences, each
// with a stable id so the same happening is delivered once.
import { createHash } from 'node:crypto';
import type { ClusterEvent, WorkloadStatus } from '../api/cluster.js';
import type { NotificationTrigger } from '../api/index.js';

/** The commit-status state a forge is given for an occurrence. */
export type StatusState = 'success' | 'failure' | 'pending';

export interface Occurrence {
  /** The same happening always gets the same id (the delivered-record key). */
  id: string;
  trigger: NotificationTrigger;
  /** The workload's namespace; absent for a sync (it concerns every namespace). */
  namespace?: string;
  /** `Deployment`, `Rollout`…, or `Source` for a sync. */
  kind: string;
  /** The workload's name, or the source id. */
  name: string;
  message: string;
  reason?: string;
  revision?: number;
  commit?: string;
  /** When it happened (ISO): happenings before a Notification was applied are not told. */
  at: string;
  /** For a sync-failed: where the first error is (`file:line:col: message`). */
  firstError?: string;
}

/** Workload kinds whose events and status records are watched. */
export const WORKLOAD_KINDS: readonly string[] = ['Deployment', 'Rollout'];

/** Event reasons (on a Deployment or Rollout) → trigger. Degraded phases other than an abort are `degraded`. */
const REASON_TRIGGERS: Readonly<Record<string, NotificationTrigger>> = {
  RolloutStarted: 'rollout-started',
  RolloutPaused: 'paused',
  RolloutCompleted: 'healthy',
  RolloutAborted: 'aborted',
  ProgressDeadlineExceeded: 'degraded',
};

const ROLLBACK_MESSAGE = /\((live )?rollback to revision \d+/;

/** The trigger an event stands for, or undefined when it is not one a Notification can ask for. */
export function triggerOfEvent(e: Pick<ClusterEvent, 'object' | 'reason' | 'message' | 'type'>): NotificationTrigger | undefined {
  const kind = e.object.split('/')[0] ?? '';
  if (!WORKLOAD_KINDS.includes(kind)) return undefined;
  const t = REASON_TRIGGERS[e.reason];
  if (t === 'rollout-started' && ROLLBACK_MESSAGE.test(e.message)) return 'rolled-back';
  if (t !== undefined) return t;
  // The workload controller records every other Degraded phase as a Warning named by its reason.
  if (e.type === 'Warning' && /^(Progress|Analysis|Rollout)/.test(e.reason)) return 'degraded';
  return undefined;
}

function revisionIn(message: string): number | undefined {
  const m = /[Rr]evision (\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/**
 * The occurrence an event stands for. `key` is the event's store key: an event coalesced
 * again (its count bumped) is a new occurrence of the same key.
 */
export function occurrenceFromEvent(key: string, e: ClusterEvent): Occurrence | undefined {
  const trigger = triggerOfEvent(e);
  if (!trigger) return undefined;
  const slash = e.object.indexOf('/');
  const revision = revisionIn(e.message);
  return {
    id: `event:${key}#${e.count}`,
    trigger,
    namespace: e.namespace,
    kind: e.object.slice(0, slash),
    name: e.object.slice(slash + 1),
    message: e.message,
    reason: e.reason,
    ...(revision !== undefined ? { revision } : {}),
    at: e.lastSeen,
  };
}

/** What the notify controller remembers of a workload's status between passes. */
export interface SeenStatus {
  revision: number;
  phase: string;
  step?: number;
}

export function seenOf(s: Pick<WorkloadStatus, 'revision' | 'phase' | 'step'>): SeenStatus {
  return { revision: s.revision, phase: s.phase, ...(s.step !== undefined ? { step: s.step } : {}) };
}

/**
 * Occurrences a status change stands for that no event tells: a canary step reached (`step`),
 * and a pause left for progress (`promoted`: `capstan promote`, or a timed pause running out).
 * Nothing on the first sight of a workload (no earlier status to compare with).
 */
export function occurrencesFromStatus(prev: SeenStatus | undefined, cur: WorkloadStatus): Occurrence[] {
  if (!prev || prev.revision !== cur.revision || !WORKLOAD_KINDS.includes(cur.kind)) return [];
  const base = { namespace: cur.namespace, kind: cur.kind, name: cur.name, revision: cur.revision, at: cur.observedAt };
  const id = `status:${cur.kind}/${cur.namespace}/${cur.name}/${cur.revision}`;
  const out: Occurrence[] = [];
  if (prev.phase === 'Paused' && cur.phase !== 'Paused' && cur.phase !== 'Degraded') {
    out.push({ ...base, id: `${id}/promoted/${prev.step ?? 0}`, trigger: 'promoted', message: `revision ${cur.revision} promoted past step ${prev.step ?? 0}` });
  }
  if (cur.step !== undefined && (prev.step ?? 0) < cur.step && cur.stepCount !== undefined) {
    out.push({ ...base, id: `${id}/step/${cur.step}`, trigger: 'step', message: `revision ${cur.revision} reached step ${cur.step}/${cur.stepCount}${cur.weight !== undefined ? ` (weight ${cur.weight})` : ''}` });
  }
  return out;
}

/** The part of a sync state (sync/loop.ts SyncState) a notification reads. */
export interface SyncStateView {
  id: string;
  phase: string;
  syncedCommit?: string;
  seenCommit?: string;
  message: string;
  errors: Array<{ file: string; line?: number; column?: number; message: string; code?: string }>;
  at: string;
}

const short = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

/**
 * A sync state → `sync-succeeded` for a synced commit, `sync-failed` for one refused, held or
 * not readable. A conflict is a retry, not news. The id is per commit and outcome, so the
 * polls that write the same state again are not told again.
 */
export function occurrenceFromSync(s: SyncStateView): Occurrence | undefined {
  if (s.phase === 'Conflict') return undefined;
  const ok = s.phase === 'Synced';
  const commit = ok ? s.syncedCommit : s.seenCommit;
  const first = s.errors[0];
  const firstError = first ? `${first.file}${first.line !== undefined ? `:${first.line}:${first.column ?? 1}` : ''}: ${first.message}` : undefined;
  return {
    id: `sync:${s.id}/${s.phase}/${commit ?? short(s.message)}`,
    trigger: ok ? 'sync-succeeded' : 'sync-failed',
    kind: 'Source',
    name: s.id,
    message: s.message,
    reason: s.phase,
    ...(commit ? { commit } : {}),
    ...(firstError ? { firstError } : {}),
    at: s.at,
  };
}

/** The commit-status state of an occurrence. */
export function statusState(t: NotificationTrigger): StatusState {
  switch (t) {
    case 'sync-succeeded':
    case 'healthy':
      return 'success';
    case 'sync-failed':
    case 'degraded':
    case 'aborted':
      return 'failure';
    default:
      return 'pending';
  }
}

/** The commit-status context: `capstan/sync`, or `capstan/rollout/<ns>/<name>`. */
export function statusContext(o: Occurrence): string {
  return o.kind === 'Source' ? 'capstan/sync' : `capstan/rollout/${o.namespace ?? 'default'}/${o.name}`;
}

/** A commit-status description (forges cap it; GitHub at 140 characters). */
export function statusDescription(o: Occurrence): string {
  const text = o.trigger === 'sync-failed' && o.firstError ? o.firstError : o.message;
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}
