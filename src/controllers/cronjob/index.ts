// The CronJob controller (batch/v1): schedules (pure), the run decision (pure), Jobs and their pods.
export { parseSchedule, nextFireAfter, mostRecentFire, wallTime, instantsOf } from './schedule.js';
export type { CronSchedule } from './schedule.js';
export { planCronJob } from './plan.js';
export type { CronJobInput, CronJobDecision, JobSummary, SkipReason } from './plan.js';
export { planJob, jobPod, podFinished, completionIndex, JOB_COMPLETION_INDEX_ANNOTATION, JOB_NAME_LABEL, CRONJOB_NAME_LABEL, JOB_BACKOFF_BASE_MS, JOB_BACKOFF_MAX_MS } from './job.js';
export type { Job, JobStatus, JobPhase, JobPlan } from './job.js';
export { cronJobController, cronJobReconciler, cronJobKeyOf, parseCronJobKey, jobNameFor, jobKey, newJob, Writes, applyJobPlan, isPod, sameStatus } from './controller.js';
export type { CronJobStatus, CronJobControllerOptions, CronJobReconcilerOptions } from './controller.js';
