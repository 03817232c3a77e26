import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type TrafficPolicy } from '../../src/api/cluster.js';
import { rolloutControlHandlers } from '../../src/controllers/rollout-control.js';
import { ALL_STRATEGIES } from '../../src/rollout/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(): Promise<Harness> {
  const h = await harness({ registry: ALL_STRATEGIES });
  open.push(h);
  return h;
}

function rollout(image: string, blueGreen: Record<string, unknown>) {
  const d = deployment('web', image, { replicas: 3 });
  return {
    ...d,
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    spec: { ...d.spec, strategy: { blueGreen: { activeService: 'web-active', previewService: 'web-preview', ...blueGreen } } },
  };
}

async function traffic(h: Harness, svc: string): Promise<TrafficPolicy | undefined> {
  const item = await h.kv.get(`${STORE_PREFIX.traffic}default/${svc}`);
  return item ? (JSON.parse(new TextDecoder().decode(item.value)) as TrafficPolicy) : undefined;
}

async function replicasByHash(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await h.revisions()) out[r.metadata.hash] = r.replicas;
  return out;
}

const status = (h: Harness) => h.status('web', 'Rollout');
const target = { namespace: 'default', name: 'web' };

async function startPreview(h: Harness, bg: Record<string, unknown>): Promise<{ blue: string; green: string }> {
  await h.apply(rollout('web:1', bg), 'c1');
  await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
  const blue = (await h.revisions())[0]!.metadata.hash;
  expect((await traffic(h, 'web-active'))!.weights).toEqual({ [blue]: 100 });
  await h.apply(rollout('web:2', bg), 'c2');
  await h.drive(async () => (await h.revisions()).length === 2);
  const green = (await h.revisions()).find((r) => r.metadata.hash !== blue)!.metadata.hash;
  return { blue, green };
}

describe('blue-green rollouts on the workload controller', () => {
  it('manual promote: preview at previewReplicaCount, switch, old revision down after scaleDownDelaySeconds', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const bg = { autoPromotionEnabled: false, previewReplicaCount: 1, scaleDownDelaySeconds: 30 };
    const { blue, green } = await startPreview(h, bg);

    await h.drive(async () => (await status(h))?.phase === 'Paused');
    expect((await status(h))!.message).toContain('waiting for promote');
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 1 });
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [blue]: 100 });
    expect((await traffic(h, 'web-preview'))!.weights).toEqual({ [green]: 100 });

    await ctl.promote(target, { body: {} });
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[green] === 100);
    const switchedAt = h.clock.now();
    // Switched: green took all 3 first; blue is still up during the delay.
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 3 });
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    expect(h.clock.now() - switchedAt).toBeGreaterThanOrEqual(30_000);
    expect(await replicasByHash(h)).toEqual({ [blue]: 0, [green]: 3 });
    expect((await status(h))!.stableRevision).toBe(green);
  });

  it('auto promotion after autoPromotionSeconds', async () => {
    const h = await start();
    const { blue, green } = await startPreview(h, { autoPromotionSeconds: 20, scaleDownDelaySeconds: 5 });
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    const readyAt = h.clock.now();
    expect((await status(h))!.message).toContain('automatically');
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [blue]: 100 });
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[green] === 100);
    expect(h.clock.now() - readyAt).toBeGreaterThanOrEqual(20_000);
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    expect(await replicasByHash(h)).toEqual({ [blue]: 0, [green]: 3 });
  });

  it('abort switches the active service back at once and scales the preview down', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { blue, green } = await startPreview(h, { autoPromotionEnabled: false });
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    await ctl.abort(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Degraded' && (await h.pods()).filter((p) => !p.metadata.deletionRequestedAt).length === 3);
    expect((await status(h))!.reason).toBe('RolloutAborted');
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 0 });
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [blue]: 100 });
  });

  it('abort after promotion, while the old revision waits out its delay, switches the active service back', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { blue, green } = await startPreview(h, { autoPromotionEnabled: false, scaleDownDelaySeconds: 30 });
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    await ctl.promote(target, { body: {} });
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[green] === 100);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 3 });

    const reply = await ctl.abort(target, { body: {} });
    expect(reply.message).toContain('aborted');
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[blue] === 100 && (await status(h))?.phase === 'Degraded');
    expect((await status(h))!.reason).toBe('RolloutAborted');
    await h.drive(async () => (await replicasByHash(h))[green] === 0);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 0 });
  });

  it('once the old revision is gone, a promoted blue-green has nothing to go back to', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { blue, green } = await startPreview(h, { autoPromotionEnabled: false, scaleDownDelaySeconds: 5 });
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    await ctl.promote(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await replicasByHash(h))[blue] === 0);
    const reply = await ctl.abort(target, { body: {} });
    expect(reply.message).toContain('nothing to abort');
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [green]: 100 });
  });
});
