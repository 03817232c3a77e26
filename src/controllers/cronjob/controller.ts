// The CronJob controller: one key per CronJob (`CronJob/<ns>/<name>`). Each pass reads the
// desired CronJob, its status, its jobs and their pods at one store revision, runs the job
// core on every job and the CronJob decision on the result, and writes everything in one
// guarded transaction. It asks to be looked at again at the next schedule time.
import { STORE_PREFIX, type DesiredRecord, type Pod, type PodSpec, type WorkloadStatus } from '../../api/cluster.js';
import type { CronJob } from '../../api/index.js';
import { CapstanError } from '../../common/index.js';
import type { Compare, KV, KeyValue, TxnOp } from '../../store/index.js';
import { storeController, type StoreControllerOptions } from '../store-controller.js';
import { EventRecorder, type EventInput } from '../events.js';
import { Controller, systemClock, type Clock, type Reconciler, parseObjectKey, iso, ms } from '../framework/index.js';
import { decodeJson, templateHash, type Stored } from '../workload/index.js';
import { CRONJOB_NAME_LABEL, planJob, type Job } from './job.js';
import { planCronJob, type JobSummary } from './plan.js';
import { nextFireAfter, parseSchedule } from './schedule.js';

const KIND = 'CronJob';
/** Retry delay after a guarded write lost to a concurrent one. */
const CONFLICT_RETRY_MS = 10;

/** What the controller keeps at STORE_PREFIX.status + `CronJob/<ns>/<name>`. */
export interface CronJobStatus extends WorkloadStatus {
  kind: 'CronJob';
  /** Names of the jobs running now. */
  active: string[];
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  /** When the controller first saw this CronJob: earlier schedule times are not missed runs. */
  since: string;
  /** The next schedule time (absent while suspended or when the schedule never fires). */
  nextScheduleTime?: string;
}


/** `CronJob/<ns>/<name>` → namespace and name. */
export function parseCronJobKey(key: string): { namespace: string; name: string } | undefined {
  return parseObjectKey(KIND, key);
}

/** Kubernetes names a CronJob's job `<cronjob>-<schedule time in minutes since the epoch>`. */
export function jobNameFor(cronJob: string, scheduledAt: number): string {
  return `${cronJob}-${Math.floor(scheduledAt / 60_000)}`;
}

export function jobKey(namespace: string, name: string): string {
  return `${STORE_PREFIX.jobs}${namespace}/${name}`;
}

export function isPod(v: unknown): v is Pod {
  const p = v as Partial<Pod> | undefined;
  return typeof p === 'object' && p !== null && typeof p.metadata?.name === 'string' && typeof p.metadata.owner === 'object' && typeof p.status === 'object' && typeof p.spec === 'object';
}

function isJob(v: unknown): v is Job {
  const j = v as Partial<Job> | undefined;
  return typeof j === 'object' && j !== null && typeof j.metadata?.name === 'string' && j.metadata.owner?.kind === KIND && typeof j.status === 'object';
}

interface Observed {
  desired?: Stored<DesiredRecord>;
  status?: Stored<CronJobStatus>;
  jobs: Stored<Job>[];
  podsByJob: Map<string, Stored<Pod>[]>;
}

async function observe(kv: KV, namespace: string, name: string): Promise<Observed> {
  const desiredKey = `${STORE_PREFIX.desired}${KIND}/${namespace}/${name}`;
  const first = await kv.range(desiredKey);
  const revision = first.revision;
  const [status, jobs, pods] = await Promise.all([
    kv.range(`${STORE_PREFIX.status}${KIND}/${namespace}/${name}`, { revision }),
    // Job names are `<cronjob>-<n>`: the prefix narrows the read, owners are still checked.
    kv.range(`${STORE_PREFIX.jobs}${namespace}/${name}-`, { prefix: true, revision }),
    kv.range(`${STORE_PREFIX.pods}${namespace}/${name}-`, { prefix: true, revision }),
  ]);
  const stored = <T>(item: KeyValue | undefined, ok: (v: unknown) => boolean): Stored<T> | undefined => {
    const v = decodeJson<unknown>(item);
    return item && v !== undefined && ok(v) ? { key: item.key, value: v as T, modRevision: item.modRevision } : undefined;
  };
  const out: Observed = { jobs: [], podsByJob: new Map() };
  const desired = stored<DesiredRecord>(first.kvs[0], (v) => (v as DesiredRecord).object?.kind === KIND);
  if (desired) out.desired = desired;
  const st = stored<CronJobStatus>(status.kvs[0], (v) => typeof v === 'object' && v !== null);
  if (st) out.status = st;
  for (const item of jobs.kvs) {
    const j = stored<Job>(item, isJob);
    if (j && j.value.metadata.owner.name === name) out.jobs.push(j);
  }
  const names = new Set(out.jobs.map((j) => j.value.metadata.name));
  for (const item of pods.kvs) {
    const p = stored<Pod>(item, isPod);
    if (!p || p.value.metadata.owner.kind !== 'Job' || !names.has(p.value.metadata.owner.name)) continue;
    const list = out.podsByJob.get(p.value.metadata.owner.name) ?? [];
    list.push(p);
    out.podsByJob.set(p.value.metadata.owner.name, list);
  }
  return out;
}

