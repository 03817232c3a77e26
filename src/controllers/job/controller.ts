// The Job controller (batch/v1 Jobs from Git): one key per Job (`Job/<ns>/<name>`). A Job in
// Git has one run at a time: a record at STORE_PREFIX.jobs + `<ns>/<name>` (owner kind Job)
// and its pods, run by the same pure core as a CronJob's jobs (planJob). A finished run is not
// run again. The sync refuses a commit that changes the pod template, completions or
// completionMode (src/plan/immutable.ts, as Kubernetes does); should a desired record with a
// different template reach the store anyway, the run is stopped and a new one started.
// ttlSecondsAfterFinished removes the run and its pods once it has passed; the status (kept
// while the Job is in Git) keeps the outcome and template hash, so the Job is not run again.
import { STORE_PREFIX, type DesiredRecord, type Pod, type PodSpec, type WorkloadStatus } from '../../api/cluster.js';
import type { JobObject } from '../../api/kinds-core.js';
import type { KV, KeyValue } from '../../store/index.js';
import { applyJobPlan, isPod, jobKey, planJob, sameStatus, Writes, type Job, type JobPlan } from '../cronjob/index.js';
import { storeController, type StoreControllerOptions } from '../store-controller.js';
import { EventRecorder, type EventInput } from '../events.js';
import { Controller, systemClock, type Clock, type Reconciler, parseObjectKey, iso, ms } from '../framework/index.js';
import { decodeJson, templateHash, type Stored } from '../workload/index.js';

const KIND = 'Job';
const CONFLICT_RETRY_MS = 10;

/** What the controller keeps at STORE_PREFIX.status + `Job/<ns>/<name>`. */
export interface JobWorkloadStatus extends WorkloadStatus {
  kind: 'Job';
  /** Pods running or waiting to run, succeeded, failed (Kubernetes' Job status counters). */
  active: number;
  succeeded: number;
  failed: number;
  completions: number;
  startTime?: string;
  completionTime?: string;
  /** The pod template hash of the run this status is about. */
  templateHash: string;
  /** The run and its pods were removed after ttlSecondsAfterFinished; the outcome is kept. */
  removedAfterTtl?: boolean;
}


export function parseJobKey(key: string): { namespace: string; name: string } | undefined {
  return parseObjectKey(KIND, key);
}

function isGitRun(v: unknown): v is Job {
  const j = v as Partial<Job> | undefined;
  return typeof j === 'object' && j !== null && typeof j.metadata?.name === 'string' && j.metadata.owner?.kind === KIND && typeof j.spec?.template === 'object' && typeof j.status === 'object';
}

/** The hash that decides whether a change in Git replaces the run. */
export function gitJobHash(job: JobObject): string {
  const t = job.spec.template;
  return templateHash({ labels: { ...(t.metadata?.labels ?? {}) }, spec: { template: t.spec, completions: job.spec.completions ?? 1, completionMode: job.spec.completionMode ?? 'NonIndexed' } });
}

/** A new run of a Job from Git. */
export function newGitRun(job: JobObject, now: number): Job {
  return {
    metadata: {
      name: job.metadata.name,
      namespace: job.metadata.namespace ?? 'default',
      labels: { ...(job.metadata.labels ?? {}) },
      ...(job.metadata.annotations ? { annotations: { ...job.metadata.annotations } } : {}),
      owner: { kind: KIND, name: job.metadata.name },
      createdAt: iso(now),
      scheduledAt: iso(now),
      templateHash: gitJobHash(job),
    },
    spec: runSpec(job),
    status: { phase: 'Active', active: 0, succeeded: 0, failed: 0, startTime: iso(now) },
  };
}

/** The run's spec from Git: the mutable fields (parallelism, backoffLimit, deadline) follow Git. */
function runSpec(job: JobObject): Job['spec'] {
  const t = job.spec.template;
  return {
    completions: job.spec.completions ?? 1,
    parallelism: job.spec.parallelism ?? 1,
    ...(job.spec.completionMode === 'Indexed' ? { completionMode: 'Indexed' as const } : {}),
    backoffLimit: job.spec.backoffLimit ?? 6,
    ...(job.spec.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: job.spec.activeDeadlineSeconds } : {}),
    template: {
      metadata: { labels: { ...(t.metadata?.labels ?? {}) }, ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}) },
      spec: t.spec as unknown as PodSpec,
    },
  };
}

interface Observed {
  desired?: Stored<DesiredRecord>;
  status?: Stored<JobWorkloadStatus>;
  run?: Stored<Job>;
  pods: Stored<Pod>[];
}

