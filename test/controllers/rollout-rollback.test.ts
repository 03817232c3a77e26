// Rollbacks on the workload controller: a return to a recently healthy revision is
// fast-tracked (no canary step, pause or analysis), a live rollback pins a kept revision
// until Git changes or resume, history records each trigger, and an abort stays pinned
// across syncs of the same spec. Blue-green post-promotion analysis lives here too.
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Revision, type TrafficPolicy } from '../../src/api/cluster.js';
import { rolloutControlHandlers } from '../../src/controllers/rollout-control.js';
import { withinRollbackWindow } from '../../src/controllers/workload/plan.js';
import type { StoredWorkloadStatus } from '../../src/controllers/index.js';
import { validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';
import { ALL_STRATEGIES } from '../../src/rollout/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const running: Harness[] = [];
afterEach(() => Promise.all(running.splice(0).map((h) => h.close())));
const start = async (): Promise<Harness> => running[running.push(await harness({ registry: ALL_STRATEGIES })) - 1]!;

const STEPS = [{ setWeight: 20 }, { pause: { duration: 30 } }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { setWeight: 50 }, { pause: {} }];
const OVERRIDE = '/capstan/overrides/Rollout/default/web';
const target = { namespace: 'default', name: 'web' };

/** A Rollout `web` of `image` with `strategy`; `extra` adds spec fields (rollbackWindow). */
function webRollout(image: string, replicas: number, strategy: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const d = deployment('web', image, { replicas });
  return { ...d, apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', spec: { ...d.spec, strategy, ...extra } };
}
const canaryRollout = (image: string, extra: Record<string, unknown> = {}) => webRollout(image, 4, { canary: { steps: STEPS } }, extra);
const blueGreenRollout = (image: string, blueGreen: Record<string, unknown>) =>
  webRollout(image, 3, { blueGreen: { activeService: 'web-active', previewService: 'web-preview', ...blueGreen } });

const status = (h: Harness) => h.status('web', 'Rollout');
const decode = <T>(v: Uint8Array): T => JSON.parse(new TextDecoder().decode(v)) as T;

async function override(h: Harness): Promise<Record<string, unknown> | undefined> {
  const item = await h.kv.get(OVERRIDE);
  return item ? decode<Record<string, unknown>>(item.value) : undefined;
}

async function traffic(h: Harness, svc: string): Promise<TrafficPolicy | undefined> {
  const item = await h.kv.get(`${STORE_PREFIX.traffic}default/${svc}`);
  return item ? decode<TrafficPolicy>(item.value) : undefined;
}

const replicasByHash = async (h: Harness): Promise<Record<string, number>> => Object.fromEntries((await h.revisions()).map((r) => [r.metadata.hash, r.replicas]));

const events = (h: Harness) => h.list<ClusterEvent>(STORE_PREFIX.events);
const reasons = async (h: Harness): Promise<string[]> => (await events(h)).map((e) => e.reason);
const historyOf = async (h: Harness) => (await h.history('web')).map((e) => [e.revision, e.outcome, e.trigger]);

/** Drives until `until`, keeping every status seen at each settled point. */
async function driveRecording(h: Harness, seen: StoredWorkloadStatus[], until: () => Promise<boolean>): Promise<void> {
  await h.drive(async () => {
    const s = await status(h);
    if (s) seen.push(s);
    return until();
  });
}

/** Healthy at `revision` with exactly its replicas as pods (none terminating). */
const healthyAt = (h: Harness, revision: number) => async (): Promise<boolean> => {
  const s = await status(h);
  return s?.phase === 'Healthy' && s.revision === revision && (await h.pods()).length === s.replicas;
};

/** web:1 (first deploy) and web:2 promoted in full, both Healthy; returns their hashes. */
async function twoHealthy(h: Harness, extra: Record<string, unknown> = {}): Promise<{ h1: string; h2: string }> {
  const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
  await h.apply(canaryRollout('web:1', extra), 'c1');
  await driveRecording(h, [], healthyAt(h, 1));
  const h1 = (await h.revisions())[0]!.metadata.hash;
  await h.apply(canaryRollout('web:2', extra), 'c2');
  await h.drive(async () => (await status(h))?.step === 1);
  await ctl.promote(target, { body: { full: true } });
  await driveRecording(h, [], healthyAt(h, 2));
  const h2 = (await h.revisions()).find((r) => r.metadata.hash !== h1)!.metadata.hash;
  return { h1, h2 };
}

describe('rollback window', () => {
  it('spec.rollbackWindow is part of the Rollout and Deployment schemas; a bad value is an error at the field', () => {
    const diagnostics = (manifest: unknown) =>
      parseManifestFile({ path: 'apps/web.json', content: JSON.stringify(manifest) }).documents.flatMap((d) => validateDocument(d).diagnostics);
    const rolloutDoc = canaryRollout('web:1', { rollbackWindow: { revisions: 2 } });
    const deploymentDoc = deployment('web', 'web:1', { rollbackWindow: { revisions: 0 } } as never);
    expect(diagnostics(rolloutDoc)).toEqual([]);
    expect(diagnostics(deploymentDoc)).toEqual([]);
    const bad = diagnostics(canaryRollout('web:1', { rollbackWindow: { revisions: -1 } }));
    expect(bad.map((d) => [d.severity, d.field])).toEqual([['error', 'spec.rollbackWindow.revisions']]);
  });

  const rev = (revision: number): Revision => ({
    metadata: { name: `web-${revision}`, namespace: 'default', owner: { kind: 'Rollout', name: 'web' }, hash: `h${revision}`, revision, createdAt: 'T' },
    template: { metadata: { labels: {} }, spec: { containers: [], restartPolicy: 'Always', terminationGracePeriodSeconds: 30 } },
    replicas: 0,
  });
  const entry = (revision: number, outcome: 'Healthy' | 'Degraded' | 'RolledBack', healthyAt?: string) => ({
    namespace: 'default', name: 'web', kind: 'Rollout', revision, images: [], createdAt: 'T', outcome, trigger: 'push' as const, ...(healthyAt ? { healthyAt } : {}),
  });

  it('counts kept revisions older than the one left, newest first, and needs a Healthy end', () => {
    const revisions = [rev(1), rev(3), rev(4), rev(6)];
    const history = [entry(1, 'Healthy'), entry(3, 'RolledBack', 'T'), entry(4, 'Degraded'), entry(6, 'Healthy')];
    // Leaving 6: 4 is first, 3 second, 1 third.
    expect(withinRollbackWindow(revisions, history, rev(3), 6, 2)).toBe(true); // RolledBack after being Healthy
    expect(withinRollbackWindow(revisions, history, rev(4), 6, 3)).toBe(false); // never Healthy
    expect(withinRollbackWindow(revisions, history, rev(1), 6, 2)).toBe(false); // outside the window
    expect(withinRollbackWindow(revisions, history, rev(1), 6, 3)).toBe(true);
    expect(withinRollbackWindow(revisions, history, rev(1), 6, 0)).toBe(false); // 0 turns it off
  });
});

describe('a return to a recently healthy revision', () => {
  it('is fast-tracked: no step, pause or analysis; history marks RolledBack and trigger rollback', async () => {
    const h = await start();
    const { h1, h2 } = await twoHealthy(h);
    const pausesBefore = (await reasons(h)).filter((r) => r === 'RolloutPaused').length;

    // The rollback commit puts web:1's template back in Git.
    await h.apply(canaryRollout('web:1'), 'c3');
    const seen: StoredWorkloadStatus[] = [];
    await driveRecording(h, seen, healthyAt(h, 3));
    const during = seen.filter((s) => s.revision === 3);
    expect(during.length).toBeGreaterThan(0);
    // Never paused, never waited for an analysis, never at a partial weight.
    expect(during.filter((s) => s.phase === 'Paused' || s.analysis !== undefined || (s.step ?? 0) < STEPS.length)).toEqual([]);
    expect(during.every((s) => s.fastTrack === true)).toBe(true);
    expect((await reasons(h)).filter((r) => r === 'RolloutPaused').length).toBe(pausesBefore);
    const fast = (await events(h)).find((e) => e.reason === 'RolloutFastTracked');
    expect(fast?.message).toMatch(/returns to revision 1.*skipping steps and analysis/);

    expect(await replicasByHash(h)).toEqual({ [h1]: 4, [h2]: 0 });
    expect(await historyOf(h)).toEqual([
      [1, 'Healthy', 'push'],
      [2, 'RolledBack', 'push'],
      [3, 'Healthy', 'rollback'],
    ]);
  });

  it('walks the steps when rollbackWindow.revisions is 0', async () => {
    const h = await start();
    const off = { rollbackWindow: { revisions: 0 } };
    await twoHealthy(h, off);
    await h.apply(canaryRollout('web:1', off), 'c3');
    await h.drive(async () => (await status(h))?.revision === 3 && (await status(h))?.phase === 'Paused');
    const s = (await status(h))!;
    expect(s).toMatchObject({ step: 1, weight: 20 });
    expect(s.fastTrack).toBeUndefined();
    expect((await reasons(h)).includes('RolloutFastTracked')).toBe(false);
    // Still a rollback in the history.
    expect((await historyOf(h)).at(-1)).toEqual([3, 'Progressing', 'rollback']);
  });
});

describe('live rollback', () => {
  it('serves the pinned revision at once, says Git is ahead, and keeps it across syncs of the same commit', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { h1, h2 } = await twoHealthy(h);
    // What `capstan rollback --live` writes (src/rollback): the pin, at the commit synced now.
    await h.kv.put(OVERRIDE, JSON.stringify({ liveRollbackTo: h1, liveRollbackRevision: 1, liveRollbackCommit: 'c2', at: 'T' }));
    const seen: StoredWorkloadStatus[] = [];
    await driveRecording(h, seen, healthyAt(h, 3));
    expect(seen.filter((s) => s.revision === 3 && s.phase === 'Paused')).toEqual([]);
    const s = (await status(h))!;
    expect(s.message).toContain('live rollback; Git is ahead');
    expect(s.conditions).toContainEqual(expect.objectContaining({ type: 'GitSynced', status: 'False', reason: 'LiveRollback' }));
    expect(s).toMatchObject({ liveRollback: 1, revisionName: `web-${h1}`, syncedCommit: 'c2' });
    expect(await replicasByHash(h)).toEqual({ [h1]: 4, [h2]: 0 });
    expect(await historyOf(h)).toEqual([
      [1, 'Healthy', 'push'],
      [2, 'RolledBack', 'push'],
      [3, 'Healthy', 'live-rollback'],
    ]);
    // The entry names the commit of what runs (revision 1's), not Git's tip.
    expect((await h.history('web')).find((e) => e.revision === 3)?.commit).toBe('c1');

    // A sync of the same commit (the desired record rewritten, spec unchanged) keeps the pin.
    await h.apply(canaryRollout('web:2'), 'c2');
    h.clock.advance(120_000);
    await h.drive(async () => true);
    expect((await status(h))!.revisionName).toBe(`web-${h1}`);
    expect(await replicasByHash(h)).toEqual({ [h1]: 4, [h2]: 0 });
    expect(await override(h)).toMatchObject({ liveRollbackTo: h1 });

    // resume ends the pin: Git's template (revision 2's) comes back, as a push.
    await ctl.resume(target, { body: {} });
    await h.drive(healthyAt(h, 4));
    expect((await status(h))!.revisionName).toBe(`web-${h2}`);
    expect((await status(h))!.liveRollback).toBeUndefined();
    expect((await historyOf(h)).at(-1)).toEqual([4, 'Healthy', 'push']);
  });

  it('a new commit that changes the manifest releases the pin', async () => {
    const h = await start();
    const { h1 } = await twoHealthy(h);
    await h.kv.put(OVERRIDE, JSON.stringify({ liveRollbackTo: h1, liveRollbackRevision: 1, liveRollbackCommit: 'c2', at: 'T' }));
    await h.drive(healthyAt(h, 3));

    await h.apply(canaryRollout('web:3'), 'c4');
    await h.drive(async () => (await status(h))?.revision === 4);
    expect(await override(h)).toBeUndefined();
    expect((await reasons(h)).includes('LiveRollbackReleased')).toBe(true);
    // web:3 is new: a canary with its steps, no longer pinned.
    await h.drive(async () => (await status(h))?.phase === 'Paused' && (await status(h))?.step === 1);
    const s = (await status(h))!;
    expect(s.message).not.toContain('Git is ahead');
    expect((await h.revisions()).find((r) => r.metadata.revision === 4)!.template.spec.containers[0]!.image).toBe('web:3');
  });
});

describe('abort and retry', () => {
  it('an aborted spec stays pinned across a sync of the same spec; retry rolls it again under trigger retry', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    await h.apply(canaryRollout('web:1'), 'c1');
    await h.drive(healthyAt(h, 1));
    await h.apply(canaryRollout('web:2'), 'c2');
    await h.drive(async () => (await status(h))?.step === 1);
    const canary = (await h.revisions()).find((r) => r.metadata.revision === 2)!.metadata.hash;
    await ctl.abort(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Degraded' && (await replicasByHash(h))[canary] === 0);

    // The next sync rewrites the same desired spec (a status commit, another file changed).
    await h.apply(canaryRollout('web:2'), 'c2');
    h.clock.advance(60_000);
    await h.drive(async () => true);
    expect((await status(h))!).toMatchObject({ phase: 'Degraded', reason: 'RolloutAborted', pinnedHash: canary });
    expect((await replicasByHash(h))[canary]).toBe(0);
    expect((await h.pods()).some((p) => p.metadata.owner.revision === canary && !p.metadata.deletionRequestedAt)).toBe(false);

    await ctl.retry(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Paused' && (await status(h))?.step === 1);
    expect((await status(h))!.revision).toBe(3);
    expect(await historyOf(h)).toEqual([
      [1, 'Healthy', 'push'],
      [2, 'Aborted', 'push'],
      [3, 'Progressing', 'retry'],
    ]);
  });
});

describe('blue-green post-promotion analysis', () => {
  const bg = { autoPromotionEnabled: false, scaleDownDelaySeconds: 10, postPromotionAnalysis: { templates: [{ templateName: 'smoke' }] } };
  const report = (h: Harness, hash: string, phase: string) =>
    h.kv.put(OVERRIDE, JSON.stringify({ analysis: { hash, key: 'post-promotion', phase }, at: new Date(h.clock.now()).toISOString() }));

  async function promoted(h: Harness): Promise<{ blue: string; green: string }> {
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    await h.apply(blueGreenRollout('web:1', bg), 'c1');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    // A first deploy has nothing to analyse after.
    expect((await status(h))!.analysis).toBeUndefined();
    const blue = (await h.revisions())[0]!.metadata.hash;
    await h.apply(blueGreenRollout('web:2', bg), 'c2');
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    const green = (await h.revisions()).find((r) => r.metadata.hash !== blue)!.metadata.hash;
    await ctl.promote(target, { body: {} });
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[green] === 100 && (await status(h))?.analysis !== undefined);
    expect((await status(h))!.analysis).toEqual({ key: 'post-promotion', templates: ['smoke'] });
    // The old revision stays up well past scaleDownDelaySeconds while the analysis runs.
    h.clock.advance(60_000);
    await h.drive(async () => true);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 3 });
    expect((await status(h))!.phase).toBe('Progressing');
    return { blue, green };
  }

  it('a passing analysis lets the old revision go and ends Healthy', async () => {
    const h = await start();
    const { blue, green } = await promoted(h);
    await report(h, green, 'Successful');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    expect(await replicasByHash(h)).toEqual({ [blue]: 0, [green]: 3 });
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [green]: 100 });
    expect((await status(h))!.analysis).toBeUndefined();
  });

  it('a failing analysis switches the active service back and aborts', async () => {
    const h = await start();
    const { blue, green } = await promoted(h);
    await report(h, green, 'Failed');
    await h.drive(async () => (await traffic(h, 'web-active'))?.weights[blue] === 100 && (await status(h))?.phase === 'Degraded');
    expect((await status(h))!).toMatchObject({ reason: 'RolloutAborted' });
    await h.drive(async () => (await replicasByHash(h))[green] === 0);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 0 });
    expect(await override(h)).toMatchObject({ abortedHash: green });
    expect((await historyOf(h)).at(-1)).toEqual([2, 'Aborted', 'push']);
  });

  it('an inconclusive analysis pauses with the old revision up; a promote accepts it', async () => {
    const h = await start();
    const ctl = rolloutControlHandlers(h.kv, { clock: h.clock });
    const { blue, green } = await promoted(h);
    await report(h, green, 'Inconclusive');
    await h.drive(async () => (await status(h))?.phase === 'Paused');
    expect((await status(h))!).toMatchObject({ reason: 'AnalysisInconclusive', previousActive: blue });
    expect((await status(h))!.message).toContain('inconclusive');
    h.clock.advance(60_000);
    await h.drive(async () => true);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 3 });
    await ctl.promote(target, { body: {} });
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    expect(await replicasByHash(h)).toEqual({ [blue]: 0, [green]: 3 });
    expect((await status(h))!.postPromotionDone).toBe(true);
  });

  it('a fast-tracked return skips the analyses and the manual promotion', async () => {
    const h = await start();
    const { blue, green } = await promoted(h);
    await report(h, green, 'Successful');
    await h.drive(async () => (await status(h))?.phase === 'Healthy' && (await h.pods()).length === 3);
    await h.apply(blueGreenRollout('web:1', bg), 'c3');
    const seen: StoredWorkloadStatus[] = [];
    await driveRecording(h, seen, healthyAt(h, 3));
    expect(seen.filter((s) => s.revision === 3 && (s.phase === 'Paused' || s.analysis !== undefined))).toEqual([]);
    expect(await replicasByHash(h)).toEqual({ [blue]: 3, [green]: 0 });
    expect((await traffic(h, 'web-active'))!.weights).toEqual({ [blue]: 100 });
  });
});
