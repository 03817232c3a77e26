// The analysis runner: a reconciler over workload status records. When a rollout waits for an
// analysis (status `analysis`), it takes the metrics' due measurements, evaluates the run and
// reports the result in the workload's override record, where the canary and blue-green
// strategies read it. Measurements live in memory: a restarted runner measures again.

import { STORE_PREFIX } from '../api/cluster.js';
import type { AnalysisTemplate, Metric } from '../api/index.js';
import { decodeJson, overrideKeyOf, parseWorkloadKey, type RolloutOverride, type StoredWorkloadStatus, type WorkloadRef } from '../controllers/workload/index.js';
import type { Clock, Reconciler } from '../controllers/framework/index.js';
import { parseDuration } from '../rollout/index.js';
import type { KV } from '../store/index.js';
import { measure, type ProviderContext, type ProviderSpec } from './providers.js';
import { storeJobRunner } from './job.js';
import { assessMeasurement, evaluateMetric, evaluateRun, type Measurement, type MetricSpec, type NoDataPolicy } from './run.js';
import { ANALYSIS_RUNS_PREFIX, summariseMetric, type AnalysisRunSummary, type AnalysisRunsRecord } from './summary.js';

export interface AnalysisRunnerOptions {
  kv: KV;
  clock: Clock;
  /**
   * Effects for the providers (router stats, fetch, Prometheus address). Without `runJob`,
   * `job` metrics run their pod through this store (the scheduler binds it, an agent runs it).
   */
  providers?: Omit<ProviderContext, 'revision' | 'namespace' | 'workload'>;
}

/** How often a pass looks for a running job's result. */
const JOB_POLL_MS = 1000;

const NO_DATA: Record<string, NoDataPolicy> = { Inconclusive: 'inconclusive', Success: 'pass', Failure: 'fail' };

/** An AnalysisTemplate metric as the run evaluator takes it. */
export function metricSpec(m: Metric & { noDataPolicy?: string; minRequests?: number }, templatePolicy?: string): MetricSpec {
  const policy = NO_DATA[m.noDataPolicy ?? templatePolicy ?? 'Inconclusive'] ?? 'inconclusive';
  return {
    name: m.name,
    ...(m.interval !== undefined ? { interval: parseDuration(m.interval, `metrics.${m.name}.interval`) } : {}),
    ...(m.count !== undefined ? { count: m.count } : {}),
    ...(m.initialDelay !== undefined ? { initialDelay: parseDuration(m.initialDelay, `metrics.${m.name}.initialDelay`) } : {}),
    ...(m.successCondition ? { successCondition: m.successCondition } : {}),
    ...(m.failureCondition ? { failureCondition: m.failureCondition } : {}),
    ...(m.failureLimit !== undefined ? { failureLimit: m.failureLimit } : {}),
    ...(m.inconclusiveLimit !== undefined ? { inconclusiveLimit: m.inconclusiveLimit } : {}),
    ...(m.consecutiveErrorLimit !== undefined ? { consecutiveErrorLimit: m.consecutiveErrorLimit } : {}),
    ...(typeof m.minRequests === 'number' ? { minRequests: m.minRequests } : {}),
    noDataPolicy: policy,
  };
}

