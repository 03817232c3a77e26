// Analysis runs as pure functions: one measurement's value → its phase (conditions, no-data
// policy, minimum request count), and a metric's measurements → the metric's phase and when
// to measure next (interval, count, initialDelay, failureLimit, inconclusiveLimit,
// consecutiveErrorLimit), and the run's phase over its metrics.

import type { AnalysisPhase } from '../rollout/index.js';
import { parseCondition, type Condition, type Value } from './expression.js';

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
export type NoDataPolicy = 'fail' | 'inconclusive' | 'pass';

export interface MetricSpec {
  name: string;
  /** Seconds between measurements; without it the metric measures once (unless count says more). */
  interval?: number;
  /** Measurements to take; unset with an interval = until the rollout ends (background analysis). */
  count?: number;
  /** Seconds before the first measurement. */
  initialDelay?: number;
  successCondition?: string;
  failureCondition?: string;
  /** Failed measurements tolerated (default 0). */
  failureLimit?: number;
  /** Inconclusive measurements tolerated (default 0). */
  inconclusiveLimit?: number;
  /** Consecutive errors tolerated (default 4, as Argo). */
  consecutiveErrorLimit?: number;
  /** What a measurement without data counts as (default inconclusive, which pauses the rollout). */
  noDataPolicy?: NoDataPolicy;
  /** Below this many requests in the window, the measurement has no data. */
  minRequests?: number;
}

export interface Measurement {
  phase: MeasurementPhase;
  /** When it was taken, ms. */
  at: number;
  value?: Value;
  message?: string;
}

/** What a provider returned: a value, or none (no data); `requests` for the minimum count. */
export interface ProviderResult {
  value?: Value;
  requests?: number;
  /** The provider decided itself (a job's exit code): conditions and the no-data policy do not apply. */
  verdict?: 'Successful' | 'Failed';
  message?: string;
}

export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4;

function noData(v: Value | undefined): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'number' && Number.isNaN(v));
}

/** Conditions parsed once per metric; a bad condition throws a CapstanError naming it. */
export function compileMetric(metric: MetricSpec): { success?: Condition; failure?: Condition } {
  return {
    ...(metric.successCondition ? { success: parseCondition(metric.successCondition) } : {}),
    ...(metric.failureCondition ? { failure: parseCondition(metric.failureCondition) } : {}),
  };
}

/** Argo's assessment: failure first, then success; with both set and neither true, inconclusive. */
export function assessMeasurement(metric: MetricSpec, result: ProviderResult, at: number): Measurement {
  const { value, requests } = result;
  if (result.verdict) {
    return { phase: result.verdict, at, ...(value !== undefined ? { value } : {}), ...(result.message ? { message: `${metric.name}: ${result.message}` } : {}) };
  }
  const min = metric.minRequests ?? 0;
  if (noData(value) || (min > 0 && (requests ?? 0) < min)) {
    const policy = metric.noDataPolicy ?? 'inconclusive';
    const phase: MeasurementPhase = policy === 'fail' ? 'Failed' : policy === 'pass' ? 'Successful' : 'Inconclusive';
    const why = noData(value) ? 'no data' : `${requests ?? 0} requests, fewer than the minimum ${min}`;
    return { phase, at, message: `${metric.name}: ${why} (noDataPolicy ${policy})` };
  }
  const c = compileMetric(metric);
  const v = value as Value;
  if (c.failure?.evaluate(v)) return { phase: 'Failed', at, value: v, message: `${metric.name}: ${c.failure.source} is true` };
  if (c.success) {
    if (c.success.evaluate(v)) return { phase: 'Successful', at, value: v };
    return c.failure
      ? { phase: 'Inconclusive', at, value: v, message: `${metric.name}: neither condition holds` }
      : { phase: 'Failed', at, value: v, message: `${metric.name}: ${c.success.source} is false` };
  }
  return { phase: 'Successful', at, value: v };
}

export interface MetricState {
  phase: AnalysisPhase;
  message?: string;
  /** When to take the next measurement, ms; absent once the metric is decided. */
  nextAt?: number;
}

/** A metric's phase from its measurements so far; `startedAt` is when the run began, ms. */
export function evaluateMetric(metric: MetricSpec, measurements: readonly Measurement[], startedAt: number): MetricState {
  let failed = 0;
  let inconclusive = 0;
  let consecutiveErrors = 0;
  let lastMessage: string | undefined;
  for (const m of measurements) {
    if (m.phase === 'Error') consecutiveErrors++;
    else consecutiveErrors = 0;
    if (m.phase === 'Failed') failed++;
    if (m.phase === 'Inconclusive') inconclusive++;
    if (m.message) lastMessage = m.message;
  }
  const msg = lastMessage ? { message: lastMessage } : {};
  if (failed > (metric.failureLimit ?? 0)) return { phase: 'Failed', ...msg };
  if (consecutiveErrors > (metric.consecutiveErrorLimit ?? DEFAULT_CONSECUTIVE_ERROR_LIMIT)) return { phase: 'Error', ...msg };
  if (inconclusive > (metric.inconclusiveLimit ?? 0)) return { phase: 'Inconclusive', ...msg };
  const taken = measurements.filter((m) => m.phase !== 'Error').length;
  const count = metric.count ?? (metric.interval === undefined ? 1 : undefined);
  if (count !== undefined && taken >= count) return { phase: 'Successful', ...msg };
  const last = measurements[measurements.length - 1];
  const first = startedAt + (metric.initialDelay ?? 0) * 1000;
  const nextAt = last ? last.at + (metric.interval ?? 0) * 1000 : first;
  return { phase: 'Running', nextAt: Math.max(first, nextAt), ...msg };
}

/** The run's phase: any Failed wins, then Error, then Inconclusive; Successful when all are. */
export function evaluateRun(metrics: readonly MetricState[]): MetricState {
  for (const phase of ['Failed', 'Error', 'Inconclusive'] as const) {
    const m = metrics.find((x) => x.phase === phase);
    if (m) return { phase, ...(m.message ? { message: m.message } : {}) };
  }
  if (metrics.every((m) => m.phase === 'Successful')) return { phase: 'Successful' };
  const next = metrics.map((m) => m.nextAt).filter((t): t is number => t !== undefined);
  return { phase: 'Running', ...(next.length > 0 ? { nextAt: Math.min(...next) } : {}) };
}
