import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Pod } from '../../src/api/cluster.js';
import { applyDefaults, type CronJob } from '../../src/api/index.js';
import { VirtualClock, cronJobController, nextFireAfter, parseSchedule, planCronJob, type Controller } from '../../src/controllers/index.js';
import type { CronJobStatus, Job, JobSummary } from '../../src/controllers/cronjob/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { settle } from '../helpers/fake-kubelet.js';

const decoder = new TextDecoder();
const t = (s: string): number => Date.parse(s);
const MIN = 60_000;

describe('cron schedule core', () => {
  it('finds the next minute of */1 and of a plain schedule', () => {
    const every = parseSchedule('*/1 * * * *');
    expect(nextFireAfter(every, t('2026-03-01T12:00:30Z'))).toBe(t('2026-03-01T12:01:00Z'));
    expect(nextFireAfter(every, t('2026-03-01T12:01:00Z'))).toBe(t('2026-03-01T12:02:00Z'));
    const s = parseSchedule('15 10 * * MON-FRI');
    // 2026-03-01 is a Sunday.
    expect(nextFireAfter(s, t('2026-03-01T12:00:00Z'))).toBe(t('2026-03-02T10:15:00Z'));
    expect(nextFireAfter(parseSchedule('@monthly'), t('2026-03-01T00:00:00Z'))).toBe(t('2026-04-01T00:00:00Z'));
  });

  it('day of month and day of week: either matches when both are restricted (robfig/cron)', () => {
    // The 13th or any Friday: 2026-03-06 is a Friday, before the 13th.
    expect(nextFireAfter(parseSchedule('0 0 13 * 5'), t('2026-03-01T00:00:00Z'))).toBe(t('2026-03-06T00:00:00Z'));
    // With a star day of week only the 13th counts.
    expect(nextFireAfter(parseSchedule('0 0 13 * *'), t('2026-03-01T00:00:00Z'))).toBe(t('2026-03-13T00:00:00Z'));
    expect(nextFireAfter(parseSchedule('0 0 30 2 *'), t('2026-03-01T00:00:00Z'))).toBeUndefined();
    expect(nextFireAfter(parseSchedule('0 0 29 2 *'), t('2026-03-01T00:00:00Z'))).toBe(t('2028-02-29T00:00:00Z'));
  });

  it('respects the time zone: 09:00 in Europe/Berlin is 08:00 UTC in winter, 07:00 in summer', () => {
    const s = parseSchedule('0 9 * * *', 'Europe/Berlin');
    expect(nextFireAfter(s, t('2026-01-15T00:00:00Z'))).toBe(t('2026-01-15T08:00:00Z'));
    expect(nextFireAfter(s, t('2026-07-15T00:00:00Z'))).toBe(t('2026-07-15T07:00:00Z'));
  });

  it('skips a wall time that DST removes and fires on both occurrences of a repeated one', () => {
    const s = parseSchedule('30 2 * * *', 'Europe/Berlin');
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    expect(nextFireAfter(s, t('2026-03-28T12:00:00Z'))).toBe(t('2026-03-30T00:30:00Z'));
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    const first = nextFireAfter(s, t('2026-10-24T12:00:00Z'));
    expect(first).toBe(t('2026-10-25T00:30:00Z'));
    expect(nextFireAfter(s, first!)).toBe(t('2026-10-25T01:30:00Z'));
  });

  it('rejects what the API would reject, with CAPSTAN_ERR_API_SCHEMA', () => {
    expect(() => parseSchedule('* * * *')).toThrow(expect.objectContaining({ code: 'CAPSTAN_ERR_API_SCHEMA' }));
    expect(() => parseSchedule('* * * * *', 'Mars/Olympus')).toThrow(expect.objectContaining({ code: 'CAPSTAN_ERR_API_SCHEMA' }));
  });
});

