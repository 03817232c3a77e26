import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(options?: Parameters<typeof harness>[0]): Promise<Harness> {
  const h = await harness(options);
  open.push(h);
  return h;
}

const healthyAt = (h: Harness, name: string, revision: number, replicas = 3) => async () => {
  const s = await h.status(name);
  const pods = await h.pods();
  return s?.phase === 'Healthy' && s.revision === revision && s.readyReplicas === replicas && pods.length === replicas;
};

describe('workload controller: Deployment', () => {
  it('brings a Deployment of 3 to Healthy with 3 ready pods, status, history and events', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1'), 'aaa111');
    await h.drive(healthyAt(h, 'web', 1));

    const pods = await h.pods();
    expect(pods).toHaveLength(3);
    const [rev] = await h.revisions();
    expect(rev!.metadata.revision).toBe(1);
    expect(rev!.replicas).toBe(3);
    for (const p of pods) {
      expect(p.status.ready).toBe(true);
      expect(p.spec.nodeName).toBe('node-1');
      expect(p.metadata.name).toMatch(new RegExp(`^web-${rev!.metadata.hash}-[a-z]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', 'capstan.dev/revision-hash': rev!.metadata.hash });
      expect(p.metadata.owner).toEqual({ kind: 'Deployment', name: 'web', revision: rev!.metadata.hash });
    }

    const s = (await h.status('web'))!;
    expect(s).toMatchObject({
      namespace: 'default',
      name: 'web',
      kind: 'Deployment',
      phase: 'Healthy',
      revision: 1,
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      updatedReplicas: 3,
      syncedCommit: 'aaa111',
    });
    expect(s.message).toContain('successfully progressed');

    const history = await h.history('web');
    expect(history).toEqual([
      expect.objectContaining({ namespace: 'default', name: 'web', revision: 1, commit: 'aaa111', images: ['web:1'], outcome: 'Healthy', trigger: 'push' }),
    ]);
    expect(history[0]!.finishedAt).toBeDefined();

    const events = await h.list<ClusterEvent>(STORE_PREFIX.events);
    const reasons = events.map((e) => e.reason).sort();
    expect(reasons).toEqual(['RolloutCompleted', 'RolloutStarted', 'ScalingReplicaSet']);
    expect(events.find((e) => e.reason === 'ScalingReplicaSet')!.message).toMatch(/^Scaled up revision web-\w+ to 3 from 0$/);
  });

  it('rolls a template change with maxUnavailable 0: never fewer than 3 ready, never more than 3 + maxSurge pods', async () => {
    const h = await start();
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    await h.apply(deployment('web', 'web:1', { strategy }));
    await h.drive(healthyAt(h, 'web', 1));
    const rec = await h.record();

    await h.apply(deployment('web', 'web:2', { strategy }), 'bbb222');
    await h.drive(healthyAt(h, 'web', 2));
    rec.stop();

    expect(rec.samples.length).toBeGreaterThan(10);
    const hashes = new Set<string>();
    for (const s of rec.samples) {
      expect(s.ready).toBeGreaterThanOrEqual(3);
      expect(s.active).toBeLessThanOrEqual(4);
      for (const k of Object.keys(s.byHash)) hashes.add(k);
    }
    expect(hashes.size).toBe(2); // both revisions were seen serving during the rollout
    const pods = await h.pods();
    const revs = (await h.revisions()).sort((a, b) => a.metadata.revision - b.metadata.revision);
    expect(revs.map((r) => [r.metadata.revision, r.replicas])).toEqual([
      [1, 0],
      [2, 3],
    ]);
    expect(pods.every((p) => p.metadata.owner.revision === revs[1]!.metadata.hash && p.spec.containers[0]!.image === 'web:2')).toBe(true);
    const s = (await h.status('web'))!;
    expect(s.syncedCommit).toBe('bbb222');
    expect((await h.history('web')).map((e) => [e.revision, e.outcome, e.images[0]])).toEqual([
      [1, 'Healthy', 'web:1'],
      [2, 'Healthy', 'web:2'],
    ]);
  });

  it('Recreate never runs old and new pods at once', async () => {
    const h = await start({ kubelet: { terminateAfterMs: 3000 } });
    const strategy = { type: 'Recreate' as const };
    await h.apply(deployment('web', 'web:1', { strategy }));
    await h.drive(healthyAt(h, 'web', 1));
    const rec = await h.record();
    await h.apply(deployment('web', 'web:2', { strategy }));
    await h.drive(healthyAt(h, 'web', 2));
    rec.stop();
    let sawNone = false;
    for (const s of rec.samples) {
      expect(Object.keys(s.allByHash).length).toBeLessThanOrEqual(1); // terminating pods included
      if (s.total === 0) sawNone = true;
    }
    expect(sawNone).toBe(true);
  });

  it('waits minReadySeconds before counting a pod available, looking again on its own', async () => {
    const h = await start();
    const started = h.clock.now();
    await h.apply(deployment('web', 'web:1', { minReadySeconds: 30 }));
    await h.drive(async () => (await h.status('web'))?.readyReplicas === 3);
    const s = (await h.status('web'))!;
    expect(s.phase).toBe('Progressing');
    expect(s.availableReplicas).toBe(0);
    await h.drive(healthyAt(h, 'web', 1));
    // Ready after 2 s (kubelet), available 30 s later: the requeue, not a pod change, got it there.
    expect(h.clock.now() - started).toBeGreaterThan(32_000);
    expect((await h.status('web'))!.availableReplicas).toBe(3);
  });

  it('scales up and down; removed pods leave the store once stopped', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1'));
    await h.drive(healthyAt(h, 'web', 1));
    await h.apply(deployment('web', 'web:1', { replicas: 5 }));
    await h.drive(healthyAt(h, 'web', 1, 5));
    expect((await h.revisions()).map((r) => r.replicas)).toEqual([5]);
    await h.apply(deployment('web', 'web:1', { replicas: 2 }));
    await h.drive(healthyAt(h, 'web', 1, 2));
    expect((await h.revisions()).map((r) => r.replicas)).toEqual([2]);
    expect((await h.history('web')).map((e) => e.revision)).toEqual([1]); // scaling is not a new revision
  });

  it('holds a paused rollout, then finishes it on resume', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1'));
    await h.drive(healthyAt(h, 'web', 1));
    await h.apply(deployment('web', 'web:2', { paused: true }));
    await h.drive(async () => (await h.status('web'))?.phase === 'Paused');
    // Time passes; nothing moves and the deadline does not fire while paused.
    h.clock.advance(3_600_000);
    for (let i = 0; i < 3; i++) await h.drive(async () => true);
    const paused = (await h.status('web'))!;
    expect(paused.phase).toBe('Paused');
    expect(paused.revision).toBe(2);
    const pods = await h.pods();
    expect(pods).toHaveLength(3);
    expect(new Set(pods.map((p) => p.spec.containers[0]!.image))).toEqual(new Set(['web:1']));

    await h.apply(deployment('web', 'web:2', { paused: false }));
    await h.drive(healthyAt(h, 'web', 2));
  });

  it('a never-ready revision hits the progress deadline: Degraded while the old pods keep serving', async () => {
    const h = await start({ kubelet: { neverReady: (p) => p.spec.containers[0]!.image === 'web:bad' } });
    await h.apply(deployment('web', 'web:1', { progressDeadlineSeconds: 60 }));
    await h.drive(healthyAt(h, 'web', 1));
    const started = h.clock.now();
    await h.apply(deployment('web', 'web:bad', { progressDeadlineSeconds: 60 }), 'bad000');
    await h.drive(async () => (await h.status('web'))?.phase === 'Degraded');
    expect(h.clock.now() - started).toBeGreaterThan(60_000);

    const s = (await h.status('web'))!;
    expect(s.reason).toBe('ProgressDeadlineExceeded');
    expect(s.message).toContain('timed out progressing');
    expect(s.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    const pods = await h.pods();
    const serving = pods.filter((p) => p.status.ready && p.metadata.deletionRequestedAt === undefined);
    expect(serving).toHaveLength(3);
    expect(serving.every((p) => p.spec.containers[0]!.image === 'web:1')).toBe(true);
    expect((await h.history('web')).map((e) => [e.revision, e.outcome])).toEqual([
      [1, 'Healthy'],
      [2, 'Degraded'],
    ]);
    const events = await h.list<ClusterEvent>(STORE_PREFIX.events);
    expect(events.find((e) => e.reason === 'ProgressDeadlineExceeded')).toMatchObject({ type: 'Warning', object: 'Deployment/web' });

    // A fix in Git starts a new revision and the rollout recovers.
    await h.apply(deployment('web', 'web:3', { progressDeadlineSeconds: 60 }));
    await h.drive(healthyAt(h, 'web', 3));
    expect((await h.history('web')).map((e) => e.outcome)).toEqual(['Healthy', 'Degraded', 'Healthy']);
  });

  it('removes pods, revisions, status and history once the workload leaves Git', async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1'));
    await h.drive(healthyAt(h, 'web', 1));
    await h.apply(deployment('web', 'web:2'));
    await h.drive(healthyAt(h, 'web', 2));
    await h.remove('Deployment', 'web');
    await h.drive(async () => {
      const left = await Promise.all([STORE_PREFIX.pods, STORE_PREFIX.revisions, STORE_PREFIX.status, STORE_PREFIX.history].map((p) => h.list(p)));
      return left.every((l) => l.length === 0);
    });
  });
});

describe('workload controller: revisions and history', () => {
  it('supersedes an unfinished rollout, reuses an old template under a new number and honours revisionHistoryLimit', async () => {
    const h = await start({ kubelet: { readyAfterMs: 10_000 } });
    const d = (image: string) => deployment('web', image, { revisionHistoryLimit: 1 });
    await h.apply(d('web:1'), 'c1');
    await h.drive(healthyAt(h, 'web', 1));
    const hash1 = (await h.revisions())[0]!.metadata.hash;

    await h.apply(d('web:2'), 'c2');
    await h.drive(async () => (await h.revisions()).some((r) => r.metadata.revision === 2 && r.replicas > 0));
    await h.apply(d('web:3'), 'c3'); // before revision 2 finished
    await h.drive(healthyAt(h, 'web', 3));
    expect((await h.history('web')).map((e) => [e.revision, e.outcome, e.commit])).toEqual([
      [1, 'Healthy', 'c1'],
      [2, 'Superseded', 'c2'],
      [3, 'Healthy', 'c3'],
    ]);
    // Limit 1: of the idle old revisions only the newest (2) is kept.
    expect((await h.revisions()).map((r) => r.metadata.revision).sort()).toEqual([2, 3]);

    await h.apply(d('web:1'), 'c4'); // back to the first template
    await h.drive(healthyAt(h, 'web', 4));
    const revs = await h.revisions();
    const current = revs.find((r) => r.metadata.revision === 4)!;
    expect(current.metadata.hash).toBe(hash1); // same template, same hash, new number
    expect(revs.map((r) => r.metadata.revision).sort()).toEqual([3, 4]);
    expect((await h.status('web'))!.revision).toBe(4);
    expect((await h.history('web')).map((e) => e.revision)).toEqual([1, 2, 3, 4]);
  });

  it('reports an unsupported strategy as Degraded instead of failing', async () => {
    const h = await start();
    const d = deployment('web', 'web:1', { strategy: { canary: { steps: [{ setWeight: 20 }] } } });
    await h.apply(d);
    await h.drive(async () => (await h.status('web'))?.phase === 'Degraded');
    const s = (await h.status('web'))!;
    expect(s.reason).toBe('StrategyUnsupported');
    expect(s.message).toContain('Canary');
    expect(await h.pods()).toHaveLength(0);
    const events = await h.list<ClusterEvent>(STORE_PREFIX.events);
    expect(events.some((e) => e.reason === 'StrategyUnsupported' && e.type === 'Warning')).toBe(true);
  });

  it('runs a Rollout through a strategy given in the registry', async () => {
    const { rollingUpdate } = await import('../../src/rollout/index.js');
    // A stand-in canary: rolls like a RollingUpdate, proving the registry is the seam.
    const h = await start({ registry: { RollingUpdate: rollingUpdate, Canary: (input) => rollingUpdate({ ...input, strategy: { type: 'RollingUpdate' } }) } });
    const d = deployment('web', 'web:1');
    await h.apply({ ...d, apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', spec: { ...d.spec, strategy: { canary: { steps: [] } } } });
    await h.drive(async () => (await h.status('web', 'Rollout'))?.phase === 'Healthy');
    expect(await h.pods()).toHaveLength(3);
    expect((await h.pods()).every((p) => p.metadata.owner.kind === 'Rollout')).toBe(true);
  });
});

describe('pods of other owners', () => {
  it("leaves a Job's pod alone even when its name has a revision pod's shape", async () => {
    const h = await start();
    await h.apply(deployment('web', 'web:1', { replicas: 1 }));
    await h.drive(healthyAt(h, 'web', 1, 1));
    // A Job's pod named `<job>-<hash>-<suffix>`, as a revision's pod would be, with no revision
    // of that name: only the owner kind says it is not the revision controller's to stop.
    const name = 'nightly-bcdfghjklm-jobpd';
    const pod = {
      metadata: { name, namespace: 'default', labels: {}, owner: { kind: 'Job', name: 'nightly', revision: 'bcdfghjklm' }, createdAt: new Date(h.clock.now()).toISOString() },
      spec: { containers: [{ name: 'main', image: 'job:1' }], restartPolicy: 'Never', terminationGracePeriodSeconds: 30, nodeName: 'node-1' },
      status: { phase: 'Running', ready: false },
    };
    await h.kv.put(`${STORE_PREFIX.pods}default/${name}`, JSON.stringify(pod));
    h.clock.advance(60_000);
    await h.drive(async () => true);
    const left = (await h.pods()).find((p) => p.metadata.name === name);
    expect(left).toBeDefined();
    expect(left!.metadata.deletionRequestedAt).toBeUndefined();
    expect((await h.status('web'))!).toMatchObject({ phase: 'Healthy', updatedReplicas: 1 });
  });
});