/** A new Job record from the CronJob's jobTemplate. */
export function newJob(cron: CronJob, scheduledAt: number, now: number): Job {
  const jt = cron.spec.jobTemplate;
  const podLabels = { ...(jt.spec.template.metadata?.labels ?? {}) };
  const podSpec = jt.spec.template.spec as unknown as PodSpec;
  return {
    metadata: {
      name: jobNameFor(cron.metadata.name, scheduledAt),
      namespace: cron.metadata.namespace ?? 'default',
      labels: { ...(jt.metadata?.labels ?? {}), [CRONJOB_NAME_LABEL]: cron.metadata.name },
      ...(jt.metadata?.annotations ? { annotations: { ...jt.metadata.annotations } } : {}),
      owner: { kind: KIND, name: cron.metadata.name },
      createdAt: iso(now),
      scheduledAt: iso(scheduledAt),
      templateHash: templateHash({ labels: podLabels, spec: podSpec }),
    },
    spec: {
      backoffLimit: jt.spec.backoffLimit ?? 6,
      ...(jt.spec.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: jt.spec.activeDeadlineSeconds } : {}),
      template: {
        metadata: { labels: podLabels, ...(jt.spec.template.metadata?.annotations ? { annotations: { ...jt.spec.template.metadata.annotations } } : {}) },
        spec: podSpec,
      },
    },
    status: { phase: 'Active', active: 0, succeeded: 0, failed: 0, startTime: iso(now) },
  };
}

/** The writes of one pass, with the guards that make them safe against concurrent writers. */
export class Writes {
  readonly compare: Compare[] = [];
  readonly ops: TxnOp[] = [];
  private readonly guarded = new Set<string>();

  guard(s: { key: string; modRevision: number }): void {
    if (this.guarded.has(s.key)) return;
    this.guarded.add(s.key);
    this.compare.push({ key: s.key, target: 'modRevision', op: '==', value: s.modRevision });
  }

  create(key: string, value: unknown): void {
    this.guarded.add(key);
    this.compare.push({ key, target: 'createRevision', op: '==', value: 0 });
    this.ops.push({ type: 'put', key, value: JSON.stringify(value) });
  }

  put(s: { key: string; modRevision: number }, value: unknown): void {
    this.guard(s);
    this.ops.push({ type: 'put', key: s.key, value: JSON.stringify(value) });
  }

  delete(s: { key: string; modRevision: number }): void {
    this.guard(s);
    this.ops.push({ type: 'delete', key: s.key });
  }
}

