import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Pod } from '../../src/api/cluster.js';
import { applyDefaults } from '../../src/api/index.js';
import type { JobObject } from '../../src/api/kinds-core.js';
import { VirtualClock, jobController, planJob, type Controller, type JobWorkloadStatus } from '../../src/controllers/index.js';
import type { Job } from '../../src/controllers/cronjob/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { settle } from '../helpers/fake-kubelet.js';

const decoder = new TextDecoder();
const T0 = Date.parse('2026-03-01T12:00:00Z');

/** Binds pods, runs each for runMs, then ends it with outcome(pod); stopped pods end Failed. */
class JobKubelet {
  runMs = 5000;
  outcome: (p: Pod) => 'Succeeded' | 'Failed' = () => 'Succeeded';
  maxRunning = 0;
  /** How long a pod runs (default runMs). */
  runFor: (p: Pod) => number = () => this.runMs;
  private due: number | undefined;
  constructor(private readonly kv: KV, private readonly clock: VirtualClock) {}
  nextDueAt(): number | undefined {
    return this.due;
  }
  async step(): Promise<number> {
    const now = this.clock.now();
    const iso = new Date(now).toISOString();
    this.due = undefined;
    const r = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    const running = r.kvs.map((i) => JSON.parse(decoder.decode(i.value)) as Pod).filter((p) => p.spec.nodeName && !p.status.terminatedAt).length;
    this.maxRunning = Math.max(this.maxRunning, running);
    let changed = 0;
    for (const item of r.kvs) {
      const pod = JSON.parse(decoder.decode(item.value)) as Pod;
      let next: Pod | undefined;
      if (pod.status.terminatedAt !== undefined) continue;
      if (pod.metadata.deletionRequestedAt !== undefined) {
        if (pod.spec.nodeName) next = { ...pod, status: { ...pod.status, phase: 'Failed', ready: false, terminatedAt: iso } };
      } else if (!pod.spec.nodeName) {
        next = { ...pod, spec: { ...pod.spec, nodeName: 'node-1' }, status: { ...pod.status, phase: 'Running', startedAt: iso } };
        this.later(now + this.runFor(pod));
      } else {
        const at = Date.parse(pod.status.startedAt ?? iso) + this.runFor(pod);
        if (now >= at) next = { ...pod, status: { ...pod.status, phase: this.outcome(pod), ready: false, terminatedAt: iso } };
        else this.later(at);
      }
      if (!next) continue;
      const w = await this.kv.txn({ compare: [{ key: item.key, target: 'modRevision', op: '==', value: item.modRevision }], success: [{ type: 'put', key: item.key, value: JSON.stringify(next) }], failure: [] });
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

function gitJob(spec: Partial<JobObject['spec']> = {}, image = 'busybox:1'): JobObject {
  return applyDefaults<JobObject>({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'migrate' },
    spec: { template: { metadata: { labels: { app: 'migrate' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'm', image, command: ['true'] }] } }, ...spec },
  } as JobObject);
}

async function setup(job: JobObject) {
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const clock = new VirtualClock(T0);
  const ctl = jobController({ kv, clock, resyncMs: 0 });
  controllers.push(ctl);
  ctl.start();
  const kubelet = new JobKubelet(kv, clock);
  const list = async <T>(prefix: string): Promise<T[]> => (await kv.range(prefix, { prefix: true })).kvs.map((i) => JSON.parse(decoder.decode(i.value)) as T);
  const desiredKey = `${STORE_PREFIX.desired}Job/default/migrate`;
  const put = (j: JobObject, commit: string) =>
    kv.put(desiredKey, JSON.stringify({ object: j, source: { file: 'jobs/migrate.yaml', index: 0, line: 1, column: 1 }, commit, appliedAt: new Date(clock.now()).toISOString() }));
  await put(job, 'c1');
  const h = {
    kv,
    clock,
    kubelet,
    put,
    remove: () => kv.delete(desiredKey),
    runs: () => list<Job>(STORE_PREFIX.jobs),
    pods: () => list<Pod>(STORE_PREFIX.pods),
    events: () => list<ClusterEvent>(STORE_PREFIX.events),
    async status(): Promise<JobWorkloadStatus | undefined> {
      const item = await kv.get(`${STORE_PREFIX.status}Job/default/migrate`);
      return item ? (JSON.parse(decoder.decode(item.value)) as JobWorkloadStatus) : undefined;
    },
    /** Runs the cluster until `until`; time moves only when nothing else would happen. */
    async runUntil(until: number): Promise<void> {
      for (let i = 0; i < 2000; i++) {
        await settle(kv, [ctl]);
        if ((await kubelet.step()) > 0) continue;
        await settle(kv, [ctl]);
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

describe('planJob with completions and parallelism (pure)', () => {
  const run = (completions: number, parallelism: number): Job => ({
    metadata: { name: 'j', namespace: 'default', labels: {}, owner: { kind: 'Job', name: 'j' }, createdAt: new Date(T0).toISOString(), scheduledAt: new Date(T0).toISOString(), templateHash: 'h' },
    spec: { completions, parallelism, backoffLimit: 6, template: { metadata: { labels: {} }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x:1' }] } as Job['spec']['template']['spec'] } },
    status: { phase: 'Active', active: 0, succeeded: 0, failed: 0, startTime: new Date(T0).toISOString() },
  });
  it('starts min(parallelism, completions) pods, and only the missing ones later', () => {
    const p = planJob(run(3, 2), [], T0);
    expect(p.create.map((x) => x.metadata.name)).toEqual(['j-0', 'j-1']);
    expect(p.create[0]!.metadata.labels['capstan.dev/cronjob']).toBeUndefined();
    const one = planJob(run(5, 10), [], T0);
    expect(one.create).toHaveLength(5);
  });

  it('Indexed: one pod per index with JOB_COMPLETION_INDEX and the annotation; a failed index runs again', () => {
    const job: Job = { ...run(3, 2), spec: { ...run(3, 2).spec, completionMode: 'Indexed' } };
    const first = planJob(job, [], T0);
    expect(first.create.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'])).toEqual(['0', '1']);
    expect(first.create.map((p) => p.spec.containers[0]!.env)).toEqual([[{ name: 'JOB_COMPLETION_INDEX', value: '0' }], [{ name: 'JOB_COMPLETION_INDEX', value: '1' }]]);
    const end = (p: Pod, phase: 'Succeeded' | 'Failed'): Pod => ({ ...p, spec: { ...p.spec, nodeName: 'n1' }, status: { phase, ready: false, terminatedAt: new Date(T0 + 1000).toISOString() } });
    // Index 0 succeeds, index 1 fails: the next pods are for indexes 1 (again, after back-off) and 2.
    const pods = [end(first.create[0]!, 'Succeeded'), end(first.create[1]!, 'Failed')];
    const later = planJob({ ...job, status: first.status }, pods, T0 + 11_000);
    expect(later.create.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'])).toEqual(['1', '2']);
    expect(later.status).toMatchObject({ succeeded: 1, failed: 1 });
    // Two successes of the same index count once.
    const twice = planJob({ ...job, status: first.status }, [end(first.create[0]!, 'Succeeded'), { ...end(first.create[0]!, 'Succeeded'), metadata: { ...first.create[0]!.metadata, name: 'j-9' } }], T0 + 2000);
    expect(twice.status.succeeded).toBe(1);
  });
});

describe('Job controller (Jobs from Git, virtual clock)', () => {
  it('runs completions 3 with parallelism 2 to Complete, at most 2 pods at once, and does not re-run', async () => {
    const h = await setup(gitJob({ completions: 3, parallelism: 2 }));
    await h.runUntil(T0 + 60_000);
    expect(h.kubelet.maxRunning).toBe(2);
    const st = await h.status();
    expect(st).toMatchObject({ kind: 'Job', phase: 'Healthy', succeeded: 3, failed: 0, active: 0, completions: 3, syncedCommit: 'c1' });
    expect(st!.conditions.map((c) => c.type)).toEqual(['Complete']);
    expect((await h.pods()).filter((p) => p.status.phase === 'Succeeded')).toHaveLength(3);
    // A later sync of the same Job (new commit, same template) does not run it again.
    await h.put(gitJob({ completions: 3, parallelism: 2 }), 'c2');
    await h.runUntil(T0 + 120_000);
    expect(await h.pods()).toHaveLength(3);
    expect((await h.status())?.succeeded).toBe(3);
  });

  it('Indexed: completes with one succeeded pod per index 0, 1, 2', async () => {
    const h = await setup(gitJob({ completions: 3, parallelism: 2, completionMode: 'Indexed' }));
    await h.runUntil(T0 + 60_000);
    expect(await h.status()).toMatchObject({ phase: 'Healthy', succeeded: 3 });
    const pods = await h.pods();
    expect(pods.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort()).toEqual(['0', '1', '2']);
    expect(pods.every((p) => p.spec.containers[0]!.env?.some((e) => e.name === 'JOB_COMPLETION_INDEX'))).toBe(true);
  });

  it('retries failures with back-off 10s, 20s, then fails with BackoffLimitExceeded', async () => {
    const h = await setup(gitJob({ backoffLimit: 2 }));
    h.kubelet.runMs = 1000;
    h.kubelet.outcome = () => 'Failed';
    await h.runUntil(T0 + 10 * 60_000);
    const pods = (await h.pods()).sort((a, b) => a.metadata.createdAt.localeCompare(b.metadata.createdAt));
    expect(pods.map((p) => p.metadata.name)).toEqual(['migrate-0', 'migrate-1', 'migrate-2']);
    const gaps = pods.slice(1).map((p, i) => Date.parse(p.metadata.createdAt) - Date.parse(pods[i]!.status.terminatedAt!));
    expect(gaps).toEqual([10_000, 20_000]);
    const st = await h.status();
    expect(st).toMatchObject({ phase: 'Degraded', failed: 3, succeeded: 0 });
    expect(st!.conditions[0]).toMatchObject({ type: 'Failed', reason: 'BackoffLimitExceeded' });
  });

  it('stops the pods still running once the back-off limit is exceeded', async () => {
    const h = await setup(gitJob({ backoffLimit: 0, parallelism: 2, completions: 2 }));
    // migrate-0 fails after a second; migrate-1 would run for an hour.
    h.kubelet.runFor = (p) => (p.metadata.name === 'migrate-0' ? 1000 : 3_600_000);
    h.kubelet.outcome = (p) => (p.metadata.name === 'migrate-0' ? 'Failed' : 'Succeeded');
    await h.runUntil(T0 + 5000);
    const st = await h.status();
    expect(st!.conditions[0]).toMatchObject({ type: 'Failed', reason: 'BackoffLimitExceeded' });
    expect(st).toMatchObject({ active: 0, succeeded: 0 });
    expect(st!.completionTime).toBe(new Date(T0 + 1000).toISOString());
    // migrate-1 was asked to stop and ended well before its hour (the kubelet ends stopped pods).
    const pods = await h.pods();
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['migrate-0', 'migrate-1']);
    expect(pods.every((p) => p.status.terminatedAt !== undefined && Date.parse(p.status.terminatedAt) <= T0 + 1000)).toBe(true);
  });

  it('activeDeadlineSeconds stops the pods and fails the Job with DeadlineExceeded', async () => {
    const h = await setup(gitJob({ activeDeadlineSeconds: 30 }));
    h.kubelet.runMs = 10 * 60_000;
    await h.runUntil(T0 + 2 * 60_000);
    const st = await h.status();
    expect(st!.conditions[0]).toMatchObject({ type: 'Failed', reason: 'DeadlineExceeded' });
    expect(st!.completionTime).toBe(new Date(T0 + 30_000).toISOString());
    expect((await h.pods()).every((p) => p.status.terminatedAt !== undefined)).toBe(true);
  });

  it('ttlSecondsAfterFinished removes the run and its pods after the TTL, and the Job is not re-run', async () => {
    const h = await setup(gitJob({ ttlSecondsAfterFinished: 60 }));
    await h.runUntil(T0 + 30_000);
    expect(await h.runs()).toHaveLength(1);
    expect(await h.pods()).toHaveLength(1);
    await h.runUntil(T0 + 5 * 60_000);
    expect(await h.runs()).toEqual([]);
    expect(await h.pods()).toEqual([]);
    expect(await h.status()).toMatchObject({ phase: 'Healthy', removedAfterTtl: true, succeeded: 1 });
    // The same Job synced again from Git (a new commit) is not run again after its TTL.
    await h.put(gitJob({ ttlSecondsAfterFinished: 60 }), 'c2');
    await h.runUntil(T0 + 10 * 60_000);
    expect(await h.runs()).toEqual([]);
    expect(await h.pods()).toEqual([]);
    expect(await h.status()).toMatchObject({ removedAfterTtl: true, succeeded: 1 });
    const reasons = (await h.events()).map((e) => e.reason);
    expect(reasons).toContain('Completed');
    expect(reasons).toContain('Deleted');
  });

  it('a changed pod template in Git replaces the run: old pods stop, a new run starts', async () => {
    const h = await setup(gitJob({}, 'busybox:1'));
    h.kubelet.runMs = 10 * 60_000;
    await h.runUntil(T0 + 10_000);
    const [before] = await h.runs();
    await h.put(gitJob({}, 'busybox:2'), 'c2');
    await h.runUntil(T0 + 20_000);
    const [after] = await h.runs();
    expect(after!.metadata.templateHash).not.toBe(before!.metadata.templateHash);
    const pods = await h.pods();
    expect(pods).toHaveLength(1);
    expect(pods[0]!.spec.containers[0]!.image).toBe('busybox:2');
    expect((await h.events()).map((e) => e.reason)).toContain('Replaced');
  });

  it('removal from Git stops the pods, then removes the run and the status', async () => {
    const h = await setup(gitJob());
    h.kubelet.runMs = 10 * 60_000;
    await h.runUntil(T0 + 10_000);
    expect(await h.pods()).toHaveLength(1);
    await h.remove();
    await h.runUntil(T0 + 20_000);
    expect(await h.pods()).toEqual([]);
    expect(await h.runs()).toEqual([]);
    expect(await h.status()).toBeUndefined();
  });
});
