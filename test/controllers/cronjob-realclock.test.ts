// The CronJob controller on real time: the system clock's timers, with `now` shifted so the
// next minute boundary is about 1.5 s away (a `* * * * *` schedule would otherwise take up to
// a minute). The workload and revision controllers run beside it and must leave job pods alone.
import { afterEach, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { applyDefaults, type CronJob } from '../../src/api/index.js';
import { createWorkloadControllers, cronJobController, systemClock, type Clock, type Controller } from '../../src/controllers/index.js';
import type { CronJobStatus, Job } from '../../src/controllers/cronjob/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

const decoder = new TextDecoder();
const stores: KV[] = [];
const controllers: Controller[] = [];
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function until<T>(what: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('fires a * * * * * CronJob on the real clock and completes its job', async () => {
  const real = Date.now();
  const offset = Math.ceil((real + 60_000) / 60_000) * 60_000 - 1500 - real; // next boundary in 1.5 s
  const clock: Clock = { ...systemClock, now: () => Date.now() + offset };
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const ctl = cronJobController({ kv, clock });
  const workloads = createWorkloadControllers({ kv, clock });
  controllers.push(ctl, ...workloads.all);
  for (const c of controllers) c.start();

  const cj = applyDefaults<CronJob>({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'now', namespace: 'default' },
    spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'main', image: 'busybox:1' }] } } } } },
  } as CronJob);
  await kv.put(
    `${STORE_PREFIX.desired}CronJob/default/now`,
    JSON.stringify({ object: cj, source: { file: 'jobs/now.yaml', index: 0, line: 1, column: 1 }, commit: 'beef', appliedAt: new Date(clock.now()).toISOString() }),
  );
  const started = Date.now();
  const pod = await until(async () => {
    const r = await kv.range(STORE_PREFIX.pods, { prefix: true });
    return r.kvs[0] ? { key: r.kvs[0].key, value: JSON.parse(decoder.decode(r.kvs[0].value)) as Pod } : undefined;
  }, 6000);
  // It came at the schedule time, not before (1.5 s after the start, within timer slack).
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  expect(pod.value.metadata.owner.kind).toBe('Job');
  expect(pod.value.spec.restartPolicy).toBe('OnFailure');

  // The agent's part: the pod ran and exited 0.
  const iso = new Date(clock.now()).toISOString();
  await kv.put(pod.key, JSON.stringify({ ...pod.value, spec: { ...pod.value.spec, nodeName: 'n1' }, status: { phase: 'Succeeded', ready: false, startedAt: iso, terminatedAt: iso } }));
  const job = await until(async () => {
    const r = await kv.range(STORE_PREFIX.jobs, { prefix: true });
    const j = r.kvs[0] ? (JSON.parse(decoder.decode(r.kvs[0].value)) as Job) : undefined;
    return j?.status.phase === 'Succeeded' ? j : undefined;
  }, 3000);
  expect(job.metadata.scheduledAt).toBe(new Date(Math.floor(clock.now() / 60_000) * 60_000).toISOString());
  const status = JSON.parse(decoder.decode((await kv.get(`${STORE_PREFIX.status}CronJob/default/now`))!.value)) as CronJobStatus;
  expect(status).toMatchObject({ phase: 'Healthy', active: [], lastScheduleTime: job.metadata.scheduledAt });
  // The revision controller did not take the job's pod for an orphan of some revision.
  expect((await kv.range(STORE_PREFIX.pods, { prefix: true })).kvs).toHaveLength(1);
}, 10_000);
