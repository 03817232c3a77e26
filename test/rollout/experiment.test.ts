// Experiment steps on the workload controllers (fake kubelet, virtual clock): the templates run
// as their own pod groups for the duration, outside the Service's weights; the analyses'
// result (reported in the override record, as the analysis runner does) decides; the groups
// are removed after the step or on abort.
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type TrafficPolicy } from '../../src/api/cluster.js';
import { EXPERIMENT_LABEL, EXPERIMENT_TEMPLATE_LABEL, experimentPhase } from '../../src/controllers/workload/experiment.js';
import { buildStatusView, statusText } from '../../src/cli/status-view.js';
import { ALL_STRATEGIES } from '../../src/rollout/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

function rollout(image: string, experiment: Record<string, unknown>) {
  const d = deployment('web', image, { replicas: 4 });
  return { ...d, apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', spec: { ...d.spec, strategy: { canary: { steps: [{ setWeight: 25 }, { experiment }, { pause: {} }] } } } };
}

const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
const status = (h: Harness) => h.status('web', 'Rollout');
const expPods = async (h: Harness) => (await h.pods()).filter((p) => p.metadata.labels[EXPERIMENT_LABEL] !== undefined && p.metadata.deletionRequestedAt === undefined);

async function toExperiment(experiment: Record<string, unknown>): Promise<{ h: Harness; stable: string; canary: string }> {
  const h = await harness({ registry: ALL_STRATEGIES });
  open.push(h);
  await h.apply(service as never);
  await h.apply(rollout('web:1', experiment), 'c1');
  await h.drive(async () => (await status(h))?.phase === 'Healthy');
  const stable = (await h.revisions())[0]!.metadata.hash;
  await h.apply(rollout('web:2', experiment), 'c2');
  await h.drive(async () => (await status(h))?.experiment !== undefined && (await expPods(h)).length === 3);
  const canary = (await status(h))!.revisionName!.slice('web-'.length);
  return { h, stable, canary };
}

const TEMPLATES = [
  { name: 'baseline', specRef: 'stable' },
  { name: 'candidate', specRef: 'canary', replicas: 2, metadata: { labels: { role: 'candidate' } } },
];

describe('experiment steps', () => {
  it('runs the templates for the duration outside the weights, then removes them and goes on', async () => {
    const { h, stable, canary } = await toExperiment({ duration: '30s', templates: TEMPLATES });
    const s = (await status(h))!;
    expect(s.step).toBe(1);
    expect(s.message).toContain('running experiment baseline, candidate for 30s');
    expect(s.experiment).toMatchObject({ key: 'step-1', phase: 'Running', duration: 30, templates: [{ name: 'baseline', revision: stable, replicas: 1 }, { name: 'candidate', revision: canary, replicas: 2 }] });
    const pods = await expPods(h);
    const images = pods.map((p) => `${p.metadata.labels[EXPERIMENT_TEMPLATE_LABEL]} ${p.spec.containers[0]!.image} ${p.metadata.labels.role ?? ''}`).sort();
    expect(images).toEqual(['baseline web:1 ', 'candidate web:2 candidate', 'candidate web:2 candidate']);
    // The groups have hashes of their own: the Service's weights never name them.
    const policy = JSON.parse(new TextDecoder().decode((await h.kv.get(`${STORE_PREFIX.traffic}default/web`))!.value)) as TrafficPolicy;
    expect(Object.keys(policy.weights).sort()).toEqual([canary, stable].sort());
    expect(pods.every((p) => p.metadata.owner.revision !== stable && p.metadata.owner.revision !== canary)).toBe(true);
    // `capstan status` prints the experiment.
    const text = statusText(buildStatusView({ ...s, object: { spec: { strategy: { canary: {} } } } } as never, { revisions: [], pods: [], services: [] }));
    expect(text).toContain('  experiment: step-1 Running  baseline (stable, 1 pod), candidate (canary, 2 pods) for 30s\n');
    const t0 = h.clock.now();

    await h.drive(async () => (await status(h))?.step === 2 && (await expPods(h)).length === 0);
    expect(h.clock.now() - t0).toBeGreaterThanOrEqual(29_000);
    expect((await status(h))!.phase).toBe('Paused');
    expect((await h.revisions()).some((r) => r.metadata.experimentOf !== undefined)).toBe(false);
  });

  it('without a duration waits for the analyses; a failed one aborts and removes the groups', async () => {
    const { h, canary } = await toExperiment({ templates: TEMPLATES, analyses: [{ name: 'compare', templateName: 'success-rate' }] });
    const s = (await status(h))!;
    // The analysis runner is asked to run the experiment's analyses.
    expect(s.analysis).toEqual({ key: 'step-1', templates: ['success-rate'] });
    h.clock.advance(600_000);
    await h.drive(async () => (await status(h))?.experiment?.phase === 'Running');
    expect((await expPods(h)).length).toBe(3);
    await h.kv.put('/capstan/overrides/Rollout/default/web', JSON.stringify({ analysis: { hash: canary, key: 'step-1', phase: 'Failed', message: 'error rate 9%' }, at: new Date(h.clock.now()).toISOString() }));
    await h.drive(async () => (await status(h))?.reason === 'RolloutAborted' && (await expPods(h)).length === 0);
    expect((await status(h))!.message).toContain('Rollout aborted');
  });

  it('a Rollout removed from Git mid-experiment takes its pod groups with it', async () => {
    const { h } = await toExperiment({ duration: '10m', templates: TEMPLATES });
    await h.remove('Rollout', 'web');
    await h.drive(async () => (await h.revisions()).length === 0 && (await h.pods()).length === 0);
  });
});

describe('experimentPhase (pure)', () => {
  const exp = (duration?: number, analyses = 0) => ({
    key: 'step-1',
    revisions: { stable: 's', canary: 'c' },
    spec: { ...(duration !== undefined ? { duration } : {}), templates: [{ name: 'a', specRef: 'canary' as const, replicas: 1 }], analyses: Array.from({ length: analyses }, (_, i) => ({ name: `a${i}`, templateName: 't' })) },
  });
  it('duration ends it; a failure or inconclusive result decides it first; without duration the analyses end it', () => {
    expect(experimentPhase(exp(10), 0, 5_000, undefined)).toEqual({ phase: 'Running', endsAt: 10_000 });
    expect(experimentPhase(exp(10), 0, 10_000, undefined)).toEqual({ phase: 'Successful' });
    expect(experimentPhase(exp(10), 0, 1, { hash: 'c', key: 'step-1', phase: 'Inconclusive' })).toEqual({ phase: 'Inconclusive' });
    expect(experimentPhase(exp(undefined, 1), 0, 1e9, undefined)).toEqual({ phase: 'Running' });
    expect(experimentPhase(exp(undefined, 1), 0, 1, { hash: 'c', key: 'step-1', phase: 'Successful' })).toEqual({ phase: 'Successful' });
    // A result of another step does not count.
    expect(experimentPhase(exp(undefined, 1), 0, 1, { hash: 'c', key: 'step-3', phase: 'Failed' })).toEqual({ phase: 'Running' });
  });
});
