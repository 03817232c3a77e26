// The web dashboard served by the API server: static page, whoami and read-only views.
export { dashboardRoutes } from './serve.js';
export type { DashboardOptions } from './serve.js';
export { forgeRepo, forgeFileLink, forgeCommitLink } from './forge.js';
export { buildOverview, buildWorkloadPage, dashboardApp, dashboardSource } from './views.js';
export type { Overview, WorkloadPage, DashboardApp, DashboardSource, DashboardProblem, HistoryRow } from './views.js';
export { readCommitPlan, commitPage, pickPlanKey } from './commits.js';
export type { CommitPlanPage } from './commits.js';