async function observe(kv: KV, namespace: string, name: string): Promise<Observed> {
  const first = await kv.range(`${STORE_PREFIX.desired}${KIND}/${namespace}/${name}`);
  const revision = first.revision;
  const [status, run, pods] = await Promise.all([
    kv.range(`${STORE_PREFIX.status}${KIND}/${namespace}/${name}`, { revision }),
    kv.range(jobKey(namespace, name), { revision }),
    kv.range(`${STORE_PREFIX.pods}${namespace}/${name}-`, { prefix: true, revision }),
  ]);
  const stored = <T>(item: KeyValue | undefined, ok: (v: unknown) => boolean): Stored<T> | undefined => {
    const v = decodeJson<unknown>(item);
    return item && v !== undefined && ok(v) ? { key: item.key, value: v as T, modRevision: item.modRevision } : undefined;
  };
  const out: Observed = { pods: [] };
  const desired = stored<DesiredRecord>(first.kvs[0], (v) => (v as DesiredRecord).object?.kind === KIND);
  if (desired) out.desired = desired;
  const st = stored<JobWorkloadStatus>(status.kvs[0], (v) => typeof v === 'object' && v !== null);
  if (st) out.status = st;
  const r = stored<Job>(run.kvs[0], isGitRun);
  if (r) out.run = r;
  for (const item of pods.kvs) {
    const p = stored<Pod>(item, isPod);
    if (p && p.value.metadata.owner.kind === 'Job' && p.value.metadata.owner.name === name && p.value.metadata.labels['capstan.dev/cronjob'] === undefined) out.pods.push(p);
  }
  return out;
}

function statusOf(ref: { namespace: string; name: string }, run: Job, desired: DesiredRecord | undefined, now: number, extra: Partial<JobWorkloadStatus> = {}): JobWorkloadStatus {
  const s = run.status;
  const completions = run.spec.completions ?? 1;
  const conditions: WorkloadStatus['conditions'] = [];
  if (s.phase === 'Succeeded') conditions.push({ type: 'Complete', status: 'True', lastTransitionTime: s.completionTime ?? iso(now) });
  if (s.phase === 'Failed') {
    conditions.push({ type: 'Failed', status: 'True', ...(s.reason ? { reason: s.reason } : {}), ...(s.message ? { message: s.message } : {}), lastTransitionTime: s.completionTime ?? iso(now) });
  }
  const phase: WorkloadStatus['phase'] = s.phase === 'Succeeded' ? 'Healthy' : s.phase === 'Failed' ? 'Degraded' : 'Progressing';
  const message =
    s.phase === 'Succeeded' ? `completed: ${s.succeeded}/${completions} succeeded` : s.phase === 'Failed' ? `failed: ${s.reason ?? 'Failed'}${s.message ? `: ${s.message}` : ''}` : `running: ${s.active} active, ${s.succeeded}/${completions} succeeded, ${s.failed} failed`;
  return {
    namespace: ref.namespace,
    name: ref.name,
    kind: KIND,
    phase,
    revision: 0,
    replicas: run.spec.parallelism ?? 1,
    readyReplicas: s.active,
    availableReplicas: s.active,
    updatedReplicas: s.active,
    ...(desired?.commit !== undefined ? { syncedCommit: desired.commit } : {}),
    message,
    conditions,
    observedAt: iso(now),
    active: s.active,
    succeeded: s.succeeded,
    failed: s.failed,
    completions,
    startTime: s.startTime,
    ...(s.completionTime ? { completionTime: s.completionTime } : {}),
    templateHash: run.metadata.templateHash,
    ...extra,
  };
}

export interface JobReconcilerOptions {
  kv: KV;
  clock?: Clock;
  events?: EventRecorder;
}

