import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type TrafficPolicy } from '../../src/api/cluster.js';
import { rolloutControlHandlers } from '../../src/controllers/rollout-control.js';
import { ALL_STRATEGIES } from '../../src/rollout/index.js';
import { deployment, harness, START, type Harness } from '../helpers/fake-kubelet.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(): Promise<Harness> {
  const h = await harness({ registry: ALL_STRATEGIES });
  open.push(h);
  return h;
}

const STEPS = [{ setWeight: 20 }, { pause: { duration: 30 } }, { setWeight: 50 }, { pause: {} }];

function rollout(image: string, steps: unknown[] = STEPS, replicas = 5) {
  const d = deployment('web', image, { replicas });
  return {
    ...d,
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    spec: { ...d.spec, strategy: { canary: { steps } } },
  };
}

const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default' },
  spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
};

async function traffic(h: Harness, svc = 'web'): Promise<TrafficPolicy | undefined> {
  const item = await h.kv.get(`${STORE_PREFIX.traffic}default/${svc}`);
  return item ? (JSON.parse(new TextDecoder().decode(item.value)) as TrafficPolicy) : undefined;
}

async function replicasByHash(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await h.revisions()) out[r.metadata.hash] = r.replicas;
  return out;
}

async function activePods(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of await h.pods()) {
    if (p.metadata.deletionRequestedAt !== undefined) continue;
    out[p.metadata.owner.revision] = (out[p.metadata.owner.revision] ?? 0) + 1;
  }
  return out;
}

const status = (h: Harness) => h.status('web', 'Rollout');
const target = { namespace: 'default', name: 'web' };

/** First deploy (no steps) and a second revision started; returns both hashes. */
async function startCanary(h: Harness): Promise<{ stable: string; canary: string }> {
  await h.apply(service as never);
  await h.apply(rollout('web:1'), 'c1');
  await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 5);
  const stable = (await h.revisions())[0]!.metadata.hash;
  await h.apply(rollout('web:2'), 'c2');
  await h.drive(async () => (await h.revisions()).length === 2);
  const canary = (await h.revisions()).find((r) => r.metadata.hash !== stable)!.metadata.hash;
  return { stable, canary };
}

