// Measurement providers. Effects are injected: the routers' per-revision stats for `capstan`
// (the control plane's and every node's, summed: src/compose/services.ts),
// a fetch function for `web` and `prometheus`, a job runner for `job` (a pod run to completion
// through the scheduler and an agent: src/analysis/job.ts).

import { CapstanError } from '../common/index.js';
import { parseDuration } from '../rollout/index.js';
import type { Value } from './expression.js';
import type { JobRunner } from './job.js';
import type { ProviderResult } from './run.js';

/**
 * A revision's traffic over the last `windowSeconds`, as the routers measure it: the sum over
 * every router that served it (requests and errors added, percentiles of the added latency
 * histograms), so the figures hold wherever a request entered the mesh.
 */
export interface RevisionWindowStats {
  requests: number;
  errors: number;
  /** 0..1 */
  successRate: number;
  /** Latency percentiles, ms. */
  p50: number;
  p90: number;
  p99: number;
}

/** Wired to the routers' merged figures by the control plane; undefined when no router has anything for it. */
export type RevisionStatsSource = (service: string, revision: string, windowSeconds: number) => RevisionWindowStats | undefined;

export type FetchLike = (url: string, init: { method: string; headers?: Record<string, string>; signal?: AbortSignal }) => Promise<{
  ok: boolean;
  status: number;
  text(): Promise<string>;
}>;

export interface ProviderSpec {
  /** `metric` picks one stat (e.g. successRate, p99); without it the result is every stat. */
  capstan?: { metric?: string; service?: string; revision?: string; window?: string | number };
  web?: { url: string; jsonPath?: string; headers?: Array<{ key: string; value: string }>; timeoutSeconds?: number };
  prometheus?: { address?: string; query: string; timeoutSeconds?: number };
  /** Argo's shape: `spec` is a Job spec (its `template`; `activeDeadlineSeconds` is the time-out). */
  job?: { spec?: { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown }; activeDeadlineSeconds?: number }; timeoutSeconds?: number };
}

export interface ProviderContext {
  stats?: RevisionStatsSource;
  fetch?: FetchLike;
  /** The revision under analysis (canary or preview hash), the default for `capstan.revision`. */
  revision?: string;
  /** Default Service for `capstan` metrics that name none. */
  service?: string;
  /** Default Prometheus address. */
  prometheusAddress?: string;
  /** Runs a `job` metric's pod to completion. */
  runJob?: JobRunner;
  /** The workload under analysis (names the job's pod, and its namespace). */
  namespace?: string;
  workload?: string;
  /** The metric being measured. */
  metric?: string;
}

/** A job metric's time-out when its spec sets no activeDeadlineSeconds. */
export const JOB_TIMEOUT_SECONDS = 300;

const WEB_TIMEOUT_SECONDS = 10;

function providerError(message: string, cause?: unknown): CapstanError {
  return new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `analysis provider: ${message}`, { ...(cause !== undefined ? { cause } : {}) });
}

/** `$.a.b[0]` or `a.b.0` over own properties only. */
export function selectJsonPath(doc: unknown, path: string | undefined): Value {
  if (!path || path === '$') return doc as Value;
  const parts = path.replace(/^\$\.?/, '').replace(/\[(\d+)\]/g, '.$1').split('.').filter((p) => p !== '');
  let cur: unknown = doc;
  for (const p of parts) {
    if (p === '__proto__' || p === 'constructor' || p === 'prototype') return undefined;
    if (Array.isArray(cur) && /^\d+$/.test(p)) cur = cur[Number(p)];
    else if (typeof cur === 'object' && cur !== null && Object.prototype.hasOwnProperty.call(cur, p)) cur = (cur as Record<string, unknown>)[p];
    else return undefined;
  }
  return cur as Value;
}