export function analysisReconciler(options: AnalysisRunnerOptions): Reconciler {
  const { kv, clock } = options;
  const runJob = options.providers?.runJob ?? storeJobRunner({ kv, clock });
  // `<workload key>/<hash>/<analysis key>` → run start, measurements per metric, and its summary.
  const runs = new Map<string, { startedAt: number; measurements: Map<string, Measurement[]>; summary?: AnalysisRunSummary }>();
  // `<run key>/<metric>` → a job measurement in progress (and its result once it has one).
  const jobs = new Map<string, { done?: Measurement }>();
  // Per workload key: the summary record last written, to write only changes.
  const published = new Map<string, string>();

  /** The summaries of every run of `hash` for the workload, as `capstan status` reads them. */
  async function publish(ref: WorkloadRef, key: string, hash: string): Promise<void> {
    const prefix = `${key}/${hash}/`;
    const list = [...runs].filter(([k, r]) => k.startsWith(prefix) && r.summary).map(([, r]) => r.summary!);
    const record: Omit<AnalysisRunsRecord, 'at'> = { kind: ref.kind, namespace: ref.namespace, name: ref.name, revision: hash, runs: list };
    const value = JSON.stringify(record);
    if (published.get(key) === value) return;
    await kv.put(`${ANALYSIS_RUNS_PREFIX}${key}`, JSON.stringify({ ...record, at: new Date(clock.now()).toISOString() }));
    published.set(key, value);
  }

  type Slot = 'analysis' | 'backgroundAnalysis';
  async function report(key: string, slot: Slot, value: NonNullable<RolloutOverride['analysis']>): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const item = await kv.get(key);
      const cur = decodeJson<RolloutOverride>(item);
      if (cur?.[slot] && JSON.stringify(cur[slot]) === JSON.stringify(value)) return;
      const next = { ...(cur ?? {}), [slot]: value, at: new Date(clock.now()).toISOString() };
      const r = await kv.txn({
        compare: [{ key, target: 'modRevision', op: '==', value: item?.modRevision ?? 0 }],
        success: [{ type: 'put', key, value: JSON.stringify(next) }],
        failure: [],
      });
      if (r.succeeded) return;
    }
  }

  /**
   * The Service a `capstan` metric measures when its template names none: the first Service
   * (by name) whose selector picks the workload's pods.
   */
  async function serviceOf(ref: WorkloadRef): Promise<string | undefined> {
    const workload = decodeJson<{ object?: { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } } }>(
      await kv.get(`${STORE_PREFIX.desired}${ref.kind}/${ref.namespace}/${ref.name}`),
    );
    const labels = workload?.object?.spec?.template?.metadata?.labels ?? {};
    const services = await kv.range(`${STORE_PREFIX.desired}Service/${ref.namespace}/`, { prefix: true });
    for (const item of services.kvs) {
      const svc = decodeJson<{ object?: { metadata: { name: string }; spec?: { selector?: Record<string, string> } } }>(item);
      const selector = Object.entries(svc?.object?.spec?.selector ?? {});
      if (selector.length > 0 && selector.every(([k, v]) => labels[k] === v)) return `${ref.namespace}/${svc!.object!.metadata.name}`;
    }
    return undefined;
  }

  /** One measurement; a provider's failure is an Error measurement, never a rejection. */
  async function takeMeasurement(m: { spec: MetricSpec; provider: ProviderSpec }, ctx: () => Promise<ProviderContext>, at: number): Promise<Measurement> {
    try {
      return assessMeasurement(m.spec, await measure(m.provider, await ctx()), at);
    } catch (err) {
      return { phase: 'Error', at, message: `${m.spec.name}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  /** One run's due measurements; its result is reported once it is decided. Returns when to look again. */
  async function step(ref: WorkloadRef, key: string, hash: string, slot: Slot, wanted: { key: string; templates: string[] }): Promise<number | undefined> {
    const runKey = `${key}/${hash}/${wanted.key}`;
    const now = clock.now();
    let run = runs.get(runKey);
    if (!run) {
      run = { startedAt: now, measurements: new Map() };
      runs.set(runKey, run);
    }
    const overrideKey = overrideKeyOf(ref);
    const metrics: Array<{ spec: MetricSpec; provider: ProviderSpec }> = [];
    for (const name of wanted.templates) {
      const rec = decodeJson<{ object?: AnalysisTemplate }>(await kv.get(`${STORE_PREFIX.desired}AnalysisTemplate/${ref.namespace}/${name}`));
      const t = rec?.object;
      if (!t) {
        await report(overrideKey, slot, { hash, key: wanted.key, phase: 'Error', message: `AnalysisTemplate ${ref.namespace}/${name} does not exist` });
        return undefined;
      }
      for (const m of t.spec.metrics) metrics.push({ spec: metricSpec(m, t.spec.noDataPolicy), provider: m.provider as ProviderSpec });
    }
    const states = [];
    const summaries = [];
    for (const m of metrics) {
      const list = run.measurements.get(m.spec.name) ?? [];
      let state = evaluateMetric(m.spec, list, run.startedAt);
      if (state.phase === 'Running' && state.nextAt !== undefined && state.nextAt <= now) {
        const ctx = async (): Promise<ProviderContext> => {
          const service = options.providers?.service ?? (await serviceOf(ref));
          return { ...(options.providers ?? {}), runJob, ...(service ? { service } : {}), revision: hash, namespace: ref.namespace, workload: ref.name, metric: m.spec.name };
        };
        let taken: Measurement | undefined;
        if (m.provider.job !== undefined) {
          // A job runs as long as its pod does: it is started here and collected on a later
          // pass, so a long job does not hold up the analyses of other workloads.
          const id = `${runKey}/${m.spec.name}`;
          let job = jobs.get(id);
          if (!job) {
            const entry: { done?: Measurement } = {};
            jobs.set(id, entry);
            void takeMeasurement(m, ctx, now).then((done) => (entry.done = done));
            job = entry;
          }
          if (job.done) {
            jobs.delete(id);
            taken = job.done;
          }
        } else {
          taken = await takeMeasurement(m, ctx, now);
        }
        if (taken) {
          list.push(taken);
          run.measurements.set(m.spec.name, list);
          state = evaluateMetric(m.spec, list, run.startedAt);
        } else {
          state = { ...state, nextAt: now + JOB_POLL_MS };
        }
      }
      states.push(state);
      summaries.push(summariseMetric(m.spec.name, state, run.measurements.get(m.spec.name) ?? []));
    }
    const overall = evaluateRun(states);
    run.summary = {
      key: wanted.key,
      slot,
      templates: wanted.templates,
      phase: overall.phase,
      ...(overall.message ? { message: overall.message } : {}),
      startedAt: new Date(run.startedAt).toISOString(),
      metrics: summaries,
    };
    await publish(ref, key, hash);
    if (overall.phase !== 'Running') {
      await report(overrideKey, slot, { hash, key: wanted.key, phase: overall.phase, ...(overall.message ? { message: overall.message } : {}) });
      return undefined;
    }
    return overall.nextAt;
  }

  return {
    name: 'analysis',
    async reconcile(key) {
      const ref = parseWorkloadKey(key);
      if (!ref) return;
      const status = decodeJson<StoredWorkloadStatus>(await kv.get(`${STORE_PREFIX.status}${key}`));
      const wanted = status?.analysis;
      const prefix = `${ref.name}-`;
      const hash = status?.revisionName?.startsWith(prefix) ? status.revisionName.slice(prefix.length) : undefined;
      if ((!wanted && !status?.backgroundAnalysis) || !hash) {
        for (const k of runs.keys()) if (k.startsWith(`${key}/`)) runs.delete(k);
        // A job still running finishes and removes its pod on its own; nobody reads its result.
        for (const k of jobs.keys()) if (k.startsWith(`${key}/`)) jobs.delete(k);
        // The summary stays for `capstan status` while the workload exists; it goes with it.
        if (!status) {
          await kv.delete(`${ANALYSIS_RUNS_PREFIX}${key}`);
          published.delete(key);
        }
        return;
      }
      const now = clock.now();
      let next: number | undefined;
      for (const [slot, w] of [['analysis', wanted], ['backgroundAnalysis', status?.backgroundAnalysis]] as const) {
        if (!w) continue;
        const at = await step(ref, key, hash, slot, w);
        if (at !== undefined && (next === undefined || at < next)) next = at;
      }
      return next !== undefined ? { requeueAfterMs: Math.max(1, next - now) } : undefined;
    },
  };
}