describe('canary rollouts on the workload controller', () => {
  it('first deploy skips the steps and sends all traffic to the only revision', async () => {
    const h = await start();
    await h.apply(service as never);
    await h.apply(rollout('web:1'), 'c1');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 5);
    const s = (await status(h))!;
    const [rev] = await h.revisions();
    expect(s).toMatchObject({ step: 4, stepCount: 4, weight: 100, stableRevision: rev!.metadata.hash });
    expect(await traffic(h)).toEqual({ weights: { [rev!.metadata.hash]: 100 }, stableRevision: rev!.metadata.hash });
  });

  it('walks setWeight 20, pause 30s, setWeight 50, pause {}, then promote to Healthy', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { stable, canary } = await startCanary(h);

    // Step 1 done, at the 30 s pause: ceil(20% of 5) = 1 canary pod, stable keeps 5.
    await h.drive(async () => (await status(h))?.phase === 'Paused' && (await status(h))?.step === 1);
    const paused1 = (await status(h))!;
    expect(paused1).toMatchObject({ step: 1, stepCount: 4, weight: 20 });
    expect(paused1.message).toContain('30s');
    expect(await replicasByHash(h)).toEqual({ [stable]: 5, [canary]: 1 });
    expect(await activePods(h)).toEqual({ [stable]: 5, [canary]: 1 });
    expect(await traffic(h)).toEqual({ weights: { [canary]: 20, [stable]: 80 }, stableRevision: stable, canaryRevision: canary });
    const pausedAt = h.clock.now();

    // The pause ends on its own under the virtual clock; then 50% = 3 canary pods, and pause {}.
    await h.drive(async () => (await status(h))?.step === 3 && (await status(h))?.phase === 'Paused');
    expect(h.clock.now() - pausedAt).toBeGreaterThanOrEqual(30_000);
    const paused3 = (await status(h))!;
    expect(paused3).toMatchObject({ step: 3, stepCount: 4, weight: 50 });
    expect(paused3.message).toContain('waiting for promote');
    expect(await replicasByHash(h)).toEqual({ [stable]: 5, [canary]: 3 });
    expect(await traffic(h)).toEqual({ weights: { [canary]: 50, [stable]: 50 }, stableRevision: stable, canaryRevision: canary });

    // It stays there however long time passes.
    h.clock.advance(3_600_000);
    await h.drive(async () => true);
    expect((await status(h))!.step).toBe(3);

    const r = await ctl.promote(target, { body: {} });
    expect(r.message).toContain('next step');
    await h.drive(async () => {
      const s = await status(h);
      return s?.phase === 'Healthy' && (await h.pods()).length === 5;
    });
    const done = (await status(h))!;
    expect(done).toMatchObject({ step: 4, stepCount: 4, weight: 100, stableRevision: canary, revision: 2 });
    expect(await replicasByHash(h)).toEqual({ [stable]: 0, [canary]: 5 });
    expect(await activePods(h)).toEqual({ [canary]: 5 });
    expect(await traffic(h)).toEqual({ weights: { [canary]: 100 }, stableRevision: canary });
    // The promote request was used up.
    expect(await h.kv.get(`/capstan/overrides/Rollout/default/web`)).toBeUndefined();
    expect(START).toBeLessThan(h.clock.now());
  });

  it('abort sends all traffic to stable, scales the canary to 0 and pins it; retry starts again at step 0', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { stable, canary } = await startCanary(h);
    await h.drive(async () => (await status(h))?.step === 1);

    await ctl.abort(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Degraded' && (await activePods(h))[canary] === undefined);
    const s = (await status(h))!;
    expect(s.reason).toBe('RolloutAborted');
    expect(s.message).toContain('aborted');
    expect(s).toMatchObject({ aborted: true, pinnedHash: canary, weight: 0 });
    expect(await replicasByHash(h)).toEqual({ [stable]: 5, [canary]: 0 });
    expect(await traffic(h)).toEqual({ weights: { [stable]: 100 }, stableRevision: stable, canaryRevision: canary });
    expect((await h.history('web')).map((e) => [e.revision, e.outcome])).toEqual([
      [1, 'Healthy'],
      [2, 'Aborted'],
    ]);
    // Pinned: time passing changes nothing.
    h.clock.advance(120_000);
    await h.drive(async () => true);
    expect((await status(h))!.phase).toBe('Degraded');

    const r = await ctl.retry(target, { body: {} });
    expect(r.message).toContain('retried');
    await h.drive(async () => (await status(h))?.phase === 'Paused' && (await status(h))?.step === 1);
    expect((await status(h))!.aborted).toBeUndefined();
    expect(await replicasByHash(h)).toEqual({ [stable]: 5, [canary]: 1 });
  });

  it('a new commit after an abort rolls again', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { stable, canary } = await startCanary(h);
    await h.drive(async () => (await status(h))?.step === 1);
    await ctl.abort(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Degraded');

    await h.apply(rollout('web:3'), 'c3');
    await h.drive(async () => (await status(h))?.revision === 3 && (await status(h))?.step === 1 && (await status(h))?.phase === 'Paused');
    const third = (await h.revisions()).find((r) => r.metadata.revision === 3)!.metadata.hash;
    expect(await replicasByHash(h)).toEqual({ [stable]: 5, [canary]: 0, [third]: 1 });
    expect((await traffic(h))!.weights).toEqual({ [third]: 20, [stable]: 80 });
    expect(await h.kv.get(`/capstan/overrides/Rollout/default/web`)).toBeUndefined();
  });

  it('promote --full skips the remaining steps', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { stable, canary } = await startCanary(h);
    await h.drive(async () => (await status(h))?.step === 1);
    await ctl.promote(target, { body: { full: true } });
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 5);
    expect(await replicasByHash(h)).toEqual({ [stable]: 0, [canary]: 5 });
    expect((await status(h))!.step).toBe(4);
  });

  it('changing the steps mid-rollout restarts at step 0', async () => {
    const h = await start();
    await startCanary(h);
    await h.drive(async () => (await status(h))?.step === 3 && (await status(h))?.phase === 'Paused');
    // Same template, other steps: the same revision, the step machine starts over.
    await h.apply(rollout('web:2', [{ setWeight: 40 }, { pause: {} }, ...STEPS]), 'c3');
    await h.drive(async () => (await status(h))?.stepCount === 6 && (await status(h))?.phase === 'Paused');
    const s = (await status(h))!;
    expect(s).toMatchObject({ step: 1, stepCount: 6, revision: 2 });
  });

  it('pause and resume hold a rolling update', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    await h.apply(deployment('api', 'api:1', { replicas: 2 }));
    await h.drive(async () => (await h.status('api'))?.phase === 'Healthy');
    await ctl.pause({ namespace: 'default', name: 'api' }, { body: {} });
    await h.apply(deployment('api', 'api:2', { replicas: 2 }));
    await h.drive(async () => (await h.status('api'))?.phase === 'Paused' && (await h.revisions()).length === 2);
    h.clock.advance(60_000);
    await h.drive(async () => true);
    const newRev = (await h.revisions()).find((r) => r.metadata.revision === 2)!;
    expect(newRev.replicas).toBe(0);
    await ctl.resume({ namespace: 'default', name: 'api' }, { body: {} });
    await h.drive(async () => (await h.status('api'))?.phase === 'Healthy' && (await h.status('api'))?.revision === 2);
    await expect(ctl.abort({ namespace: 'default', name: 'api' }, { body: {} })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_API_BAD_REQUEST' });
    await expect(ctl.pause({ namespace: 'default', name: 'nope' }, { body: {} })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_API_NOT_FOUND' });
  });
});