async function get(ctx: ProviderContext, url: string, timeoutSeconds: number, headers?: Record<string, string>): Promise<unknown> {
  if (!ctx.fetch) throw providerError('no HTTP client configured');
  let res;
  try {
    res = await ctx.fetch(url, { method: 'GET', ...(headers ? { headers } : {}), signal: AbortSignal.timeout(timeoutSeconds * 1000) });
  } catch (err) {
    throw providerError(`GET ${url} failed`, err);
  }
  const text = await res.text();
  if (!res.ok) throw providerError(`GET ${url} answered ${res.status}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw providerError(`GET ${url} did not answer JSON`, err);
  }
}

/** Takes one measurement's raw value. Throws on provider errors (they count as Error). */
export async function measure(spec: ProviderSpec, ctx: ProviderContext): Promise<ProviderResult> {
  if (spec.capstan) {
    const c = spec.capstan;
    const revision = c.revision ?? ctx.revision;
    if (!ctx.stats) throw providerError('the router offers no per-revision stats here');
    if (!revision) throw providerError('capstan: no revision to measure');
    const service = c.service ?? ctx.service;
    if (!service) throw providerError('capstan: no service to measure');
    const window = parseDuration(c.window ?? 60, 'provider.capstan.window');
    const s = ctx.stats(service, revision, window);
    if (!s) return {};
    if (c.metric !== undefined) {
      // `success-rate` and `successRate` name the same figure.
      const wanted = c.metric.replace(/-([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());
      if (!Object.prototype.hasOwnProperty.call(s, wanted)) {
        throw providerError(`capstan: unknown metric ${JSON.stringify(c.metric)}; use one of ${Object.keys(s).join(', ')}`);
      }
      return { value: (s as unknown as Record<string, number>)[wanted], requests: s.requests };
    }
    return { value: { ...s }, requests: s.requests };
  }
  if (spec.web) {
    const w = spec.web;
    const headers = w.headers ? Object.fromEntries(w.headers.map((h) => [h.key, h.value])) : undefined;
    const doc = await get(ctx, w.url, w.timeoutSeconds ?? WEB_TIMEOUT_SECONDS, headers);
    return { value: selectJsonPath(doc, w.jsonPath) };
  }
  if (spec.prometheus) {
    const p = spec.prometheus;
    const address = p.address ?? ctx.prometheusAddress;
    if (!address) throw providerError('prometheus: no address');
    const url = `${address.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(p.query)}`;
    const doc = (await get(ctx, url, p.timeoutSeconds ?? WEB_TIMEOUT_SECONDS)) as {
      status?: string;
      data?: { resultType?: string; result?: unknown };
    };
    if (doc.status !== 'success') throw providerError(`prometheus query failed: ${JSON.stringify(doc).slice(0, 200)}`);
    const r = doc.data?.result;
    // Instant vector → the sample values as numbers; a scalar → one number.
    if (doc.data?.resultType === 'scalar' && Array.isArray(r)) return { value: Number(r[1]) };
    if (Array.isArray(r)) return { value: r.map((x) => Number((x as { value?: [number, string] }).value?.[1])) };
    return {};
  }
  if (spec.job !== undefined) {
    const j = spec.job;
    const template = j.spec?.template;
    if (!template?.spec) throw providerError('job: spec.template.spec is required');
    if (!ctx.runJob) throw providerError('job: no job runner here');
    const timeoutSeconds = j.timeoutSeconds ?? j.spec?.activeDeadlineSeconds ?? JOB_TIMEOUT_SECONDS;
    const out = await ctx.runJob({
      namespace: ctx.namespace ?? 'default',
      workload: ctx.workload ?? 'analysis',
      metric: ctx.metric ?? 'job',
      template: { ...(template.metadata ? { metadata: template.metadata } : {}), spec: template.spec },
      timeoutSeconds,
    });
    // A time-out is the provider's failure (an Error measurement), not the job's verdict.
    if ('timedOut' in out) throw providerError(`job: ${out.message}`);
    const passed = out.exitCode === 0;
    return {
      value: out.exitCode,
      verdict: passed ? 'Successful' : 'Failed',
      ...(passed ? {} : { message: `job pod ${out.pod} exited with code ${out.exitCode}${out.message ? `: ${out.message}` : ''}` }),
    };
  }
  throw providerError('a metric needs one provider: capstan, web, prometheus or job');
}