describe('planCronJob (pure)', () => {
  const spec = (over: Partial<CronJob['spec']> = {}): CronJob['spec'] => ({
    schedule: '*/1 * * * *',
    concurrencyPolicy: 'Allow',
    successfulJobsHistoryLimit: 3,
    failedJobsHistoryLimit: 1,
    jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'x:1' }] } } } },
    ...over,
  });
  const every = parseSchedule('*/1 * * * *');
  const base = t('2026-03-01T12:00:00Z');
  const job = (name: string, scheduledAt: number, phase: JobSummary['phase'], finishedAt?: number): JobSummary => ({
    name,
    scheduledAt,
    phase,
    deleting: false,
    ...(finishedAt !== undefined ? { finishedAt } : {}),
  });

  it('runs only the most recent missed time, and only within startingDeadlineSeconds', () => {
    const d = planCronJob({ spec: spec(), schedule: every, jobs: [], lastScheduleTime: base, since: base, now: base + 5 * MIN + 10_000 });
    expect(d.create).toEqual({ scheduledAt: base + 5 * MIN });
    expect(d.missed).toBe(5);
    expect(d.requeueAt).toBe(base + 6 * MIN);
    const late = planCronJob({ spec: spec({ startingDeadlineSeconds: 5 }), schedule: every, jobs: [], lastScheduleTime: base, since: base, now: base + 5 * MIN + 10_000 });
    expect(late.create).toBeUndefined();
    expect(late.skipped).toEqual({ scheduledAt: base + 5 * MIN, reason: 'MissedDeadline' });
  });

  it('Forbid skips while a job is active; Replace deletes it; suspend runs nothing', () => {
    const jobs = [job('a', base, 'Active')];
    const input = { schedule: every, jobs, lastScheduleTime: base, since: base, now: base + MIN };
    expect(planCronJob({ ...input, spec: spec({ concurrencyPolicy: 'Forbid' }) })).toMatchObject({ delete: [], skipped: { reason: 'JobAlreadyActive' } });
    expect(planCronJob({ ...input, spec: spec({ concurrencyPolicy: 'Forbid' }) }).create).toBeUndefined();
    expect(planCronJob({ ...input, spec: spec({ concurrencyPolicy: 'Replace' }) })).toMatchObject({ delete: ['a'], create: { scheduledAt: base + MIN } });
    expect(planCronJob({ ...input, spec: spec({ concurrencyPolicy: 'Allow' }) })).toMatchObject({ delete: [], create: { scheduledAt: base + MIN } });
    expect(planCronJob({ ...input, spec: spec({ suspend: true }) }).create).toBeUndefined();
  });

  it('history limits delete the oldest finished jobs of each outcome', () => {
    const jobs = [
      job('s1', base, 'Succeeded', base + 1000),
      job('s2', base + MIN, 'Succeeded', base + MIN + 1000),
      job('s3', base + 2 * MIN, 'Succeeded', base + 2 * MIN + 1000),
      job('f1', base + 3 * MIN, 'Failed', base + 3 * MIN + 1000),
      job('f2', base + 4 * MIN, 'Failed', base + 4 * MIN + 1000),
    ];
    const d = planCronJob({ spec: spec({ successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 }), schedule: every, jobs, lastScheduleTime: base + 4 * MIN, since: base, now: base + 4 * MIN + 30_000 });
    expect(d.delete.sort()).toEqual(['f1', 's1']);
    expect(d.create).toBeUndefined();
  });
});

// ---- the controller under a virtual clock ----

/**
 * Binds unbound pods, runs each for `runMs` and finishes it with `outcome(pod)`; stops pods
 * asked to stop. Like the agent for restartPolicy Never: a finished pod gets `terminatedAt`.
 */
class JobKubelet {
  runMs = 10_000;
  outcome: (pod: Pod) => 'Succeeded' | 'Failed' = () => 'Succeeded';
  readonly seenJobs = new Set<string>();
  private due: number | undefined;
  constructor(
    private readonly kv: KV,
    private readonly clock: VirtualClock,
  ) {}

  nextDueAt(): number | undefined {
    return this.due;
  }

