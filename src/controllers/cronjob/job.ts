// A Job (batch/v1) as the CronJob and Job controllers keep it: a record at STORE_PREFIX.jobs +
// `<ns>/<name>` plus its pods (owner kind `Job`). The pure core below runs up to `parallelism`
// pods at a time until `completions` of them succeeded (both default 1), retries failures with
// Kubernetes' back-off (10 s doubling, capped at 6 min) and fails the Job once the failures
// exceed backoffLimit or activeDeadlineSeconds has passed.
import type { Pod, PodSpec } from '../../api/cluster.js';

/** Pods of a job carry these labels (Kubernetes: `job-name`). */
export const JOB_NAME_LABEL = 'capstan.dev/job-name';
export const CRONJOB_NAME_LABEL = 'capstan.dev/cronjob';

export const JOB_BACKOFF_BASE_MS = 10_000;
export const JOB_BACKOFF_MAX_MS = 360_000;

export type JobPhase = 'Active' | 'Succeeded' | 'Failed';

export interface JobStatus {
  phase: JobPhase;
  /** Pods running or waiting to run. */
  active: number;
  succeeded: number;
  /** Failed pods, plus container restarts under restartPolicy OnFailure (what backoffLimit counts). */
  failed: number;
  startTime: string;
  completionTime?: string;
  reason?: 'BackoffLimitExceeded' | 'DeadlineExceeded';
  message?: string;
}

export interface Job {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    /** The CronJob that made it, or (kind Job) the Job object from Git it runs. */
    owner: { kind: 'CronJob' | 'Job'; name: string };
    createdAt: string;
    /** The schedule time this job runs for. */
    scheduledAt: string;
    /** The pod template's hash: its pods' `owner.revision`. */
    templateHash: string;
    /** Set when the job should go: its pods are stopped, then the record is removed. */
    deletionRequestedAt?: string;
  };
  spec: {
    /** Pods that must succeed (default 1). */
    completions?: number;
    /** Pods run at once at most (default 1). */
    parallelism?: number;
    /** Indexed: each index 0..completions-1 must succeed once; its pods carry the index. */
    completionMode?: 'NonIndexed' | 'Indexed';
    backoffLimit: number;
    activeDeadlineSeconds?: number;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
  status: JobStatus;
}

