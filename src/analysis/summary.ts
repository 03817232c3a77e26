// What `capstan status` shows of a rollout's analysis: per run (a step's analysis, the
// pre-promotion analysis, the canary's background analysis) and per metric, the phase, how
// many measurements were taken, the last value and the failed / inconclusive / error counts.
// The runner keeps measurements in memory and writes this summary to the store after each
// measurement (so at most once per metric interval); the API serves it read-only.

import type { AnalysisPhase } from '../rollout/index.js';
import type { Value } from './expression.js';
import type { Measurement, MetricState } from './run.js';

/** `<Kind>/<namespace>/<name>` → AnalysisRunsRecord. Written by the analysis runner only. */
export const ANALYSIS_RUNS_PREFIX = '/capstan/analysisruns/';

export interface MetricSummary {
  name: string;
  phase: AnalysisPhase;
  measurements: number;
  successful: number;
  failed: number;
  inconclusive: number;
  errors: number;
  lastValue?: Value;
  lastPhase?: Measurement['phase'];
  /** The last measurement's message (why it failed, had no data, or errored). */
  message?: string;
}

export interface AnalysisRunSummary {
  /** `step-<i>`, `pre-promotion`, `post-promotion` or `background`. */
  key: string;
  slot: 'analysis' | 'backgroundAnalysis';
  templates: string[];
  phase: AnalysisPhase;
  message?: string;
  startedAt: string;
  metrics: MetricSummary[];
}

export interface AnalysisRunsRecord {
  kind: string;
  namespace: string;
  name: string;
  /** The revision (template hash) under analysis. */
  revision: string;
  runs: AnalysisRunSummary[];
  at: string;
}

/** A metric's measurements and state → its summary. */
export function summariseMetric(name: string, state: MetricState, measurements: readonly Measurement[]): MetricSummary {
  const count = (p: Measurement['phase']): number => measurements.filter((m) => m.phase === p).length;
  const last = measurements[measurements.length - 1];
  return {
    name,
    phase: state.phase,
    measurements: measurements.length,
    successful: count('Successful'),
    failed: count('Failed'),
    inconclusive: count('Inconclusive'),
    errors: count('Error'),
    ...(last && last.value !== undefined ? { lastValue: last.value } : {}),
    ...(last ? { lastPhase: last.phase } : {}),
    ...(last?.message ? { message: last.message } : {}),
  };
}