  async step(): Promise<number> {
    const now = this.clock.now();
    const iso = new Date(now).toISOString();
    this.due = undefined;
    const r = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    let changed = 0;
    for (const item of r.kvs) {
      const pod = JSON.parse(decoder.decode(item.value)) as Pod;
      this.seenJobs.add(pod.metadata.owner.name);
      let next: Pod | undefined;
      if (pod.status.terminatedAt !== undefined) continue;
      if (pod.metadata.deletionRequestedAt !== undefined) {
        if (pod.spec.nodeName) next = { ...pod, status: { ...pod.status, phase: 'Failed', ready: false, terminatedAt: iso } };
      } else if (!pod.spec.nodeName) {
        next = { ...pod, spec: { ...pod.spec, nodeName: 'node-1' }, status: { ...pod.status, phase: 'Running', startedAt: iso } };
        this.later(now + this.runMs);
      } else {
        const at = Date.parse(pod.status.startedAt ?? iso) + this.runMs;
        if (now >= at) next = { ...pod, status: { ...pod.status, phase: this.outcome(pod), ready: false, terminatedAt: iso } };
        else this.later(at);
      }
      if (!next) continue;
      const w = await this.kv.txn({
        compare: [{ key: item.key, target: 'modRevision', op: '==', value: item.modRevision }],
        success: [{ type: 'put', key: item.key, value: JSON.stringify(next) }],
        failure: [],
      });
      if (w.succeeded) changed++;
    }
    return changed;
  }

  private later(at: number): void {
    if (this.due === undefined || at < this.due) this.due = at;
  }
}