describe('canary analysis steps', () => {
  const steps = [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { setWeight: 60 }, { pause: {} }];
  const key = '/capstan/overrides/Rollout/default/web';
  const report = async (h: Harness, hash: string, phase: string, message?: string) =>
    h.kv.put(key, JSON.stringify({ analysis: { hash, key: 'step-1', phase, ...(message ? { message } : {}) }, at: new Date(h.clock.now()).toISOString() }));

  async function atAnalysis(h: Harness): Promise<{ stable: string; canary: string }> {
    await h.apply(service as never);
    await h.apply(rollout('web:1', steps), 'c1');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 5);
    const stable = (await h.revisions())[0]!.metadata.hash;
    await h.apply(rollout('web:2', steps), 'c2');
    await h.drive(async () => (await status(h))?.step === 1 && (await status(h))?.analysis !== undefined);
    const canary = (await h.revisions()).find((r) => r.metadata.hash !== stable)!.metadata.hash;
    return { stable, canary };
  }

  it('waits for the analysis, goes on when it succeeds', async () => {
    const h = await start();
    const { canary } = await atAnalysis(h);
    const s = (await status(h))!;
    expect(s.analysis).toEqual({ key: 'step-1', templates: ['success-rate'] });
    expect(s.phase).toBe('Progressing');
    await report(h, canary, 'Successful');
    await h.drive(async () => (await status(h))?.step === 3 && (await status(h))?.phase === 'Paused');
    expect((await status(h))!.weight).toBe(60);
  });

  it('an inconclusive analysis pauses and says why; a failed one aborts and pins', async () => {
    const h = await start();
    const { stable, canary } = await atAnalysis(h);
    await report(h, canary, 'Inconclusive', 'success: no data (noDataPolicy inconclusive)');
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    const s = (await status(h))!;
    expect(s.reason).toBe('AnalysisInconclusive');
    expect(s.message).toContain('no data');
    await report(h, canary, 'Failed', 'success: result.successRate >= 0.99 is false');
    await h.drive(async () => (await status(h))?.phase === 'Degraded' && (await h.pods()).filter((p) => !p.metadata.deletionRequestedAt).length === 5);
    const d = (await status(h))!;
    expect(d.reason).toBe('RolloutAborted');
    expect(d.pinnedHash).toBe(canary);
    expect((await traffic(h))!.weights).toEqual({ [stable]: 100 });
    h.clock.advance(60_000);
    await h.drive(async () => true);
    expect((await status(h))!.phase).toBe('Degraded');
    expect((await replicasByHash(h))[canary]).toBe(0);
  });
});

