// Analysis: the condition language, run evaluation and measurement providers.
export { parseCondition } from './expression.js';
export type { Condition, Value } from './expression.js';
export { assessMeasurement, evaluateMetric, evaluateRun, compileMetric, DEFAULT_CONSECUTIVE_ERROR_LIMIT } from './run.js';
export type { MetricSpec, Measurement, MeasurementPhase, MetricState, NoDataPolicy, ProviderResult } from './run.js';
export { measure, selectJsonPath, JOB_TIMEOUT_SECONDS } from './providers.js';
export { storeJobRunner, exitCodeOf } from './job.js';
export type { JobRequest, JobOutcome, JobRunner, StoreJobRunnerOptions } from './job.js';
export { ANALYSIS_RUNS_PREFIX, summariseMetric } from './summary.js';
export type { AnalysisRunsRecord, AnalysisRunSummary, MetricSummary } from './summary.js';
export type { FetchLike, ProviderContext, ProviderSpec, RevisionStatsSource, RevisionWindowStats } from './providers.js';
export { analysisReconciler, metricSpec } from './runner.js';
export type { AnalysisRunnerOptions } from './runner.js';