export interface JobPlan {
  /** The job's status after this pass (the same object when nothing changed). */
  status: JobStatus;
  /** Pods to create. */
  create: Pod[];
  /** Pods to ask to stop (their agent terminates them). */
  stop: Pod[];
  /** Pods to remove from the store (finished, or never bound). */
  remove: Pod[];
  /** The job record itself can go (deleting, and no pod left). */
  removeJob: boolean;
  /** When to look again even if nothing changes (a retry's back-off, the active deadline). */
  requeueAt?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const ms = (t: string | undefined): number | undefined => {
  const v = t === undefined ? Number.NaN : Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
};

/** A pod nothing runs any more: finished, or stopped by its agent. */
export function podFinished(p: Pod): boolean {
  return p.status.terminatedAt !== undefined || p.status.phase === 'Succeeded' || p.status.phase === 'Failed';
}

/** A job's pod for one attempt: the template with the job's labels, unbound (the scheduler binds it). */
/** The pod annotation (and, as JOB_COMPLETION_INDEX, the env var) with an Indexed Job pod's index. */
export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

/** An Indexed Job pod's completion index, or undefined. */
export function completionIndex(p: Pod): number | undefined {
  const v = p.metadata.annotations?.[JOB_COMPLETION_INDEX_ANNOTATION];
  const n = v === undefined ? Number.NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export function jobPod(job: Job, attempt: number, now: number, index?: number): Pod {
  const { nodeName: _bound, ...template } = job.spec.template.spec;
  const withIndex = <C extends { env?: { name: string; value?: string }[] }>(c: C): C =>
    index === undefined ? c : { ...c, env: [...(c.env ?? []).filter((e) => e.name !== 'JOB_COMPLETION_INDEX'), { name: 'JOB_COMPLETION_INDEX', value: String(index) }] };
  const spec =
    index === undefined
      ? template
      : { ...template, containers: template.containers.map(withIndex), ...(template.initContainers ? { initContainers: template.initContainers.map(withIndex) } : {}) };
  const annotations = { ...(job.spec.template.metadata.annotations ?? {}), ...(index !== undefined ? { [JOB_COMPLETION_INDEX_ANNOTATION]: String(index) } : {}) };
  const name = `${job.metadata.name}-${attempt}`;
  return {
    metadata: {
      name,
      namespace: job.metadata.namespace,
      labels: {
        ...job.spec.template.metadata.labels,
        [JOB_NAME_LABEL]: job.metadata.name,
        ...(job.metadata.owner.kind === 'CronJob' ? { [CRONJOB_NAME_LABEL]: job.metadata.owner.name } : {}),
      },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      owner: { kind: 'Job', name: job.metadata.name, revision: job.metadata.templateHash },
      createdAt: iso(now),
    },
    spec,
    status: { phase: 'Pending', ready: false },
  };
}

function sameStatus(a: JobStatus, b: JobStatus): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function planJob(job: Job, pods: readonly Pod[], now: number): JobPlan {
  const plan: JobPlan = { status: job.status, create: [], stop: [], remove: [], removeJob: false };
  const stopOrRemove = (p: Pod): void => {
    if (podFinished(p) || !p.spec.nodeName) plan.remove.push(p);
    else if (p.metadata.deletionRequestedAt === undefined) plan.stop.push(p);
  };

  if (job.metadata.deletionRequestedAt !== undefined) {
    for (const p of pods) stopOrRemove(p);
    plan.removeJob = plan.remove.length === pods.length;
    return plan;
  }

  let succeeded = 0;
  let failed = 0;
  let lastFailure: number | undefined;
  const active: Pod[] = [];
  const indexed = job.spec.completionMode === 'Indexed';
  const doneIndexes = new Set<number>();
  for (const p of pods) {
    if (p.status.phase === 'Succeeded') {
      const i = indexed ? completionIndex(p) : undefined;
      if (i === undefined) succeeded++;
      else if (!doneIndexes.has(i)) {
        doneIndexes.add(i);
        succeeded++;
      }
    }
    else if (p.status.phase === 'Failed') {
      failed++;
      const at = ms(p.status.terminatedAt) ?? ms(p.metadata.createdAt);
      if (at !== undefined && (lastFailure === undefined || at > lastFailure)) lastFailure = at;
    } else if (p.metadata.deletionRequestedAt === undefined && p.status.terminatedAt === undefined) active.push(p);
    // restartPolicy OnFailure restarts in place: each restart is a failure for backoffLimit.
    if (p.spec.restartPolicy === 'OnFailure') for (const c of p.status.containerStatuses ?? []) failed += c.restartCount;
  }

  const startTime = job.status.startTime;
  let next: JobStatus = { ...job.status, active: active.length, succeeded, failed };
  const finish = (phase: 'Succeeded' | 'Failed', reason?: JobStatus['reason'], message?: string): void => {
    next = { ...next, phase, active: 0, completionTime: iso(now), ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
    for (const p of active) stopOrRemove(p);
  };

  if (job.status.phase !== 'Active') {
    // Finished: keep the outcome, only make sure nothing of it still runs.
    next = { ...next, phase: job.status.phase, active: 0 };
    for (const p of active) stopOrRemove(p);
  } else if (succeeded >= Math.max(1, job.spec.completions ?? 1)) {
    finish('Succeeded');
  } else if (failed > job.spec.backoffLimit) {
    finish('Failed', 'BackoffLimitExceeded', `Job has reached the specified backoff limit (${job.spec.backoffLimit})`);
  } else {
    const deadline = job.spec.activeDeadlineSeconds;
    const start = ms(startTime) ?? now;
    if (deadline !== undefined && now >= start + deadline * 1000) {
      finish('Failed', 'DeadlineExceeded', `Job was active longer than specified deadline (${deadline}s)`);
    } else {
      if (deadline !== undefined) plan.requeueAt = start + deadline * 1000;
      const completions = Math.max(1, job.spec.completions ?? 1);
      const want = Math.min(Math.max(0, job.spec.parallelism ?? 1), completions - succeeded);
      if (active.length < want) {
        const podFailures = pods.filter((p) => p.status.phase === 'Failed').length;
        const retryAt =
          podFailures > 0 && lastFailure !== undefined
            ? lastFailure + Math.min(JOB_BACKOFF_MAX_MS, JOB_BACKOFF_BASE_MS * 2 ** (podFailures - 1))
            : now;
        if (now >= retryAt) {
          const taken = new Set(pods.map((p) => p.metadata.name));
          let attempt = pods.length;
          // Indexed: the lowest indexes neither succeeded nor running, one pod each.
          const busy = new Set(active.map(completionIndex));
          const free = indexed ? [...Array(completions).keys()].filter((i) => !doneIndexes.has(i) && !busy.has(i)) : [];
          for (let i = active.length; i < want; i++) {
            while (taken.has(`${job.metadata.name}-${attempt}`)) attempt++;
            taken.add(`${job.metadata.name}-${attempt}`);
            plan.create.push(jobPod(job, attempt, now, indexed ? free[i - active.length] : undefined));
          }
          next = { ...next, active: want };
        } else {
          plan.requeueAt = plan.requeueAt === undefined ? retryAt : Math.min(plan.requeueAt, retryAt);
        }
      }
    }
  }
  plan.status = sameStatus(next, job.status) ? job.status : next;
  return plan;
}
