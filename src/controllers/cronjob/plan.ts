// The CronJob decision, pure: (spec, jobs observed, lastScheduleTime, now) → what to do.
// Kubernetes' CronJob controller (v2) semantics:
// - only the most recent missed schedule time runs, and only within startingDeadlineSeconds;
// - Forbid skips while a job is active (lastScheduleTime stays, so the missed run may start
//   once the active job ends, if still within the deadline); Replace deletes the active jobs;
// - successful/failed history limits delete the oldest finished jobs;
// - suspend stops new runs, running jobs carry on.
import type { CronJob } from '../../api/index.js';
import type { JobPhase } from './job.js';
import { mostRecentFire, nextFireAfter, type CronSchedule } from './schedule.js';

export interface JobSummary {
  name: string;
  /** The schedule time the job was created for. */
  scheduledAt: number;
  phase: JobPhase;
  /** When it finished (Succeeded/Failed). */
  finishedAt?: number;
  /** Already being deleted: neither active nor history. */
  deleting: boolean;
}

export interface CronJobInput {
  spec: CronJob['spec'];
  schedule: CronSchedule;
  jobs: readonly JobSummary[];
  /** When the last job was scheduled; absent before the first. */
  lastScheduleTime?: number;
  /** When the controller first saw the CronJob: no run before it counts as missed. */
  since: number;
  now: number;
}

export type SkipReason = 'JobAlreadyActive' | 'MissedDeadline' | 'Suspended';

export interface CronJobDecision {
  /** Start a job for this schedule time. */
  create?: { scheduledAt: number };
  /** Jobs to delete (Replace, history limits), by name. */
  delete: string[];
  /** A schedule time that came but was not run, and why. */
  skipped?: { scheduledAt: number; reason: SkipReason };
  /** How many schedule times passed since the last one run (more than 1: runs were missed). */
  missed: number;
  /** Look again at this instant (the next schedule time). */
  requeueAt?: number;
}

/** Kubernetes' defaults, when the API defaults were not applied. */
const DEFAULT_SUCCESS_HISTORY = 3;
const DEFAULT_FAILED_HISTORY = 1;

export function planCronJob(input: CronJobInput): CronJobDecision {
  const { spec, schedule, now } = input;
  const decision: CronJobDecision = { delete: [], missed: 0 };
  const live = input.jobs.filter((j) => !j.deleting);

  // History: keep the newest `limit` finished jobs of each outcome.
  const prune = (phase: JobPhase, limit: number): void => {
    const finished = live
      .filter((j) => j.phase === phase)
      .sort((a, b) => (b.finishedAt ?? b.scheduledAt) - (a.finishedAt ?? a.scheduledAt) || b.scheduledAt - a.scheduledAt);
    for (const j of finished.slice(Math.max(0, limit))) decision.delete.push(j.name);
  };
  prune('Succeeded', spec.successfulJobsHistoryLimit ?? DEFAULT_SUCCESS_HISTORY);
  prune('Failed', spec.failedJobsHistoryLimit ?? DEFAULT_FAILED_HISTORY);

  const next = nextFireAfter(schedule, now);
  if (next !== undefined) decision.requeueAt = next;
  if (spec.suspend === true) return decision;

  let earliest = input.lastScheduleTime ?? input.since;
  const deadlineMs = spec.startingDeadlineSeconds !== undefined ? spec.startingDeadlineSeconds * 1000 : undefined;
  const recent = mostRecentFire(schedule, earliest, now);
  decision.missed = recent.missed;
  if (recent.at === undefined) return decision;
  if (deadlineMs !== undefined) {
    earliest = Math.max(earliest, now - deadlineMs);
    if (recent.at < earliest) {
      decision.skipped = { scheduledAt: recent.at, reason: 'MissedDeadline' };
      return decision;
    }
  }
  const scheduledAt = recent.at;
  if (live.some((j) => j.scheduledAt === scheduledAt)) return decision; // already started
  const active = live.filter((j) => j.phase === 'Active');
  const policy = spec.concurrencyPolicy ?? 'Allow';
  if (policy === 'Forbid' && active.length > 0) {
    decision.skipped = { scheduledAt, reason: 'JobAlreadyActive' };
    return decision;
  }
  if (policy === 'Replace') for (const j of active) decision.delete.push(j.name);
  decision.create = { scheduledAt };
  return decision;
}
