// Analysis: the condition language, run evaluation and measurement providers.
export { parseCondition } from './expression.js';
export type { Condition, Value } from './expression.js';
export { assessMeasurement, evaluateMetric, evaluateRun, compileMetric, DEFAULT_CONSECUTIVE_ERROR_LIMIT } from './run.js';
export type { MetricSpec, Measurement, MeasurementPhase, MetricState, NoDataPolicy, ProviderResult } from './run.js';
export { measure, selectJsonPath } from './providers.js';
export type { FetchLike, ProviderContext, ProviderSpec, RevisionStatsSource, RevisionWindowStats } from './providers.js';
export { analysisReconciler, metricSpec } from './runner.js';
export type { AnalysisRunnerOptions } from './runner.js';