export function jobReconciler(options: JobReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'job',
    async reconcile(key, ctx) {
      const ref = parseJobKey(key);
      if (!ref) return;
      const now = clock.now();
      const o = await observe(kv, ref.namespace, ref.name);
      const w = new Writes();
      const pending: EventInput[] = [];
      const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
        pending.push({ namespace: ref.namespace, object: `${KIND}/${ref.name}`, type, reason, message });
      };
      let requeueAt: number | undefined;
      const wake = (at: number | undefined): void => {
        if (at !== undefined && (requeueAt === undefined || at < requeueAt)) requeueAt = at;
      };
      const desired = o.desired?.value;
      const job = desired?.object as JobObject | undefined;
      const hash = job ? gitJobHash(job) : undefined;
      const pods = o.pods.map((p) => p.value);
      let status: JobWorkloadStatus | undefined = o.status?.value;

      const startRun = (): void => {
        const run = newGitRun(job!, now);
        const plan = planJob(run, [], now);
        const created = { ...run, status: plan.status };
        w.create(jobKey(ref.namespace, ref.name), created);
        for (const p of plan.create) w.create(`${STORE_PREFIX.pods}${p.metadata.namespace}/${p.metadata.name}`, p);
        wake(plan.requeueAt);
        status = statusOf(ref, created, desired, now);
        event('SuccessfulCreate', `Created pods: ${plan.create.map((p) => p.metadata.name).join(', ')}`);
      };

      if (o.run) {
        let run = o.run.value;
        let replacing = false;
        let ttlDone = false;
        if (job) {
          // The mutable fields follow Git; the record is only rewritten when they changed.
          const spec = { ...runSpec(job), completions: run.spec.completions ?? 1 };
          if (JSON.stringify(spec) !== JSON.stringify(run.spec)) run = { ...run, spec };
        }
        if (run.metadata.deletionRequestedAt === undefined) {
          if (!job) {
            run = { ...run, metadata: { ...run.metadata, deletionRequestedAt: iso(now) } };
          } else if (run.metadata.templateHash !== hash) {
            run = { ...run, metadata: { ...run.metadata, deletionRequestedAt: iso(now) } };
            event('Replaced', 'the pod template changed in Git: the Job is replaced (its pods are stopped and a new run starts)');
          } else {
            const ttl = job.spec.ttlSecondsAfterFinished;
            const done = ms(run.status.completionTime);
            if (run.status.phase !== 'Active' && ttl !== undefined && done !== undefined) {
              if (now >= done + ttl * 1000) {
                run = { ...run, metadata: { ...run.metadata, deletionRequestedAt: iso(now) } };
                event('Deleted', `removed after ttlSecondsAfterFinished (${ttl}s)`);
              } else wake(done + ttl * 1000);
            }
          }
        }
        if (run.metadata.deletionRequestedAt !== undefined && job) {
          replacing = run.metadata.templateHash !== hash;
          ttlDone = !replacing;
        }
        const plan: JobPlan = planJob(run, pods, now);
        if (plan.status !== run.status && plan.status.phase !== run.status.phase) {
          if (plan.status.phase === 'Succeeded') event('Completed', 'Job completed');
          else if (plan.status.phase === 'Failed') event(plan.status.reason ?? 'Failed', plan.status.message ?? 'Job failed', 'Warning');
        }
        wake(plan.requeueAt);
        const after = { ...run, status: plan.status };
        // Once the old run's pods are gone its record goes; a replaced run starts again next pass.
        applyJobPlan(w, o.run, run, plan, o.pods, now);
        if (job && replacing) {
          status = { ...statusOf(ref, after, desired, now), phase: 'Progressing', message: 'replacing: the pod template changed in Git' };
        } else if (job) {
          const removed = (plan.removeJob && ttlDone) || o.status?.value.removedAfterTtl === true;
          status = statusOf(ref, after, desired, now, removed ? { removedAfterTtl: true, active: 0 } : {});
        }
      } else if (job) {
        const prev = o.status?.value;
        const finishedBefore = prev !== undefined && prev.templateHash === hash && prev.conditions.some((c) => c.type === 'Complete' || c.type === 'Failed');
        if (!finishedBefore) {
          // Pods left from an earlier run (none expected) go first: the new run reuses their names.
          if (o.pods.length > 0) for (const p of o.pods) w.delete(p);
          else startRun();
        }
      }

      if (job) {
        if (status && !sameStatus(o.status?.value, status)) {
          if (o.status) w.put(o.status, status);
          else w.create(`${STORE_PREFIX.status}${KIND}/${ref.namespace}/${ref.name}`, status);
        }
        if (o.desired) w.guard(o.desired);
      } else {
        w.compare.push({ key: `${STORE_PREFIX.desired}${KIND}/${ref.namespace}/${ref.name}`, target: 'createRevision', op: '==', value: 0 });
        if (o.status && !o.run) w.delete(o.status);
      }

      if (w.ops.length > 0) {
        const r = await kv.txn({ compare: w.compare, success: w.ops, failure: [] });
        if (!r.succeeded) {
          ctx.logger.debug('job, its run or pods changed while reconciling; looking again');
          return { requeueAfterMs: CONFLICT_RETRY_MS };
        }
        for (const e of pending) await events?.record(e);
      }
      return requeueAt !== undefined ? { requeueAfterMs: Math.max(0, requeueAt - now) } : undefined;
    },
  };
}

/** Desired Jobs, their runs and the runs' pods → the Job's key. */
export function jobKeyOf(item: KeyValue): string | undefined {
  if (item.key.startsWith(STORE_PREFIX.desired)) {
    const k = item.key.slice(STORE_PREFIX.desired.length);
    return k.startsWith(`${KIND}/`) ? k : undefined;
  }
  const v = decodeJson<unknown>(item);
  if (isGitRun(v)) return `${KIND}/${v.metadata.namespace}/${v.metadata.name}`;
  if (isPod(v) && v.metadata.owner.kind === 'Job' && v.metadata.labels['capstan.dev/cronjob'] === undefined) return `${KIND}/${v.metadata.namespace}/${v.metadata.owner.name}`;
  return undefined;
}

export type JobControllerOptions = StoreControllerOptions;

/** The Job controller, not started. */
export function jobController(options: JobControllerOptions): Controller {
  return storeController(options, { eventSource: 'job-controller', keysOf: jobKeyOf, prefixes: [STORE_PREFIX.desired, STORE_PREFIX.jobs, STORE_PREFIX.pods], reconciler: (deps) => jobReconciler(deps) });
}
