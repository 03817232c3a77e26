// The Job controller: batch/v1 Jobs from Git, run by the shared job core (cronjob/job.ts).
export { jobController, jobReconciler, jobKeyOf, parseJobKey, gitJobHash, newGitRun } from './controller.js';
export type { JobWorkloadStatus, JobControllerOptions, JobReconcilerOptions } from './controller.js';