/** Status fields compared to decide whether to write (observedAt alone never causes a write). */
export function sameStatus<T extends { observedAt?: string }>(a: T | undefined, b: T): boolean {
  if (!a) return false;
  const { observedAt: _a, ...ra } = a;
  const { observedAt: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

export interface CronJobReconcilerOptions {
  kv: KV;
  clock?: Clock;
  events?: EventRecorder;
}

export function cronJobReconciler(options: CronJobReconcilerOptions): Reconciler {
  const { kv, events } = options;
  const clock = options.clock ?? systemClock;
  return {
    name: 'cronjob',
    async reconcile(key, ctx) {
      const ref = parseCronJobKey(key);
      if (!ref) return;
      const now = clock.now();
      const o = await observe(kv, ref.namespace, ref.name);
      const w = new Writes();
      const pending: EventInput[] = [];
      const object = `${KIND}/${ref.name}`;
      const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
        pending.push({ namespace: ref.namespace, object, type, reason, message });
      };
      let requeueAt: number | undefined;
      const wake = (at: number | undefined): void => {
        if (at !== undefined && (requeueAt === undefined || at < requeueAt)) requeueAt = at;
      };

      const cron = o.desired?.value.object as CronJob | undefined;
      // Gone from Git: every job goes with it (Kubernetes' cascading delete), then the status.
      const deleteAll = cron === undefined;

      let schedule: ReturnType<typeof parseSchedule> | undefined;
      let problem: string | undefined;
      if (cron) {
        try {
          schedule = parseSchedule(cron.spec.schedule, cron.spec.timeZone ?? 'UTC');
        } catch (err) {
          problem = err instanceof CapstanError ? err.message : String(err);
        }
      }

      // Jobs first: their status after this pass feeds the CronJob decision.
      const summaries: JobSummary[] = [];
      const jobAfter = new Map<string, Job>();
      const jobPlans = new Map<string, { sj: Stored<Job>; job: Job; plan: ReturnType<typeof planJob>; pods: Stored<Pod>[] }>();
      for (const sj of o.jobs) {
        let job = sj.value;
        if (deleteAll && job.metadata.deletionRequestedAt === undefined) job = { ...job, metadata: { ...job.metadata, deletionRequestedAt: iso(now) } };
        const pods = o.podsByJob.get(job.metadata.name) ?? [];
        const plan = planJob(job, pods.map((p) => p.value), now);
        jobPlans.set(job.metadata.name, { sj, job, plan, pods });
        if (plan.status !== job.status && plan.status.phase !== job.status.phase) {
          if (plan.status.phase === 'Succeeded') event('SawCompletedJob', `Saw completed job: ${job.metadata.name}, status: Complete`);
          else if (plan.status.phase === 'Failed') event('SawCompletedJob', `Saw completed job: ${job.metadata.name}, status: Failed (${plan.status.reason ?? ''})`, 'Warning');
        }
        wake(plan.requeueAt);
        if (!plan.removeJob) {
          const after = { ...job, status: plan.status };
          jobAfter.set(job.metadata.name, after);
          summaries.push(summaryOf(after));
        }
      }

      let status: CronJobStatus | undefined;
      if (cron) {
        const prev = o.status?.value;
        const since = ms(prev?.since) ?? ms(o.desired?.value.appliedAt) ?? now;
        let lastScheduleTime = ms(prev?.lastScheduleTime);
        let message = '';
        let phase: WorkloadStatus['phase'] = cron.spec.suspend === true ? 'Suspended' : 'Healthy';
        if (schedule) {
          const decision = planCronJob({ spec: cron.spec, schedule, jobs: summaries, ...(lastScheduleTime !== undefined ? { lastScheduleTime } : {}), since, now });
          for (const name of decision.delete) {
            const entry = jobPlans.get(name);
            const current = jobAfter.get(name);
            if (!entry || !current) continue;
            // Planned again as deleting: its pods stop now; the record goes once they are gone.
            const deleting: Job = { ...current, metadata: { ...current.metadata, deletionRequestedAt: iso(now) } };
            const pods = entry.pods.map((p) => p.value);
            jobPlans.set(name, { ...entry, job: deleting, plan: planJob(deleting, pods, now) });
            jobAfter.set(name, deleting);
            const s = summaries.find((x) => x.name === name);
            if (s) s.deleting = true;
            event('SuccessfulDelete', `Deleted job ${name}`);
          }
          if (decision.skipped?.reason === 'JobAlreadyActive') {
            ctx.logger.debug({ scheduledAt: iso(decision.skipped.scheduledAt) }, 'a job is still active: concurrencyPolicy Forbid skips this run');
          } else if (decision.skipped?.reason === 'MissedDeadline') {
            // Past the deadline: nothing will run for it, so later passes need not look back so far.
            lastScheduleTime = Math.max(lastScheduleTime ?? 0, decision.skipped.scheduledAt);
            event('MissSchedule', `Missed scheduled time to start a job: ${iso(decision.skipped.scheduledAt)}`, 'Warning');
          }
          if (decision.create) {
            const job = newJob(cron, decision.create.scheduledAt, now);
            const plan = planJob(job, [], now);
            const created = { ...job, status: plan.status };
            w.create(jobKey(job.metadata.namespace, job.metadata.name), created);
            for (const p of plan.create) w.create(`${STORE_PREFIX.pods}${p.metadata.namespace}/${p.metadata.name}`, p);
            wake(plan.requeueAt);
            jobAfter.set(job.metadata.name, created);
            summaries.push(summaryOf(created));
            lastScheduleTime = decision.create.scheduledAt;
            event('SuccessfulCreate', `Created job ${job.metadata.name}`);
          }
          wake(decision.requeueAt);
        } else {
          phase = 'Degraded';
          message = problem ?? 'the schedule is not valid';
        }
        const finished = summaries.filter((s) => !s.deleting && s.phase !== 'Active');
        const latest = finished.sort((a, b) => b.scheduledAt - a.scheduledAt)[0];
        if (phase === 'Healthy' && latest?.phase === 'Failed') {
          phase = 'Degraded';
          message = `job ${latest.name} failed: ${jobAfter.get(latest.name)?.status.reason ?? 'Failed'}`;
        }
        const prevSuccess = ms(prev?.lastSuccessfulTime);
        let lastSuccess = prevSuccess;
        for (const s of summaries) if (s.phase === 'Succeeded' && s.finishedAt !== undefined && (lastSuccess === undefined || s.finishedAt > lastSuccess)) lastSuccess = s.finishedAt;
        const next = schedule && cron.spec.suspend !== true ? nextFireAfter(schedule, now) : undefined;
        status = {
          namespace: ref.namespace,
          name: ref.name,
          kind: KIND,
          phase,
          // Kept constant: the annotations written back to Git change only with the outcome.
          revision: 0,
          replicas: 0,
          readyReplicas: 0,
          availableReplicas: 0,
          updatedReplicas: 0,
          ...(o.desired?.value.commit !== undefined ? { syncedCommit: o.desired.value.commit } : {}),
          message,
          conditions: [],
          observedAt: iso(now),
          active: summaries.filter((s) => !s.deleting && s.phase === 'Active').map((s) => s.name).sort(),
          ...(lastScheduleTime !== undefined ? { lastScheduleTime: iso(lastScheduleTime) } : {}),
          ...(lastSuccess !== undefined ? { lastSuccessfulTime: iso(lastSuccess) } : {}),
          since: iso(since),
          ...(next !== undefined ? { nextScheduleTime: iso(next) } : {}),
        };
        if (!sameStatus(o.status?.value, status)) {
          if (o.status) w.put(o.status, status);
          else w.create(`${STORE_PREFIX.status}${KIND}/${ref.namespace}/${ref.name}`, status);
        }
        if (o.desired) w.guard(o.desired);
      } else {
        w.compare.push({ key: `${STORE_PREFIX.desired}${KIND}/${ref.namespace}/${ref.name}`, target: 'createRevision', op: '==', value: 0 });
        if (o.status && o.jobs.length === 0) w.delete(o.status);
      }

      for (const { sj, job, plan, pods } of jobPlans.values()) applyJobPlan(w, sj, job, plan, pods, now);

      if (w.ops.length > 0) {
        const r = await kv.txn({ compare: w.compare, success: w.ops, failure: [] });
        if (!r.succeeded) {
          ctx.logger.debug('cronjob, its jobs or pods changed while reconciling; looking again');
          return { requeueAfterMs: CONFLICT_RETRY_MS };
        }
        for (const e of pending) await events?.record(e);
      }
      return requeueAt !== undefined ? { requeueAfterMs: Math.max(0, requeueAt - now) } : undefined;
    },
  };
}

function summaryOf(job: Job): JobSummary {
  const finishedAt = ms(job.status.completionTime);
  return {
    name: job.metadata.name,
    scheduledAt: ms(job.metadata.scheduledAt) ?? 0,
    phase: job.status.phase,
    ...(finishedAt !== undefined ? { finishedAt } : {}),
    deleting: job.metadata.deletionRequestedAt !== undefined,
  };
}

function podStoreKey(p: Pod): string {
  return `${STORE_PREFIX.pods}${p.metadata.namespace}/${p.metadata.name}`;
}

/** A job plan's pod and record writes. */
export function applyJobPlan(w: Writes, sj: Stored<Job>, job: Job, plan: ReturnType<typeof planJob>, pods: readonly Stored<Pod>[], now: number): void {
  const byName = new Map(pods.map((p) => [p.value.metadata.name, p]));
  for (const p of plan.create) w.create(podStoreKey(p), p);
  for (const p of plan.stop) {
    const s = byName.get(p.metadata.name);
    if (s) w.put(s, { ...p, metadata: { ...p.metadata, deletionRequestedAt: iso(now) } });
  }
  for (const p of plan.remove) {
    const s = byName.get(p.metadata.name);
    if (s) w.delete(s);
  }
  if (plan.removeJob) w.delete(sj);
  else if (plan.status !== job.status || job !== sj.value) w.put(sj, { ...job, status: plan.status });
}

export type CronJobControllerOptions = StoreControllerOptions;

/** Desired CronJobs, their jobs and the jobs' pods → the CronJob's key. */
export function cronJobKeyOf(item: KeyValue): string | undefined {
  if (item.key.startsWith(STORE_PREFIX.desired)) {
    const k = item.key.slice(STORE_PREFIX.desired.length);
    return k.startsWith(`${KIND}/`) ? k : undefined;
  }
  const v = decodeJson<unknown>(item);
  if (isJob(v)) return `${KIND}/${v.metadata.namespace}/${v.metadata.owner.name}`;
  if (isPod(v) && v.metadata.owner.kind === 'Job') {
    const cron = v.metadata.labels[CRONJOB_NAME_LABEL];
    return cron ? `${KIND}/${v.metadata.namespace}/${cron}` : undefined;
  }
  return undefined;
}

/** The CronJob controller, not started. */
export function cronJobController(options: CronJobControllerOptions): Controller {
  return storeController(options, { eventSource: 'cronjob-controller', keysOf: cronJobKeyOf, prefixes: [STORE_PREFIX.desired, STORE_PREFIX.jobs, STORE_PREFIX.pods], reconciler: (deps) => cronJobReconciler(deps) });
}