describe('canary background analysis', () => {
  it('runs from startingStep while the canary is under way; a failure aborts', async () => {
    const h = await start();
    const bgRollout = (image: string) => {
      const r = rollout(image, [{ setWeight: 20 }, { pause: {} }, { setWeight: 40 }, { pause: {} }]);
      return { ...r, spec: { ...r.spec, strategy: { canary: { ...r.spec.strategy.canary, analysis: { templates: [{ templateName: 'errors' }], startingStep: 1 } } } } };
    };
    await h.apply(service as never);
    await h.apply(bgRollout('web:1'), 'c1');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 5);
    expect((await status(h))!.backgroundAnalysis).toBeUndefined(); // first deploy: no canary, no analysis
    const stable = (await h.revisions())[0]!.metadata.hash;
    await h.apply(bgRollout('web:2'), 'c2');
    await h.drive(async () => (await status(h))?.step === 1 && (await status(h))?.phase === 'Paused');
    expect((await status(h))!.backgroundAnalysis).toEqual({ key: 'background', templates: ['errors'] });
    const canaryHash = (await h.revisions()).find((r) => r.metadata.hash !== stable)!.metadata.hash;
    await h.kv.put(
      '/capstan/overrides/Rollout/default/web',
      JSON.stringify({ backgroundAnalysis: { hash: canaryHash, key: 'background', phase: 'Failed', message: 'errors: too many' }, at: 'x' }),
    );
    await h.drive(async () => (await status(h))?.phase === 'Degraded' && (await h.pods()).filter((p) => !p.metadata.deletionRequestedAt).length === 5);
    expect((await status(h))!).toMatchObject({ reason: 'RolloutAborted', pinnedHash: canaryHash });
    expect((await traffic(h))!.weights).toEqual({ [stable]: 100 });
  });
});

describe('canary on a Deployment', () => {
  it("follows a Deployment's strategy.canary and its controls", async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const d = (image: string) => deployment('web', image, { replicas: 4, strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }] } } });
    await h.apply(service as never);
    await h.apply(d('web:1'));
    await h.drive(async () => (await h.status('web'))?.phase === 'Healthy' && (await h.pods()).length === 4);
    await h.apply(d('web:2'), 'c2');
    await h.drive(async () => (await h.status('web'))?.phase === 'Paused');
    expect(await h.status('web')).toMatchObject({ step: 1, stepCount: 2, weight: 25, kind: 'Deployment' });
    expect(Object.values(await replicasByHash(h)).sort()).toEqual([1, 4]);
    const r = await ctl.promote(target, { body: { full: true } });
    expect(r).toMatchObject({ kind: 'Deployment', name: 'web' });
    await h.drive(async () => (await h.status('web'))?.phase === 'Healthy' && (await h.pods()).length === 4);
    expect((await h.status('web'))!.revision).toBe(2);
  });
});

describe('the override record is shared', () => {
  it("keeps other writers' fields (a live rollback's pin) and resume ends that pin", async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    await h.apply(deployment('api', 'api:1', { replicas: 1 }));
    await h.drive(async () => (await h.status('api'))?.phase === 'Healthy');
    const key = '/capstan/overrides/Deployment/default/api';
    await h.kv.put(key, JSON.stringify({ liveRollbackTo: 'abc', liveRollbackRevision: 1, at: 'x' }));
    await ctl.pause({ namespace: 'default', name: 'api' }, { body: {} });
    await h.drive(async () => (await h.status('api'))?.phase === 'Paused');
    const read = async () => {
      const item = await h.kv.get(key);
      return item ? JSON.parse(new TextDecoder().decode(item.value)) : undefined;
    };
    expect(await read()).toMatchObject({ liveRollbackTo: 'abc', paused: true });
    await ctl.resume({ namespace: 'default', name: 'api' }, { body: {} });
    expect(await read()).toBeUndefined();
    await h.drive(async () => (await h.status('api'))?.phase === 'Healthy');
  });
});