const stores: KV[] = [];
const controllers: Controller[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function cronJob(spec: Partial<CronJob['spec']> = {}, restartPolicy: 'Never' | 'OnFailure' = 'Never', backoffLimit?: number): CronJob {
  return applyDefaults<CronJob>({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick', namespace: 'default' },
    spec: {
      schedule: '*/1 * * * *',
      jobTemplate: {
        spec: {
          ...(backoffLimit !== undefined ? { backoffLimit } : {}),
          template: { metadata: { labels: { app: 'tick' } }, spec: { restartPolicy, containers: [{ name: 'main', image: 'busybox:1', command: ['true'] }] } },
        },
      },
      ...spec,
    },
  } as CronJob);
}

async function setup(start: string, cj: CronJob) {
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const clock = new VirtualClock(t(start));
  const ctl = cronJobController({ kv, clock, resyncMs: 0 });
  controllers.push(ctl);
  ctl.start();
  const kubelet = new JobKubelet(kv, clock);
  const list = async <T>(prefix: string): Promise<T[]> => (await kv.range(prefix, { prefix: true })).kvs.map((i) => JSON.parse(decoder.decode(i.value)) as T);
  await kv.put(
    `${STORE_PREFIX.desired}CronJob/default/tick`,
    JSON.stringify({ object: cj, source: { file: 'jobs/tick.yaml', index: 0, line: 1, column: 1 }, commit: 'c0ffee', appliedAt: new Date(clock.now()).toISOString() }),
  );
  const h = {
    kv,
    clock,
    kubelet,
    jobs: () => list<Job>(STORE_PREFIX.jobs),
    pods: () => list<Pod>(STORE_PREFIX.pods),
    events: () => list<ClusterEvent>(STORE_PREFIX.events),
    async status(): Promise<CronJobStatus | undefined> {
      const item = await kv.get(`${STORE_PREFIX.status}CronJob/default/tick`);
      return item ? (JSON.parse(decoder.decode(item.value)) as CronJobStatus) : undefined;
    },
    /** Runs the cluster until `until` (an instant) or the predicate; time moves only when nothing else would happen. */
    async runUntil(until: number, onStep?: () => Promise<void>): Promise<void> {
      for (let i = 0; i < 2000; i++) {
        await settle(kv, [ctl]);
        await onStep?.();
        if ((await kubelet.step()) > 0) continue;
        await settle(kv, [ctl]);
        await onStep?.();
        const candidates = [kubelet.nextDueAt(), clock.nextAt()].filter((x): x is number => x !== undefined);
        const next = candidates.length > 0 ? Math.min(...candidates) : until;
        if (next >= until) {
          clock.advance(until - clock.now());
          await settle(kv, [ctl]);
          return;
        }
        clock.advance(Math.max(0, next - clock.now()));
      }
      throw new Error('too many steps');
    },
  };
  return h;
}

describe('CronJob controller (virtual clock)', () => {
  it('*/1 creates a job each minute, runs its pod to completion and keeps the history limit', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob({ successfulJobsHistoryLimit: 2 }));
    await h.runUntil(t('2026-03-01T12:05:30Z'));
    // 12:01 .. 12:05: five runs, one per minute, named by the schedule minute.
    expect([...h.kubelet.seenJobs].sort()).toEqual([1, 2, 3, 4, 5].map((m) => `tick-${Math.floor(t(`2026-03-01T12:0${m}:00Z`) / MIN)}`));
    const jobs = await h.jobs();
    expect(jobs.map((j) => j.status.phase)).toEqual(['Succeeded', 'Succeeded']);
    expect(jobs.map((j) => j.metadata.scheduledAt)).toEqual(['2026-03-01T12:04:00.000Z', '2026-03-01T12:05:00.000Z']);
    // Pruned jobs take their pods with them.
    expect((await h.pods()).map((p) => p.metadata.owner.name).sort()).toEqual(jobs.map((j) => j.metadata.name).sort());
    const status = await h.status();
    expect(status).toMatchObject({ kind: 'CronJob', phase: 'Healthy', active: [], lastScheduleTime: '2026-03-01T12:05:00.000Z', nextScheduleTime: '2026-03-01T12:06:00.000Z', syncedCommit: 'c0ffee' });
    expect(status?.lastSuccessfulTime).toBe('2026-03-01T12:05:10.000Z');
    const reasons = (await h.events()).map((e) => e.reason);
    expect(reasons).toContain('SuccessfulCreate');
    expect(reasons).toContain('SuccessfulDelete');
  });

  it('does not run schedule times from before it first saw the CronJob', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob());
    await h.runUntil(t('2026-03-01T12:00:59Z'));
    expect(await h.jobs()).toEqual([]);
    expect(await h.status()).toMatchObject({ active: [], nextScheduleTime: '2026-03-01T12:01:00.000Z' });
  });

  it('Forbid skips runs while a job is active (a 90 s job on a 1 min schedule)', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob({ concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 10, successfulJobsHistoryLimit: 10 }));
    h.kubelet.runMs = 90_000;
    let maxActive = 0;
    await h.runUntil(t('2026-03-01T12:06:30Z'), async () => {
      const active = (await h.jobs()).filter((j) => j.status.phase === 'Active').length;
      maxActive = Math.max(maxActive, active);
    });
    expect(maxActive).toBe(1);
    // 12:01 runs to 12:02:30; 12:02 is skipped (active) and past its deadline by then; 12:03 runs, and so on.
    const scheduled = (await h.jobs()).map((j) => j.metadata.scheduledAt).sort();
    expect(scheduled).toEqual(['2026-03-01T12:01:00.000Z', '2026-03-01T12:03:00.000Z', '2026-03-01T12:05:00.000Z']);
    expect((await h.events()).map((e) => e.reason)).toContain('MissSchedule');
  });

  it('Replace stops the running job and starts the new one', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob({ concurrencyPolicy: 'Replace' }));
    h.kubelet.runMs = 90_000;
    let maxActive = 0;
    await h.runUntil(t('2026-03-01T12:04:30Z'), async () => {
      const active = (await h.jobs()).filter((j) => j.status.phase === 'Active' && j.metadata.deletionRequestedAt === undefined).length;
      maxActive = Math.max(maxActive, active);
    });
    expect(maxActive).toBe(1);
    expect(h.kubelet.seenJobs.size).toBe(4);
    const jobs = await h.jobs();
    // Replaced jobs are gone once their pods stopped; only the newest remains, still running.
    expect(jobs.map((j) => [j.metadata.scheduledAt, j.status.phase])).toEqual([['2026-03-01T12:04:00.000Z', 'Active']]);
    expect((await h.status())?.active).toEqual([jobs[0]!.metadata.name]);
    expect((await h.events()).filter((e) => e.reason === 'SuccessfulDelete').length).toBeGreaterThanOrEqual(1);
  });

  it('retries a failed pod up to backoffLimit with back-off, then fails the job', async () => {
    const h = await setup('2026-03-01T12:59:30Z', cronJob({ schedule: '0 * * * *', failedJobsHistoryLimit: 1 }, 'Never', 2));
    h.kubelet.runMs = 1000;
    h.kubelet.outcome = () => 'Failed';
    await h.runUntil(t('2026-03-01T13:05:00Z'));
    const [job] = await h.jobs();
    expect(job?.status).toMatchObject({ phase: 'Failed', reason: 'BackoffLimitExceeded', failed: 3, active: 0 });
    const pods = (await h.pods()).sort((a, b) => a.metadata.createdAt.localeCompare(b.metadata.createdAt));
    // One try and backoffLimit (2) retries, 10 s then 20 s after the previous failure.
    expect(pods.map((p) => [p.metadata.name, p.metadata.createdAt, p.metadata.owner.kind])).toEqual([
      [`${job!.metadata.name}-0`, '2026-03-01T13:00:00.000Z', 'Job'],
      [`${job!.metadata.name}-1`, '2026-03-01T13:00:11.000Z', 'Job'],
      [`${job!.metadata.name}-2`, '2026-03-01T13:00:32.000Z', 'Job'],
    ]);
    expect(await h.status()).toMatchObject({ phase: 'Degraded', message: expect.stringContaining('BackoffLimitExceeded') });
  });

  it('a retry that succeeds completes the job', async () => {
    const h = await setup('2026-03-01T12:59:30Z', cronJob({ schedule: '0 * * * *' }, 'Never', 2));
    h.kubelet.runMs = 1000;
    h.kubelet.outcome = (p) => (p.metadata.name.endsWith('-0') ? 'Failed' : 'Succeeded');
    await h.runUntil(t('2026-03-01T13:02:00Z'));
    const [job] = await h.jobs();
    expect(job?.status).toMatchObject({ phase: 'Succeeded', failed: 1, succeeded: 1, active: 0 });
    expect(await h.status()).toMatchObject({ phase: 'Healthy', lastSuccessfulTime: '2026-03-01T13:00:12.000Z' });
  });

  it('the failed history limit prunes failed jobs', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob({ failedJobsHistoryLimit: 1 }, 'Never', 0));
    h.kubelet.runMs = 5000;
    h.kubelet.outcome = () => 'Failed';
    await h.runUntil(t('2026-03-01T12:04:30Z'));
    expect(h.kubelet.seenJobs.size).toBe(4);
    const jobs = await h.jobs();
    expect(jobs.map((j) => [j.metadata.scheduledAt, j.status.phase])).toEqual([['2026-03-01T12:04:00.000Z', 'Failed']]);
  });

  it('fires at 09:00 Europe/Berlin = 08:00 UTC in winter', async () => {
    const h = await setup('2026-01-15T06:58:00Z', cronJob({ schedule: '0 9 * * *', timeZone: 'Europe/Berlin' }));
    await h.runUntil(t('2026-01-15T07:59:59Z'));
    expect(await h.jobs()).toEqual([]);
    await h.runUntil(t('2026-01-15T08:00:30Z'));
    const jobs = await h.jobs();
    expect(jobs.map((j) => j.metadata.scheduledAt)).toEqual(['2026-01-15T08:00:00.000Z']);
    expect((await h.status())?.nextScheduleTime).toBe('2026-01-16T08:00:00.000Z');
  });

  it('suspend starts nothing; deleting the CronJob deletes its jobs, pods and status', async () => {
    const h = await setup('2026-03-01T12:00:30Z', cronJob({ suspend: true }));
    await h.runUntil(t('2026-03-01T12:03:30Z'));
    expect(await h.jobs()).toEqual([]);
    expect(await h.status()).toMatchObject({ phase: 'Suspended', active: [] });

    await h.kv.put(
      `${STORE_PREFIX.desired}CronJob/default/tick`,
      JSON.stringify({ object: cronJob({ suspend: false }), source: { file: 'jobs/tick.yaml', index: 0, line: 1, column: 1 }, commit: 'c0ffee', appliedAt: new Date(h.clock.now()).toISOString() }),
    );
    h.kubelet.runMs = 600_000;
    await h.runUntil(t('2026-03-01T12:04:30Z'));
    // Unsuspended at 12:03:30: of the missed 12:01-12:03 only the most recent runs, at once; then 12:04.
    const jobs = await h.jobs();
    expect(jobs.map((j) => j.metadata.scheduledAt)).toEqual(['2026-03-01T12:03:00.000Z', '2026-03-01T12:04:00.000Z']);
    expect(jobs[0]?.metadata.createdAt).toBe('2026-03-01T12:03:30.000Z');

    await h.kv.delete(`${STORE_PREFIX.desired}CronJob/default/tick`);
    await h.runUntil(t('2026-03-01T12:05:30Z'));
    expect(await h.jobs()).toEqual([]);
    expect(await h.pods()).toEqual([]);
    expect(await h.status()).toBeUndefined();
  });
});
