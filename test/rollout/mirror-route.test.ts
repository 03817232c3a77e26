// setMirrorRoute from the step machine to the Service's traffic record: routes in force up to
// the current step, a step without match removes one, and none are left once the rollout
// completes or aborts.
import { describe, expect, it } from 'vitest';
import { trafficRecords } from '../../src/controllers/workload/index.js';
import { canary, parseProgressiveSteps, stepsHash } from '../../src/rollout/index.js';
import type { RevisionState, RolloutInput, StrategySpec } from '../../src/rollout/index.js';

function rev(name: string, revisionNumber: number, replicas: number): RevisionState {
  return { name, revisionNumber, replicas, pods: { total: replicas, ready: replicas, available: replicas, terminating: 0 } };
}

const steps = [
  { setWeight: 10 },
  { setMirrorRoute: { name: 'shadow', percentage: 50, match: [{ method: { exact: 'GET' }, path: { prefix: '/api' }, headers: { 'x-user': { regex: 'a.*' } } }] } },
  { pause: {} },
  { setMirrorRoute: { name: 'shadow' } },
  { pause: {} },
];
const strategy: StrategySpec = { type: 'Canary', canary: { steps } };
const hash = stepsHash(parseProgressiveSteps(steps));

function at(stepIndex: number, extra: Partial<RolloutInput> = {}): RolloutInput {
  return {
    strategy,
    replicas: 10,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
    paused: false,
    now: 1_000_000,
    lastProgressAt: 1_000_000,
    newRevision: rev('c', 2, 1),
    oldRevisions: [rev('s', 1, 10)],
    stepIndex,
    progressive: { stepsHash: hash, stableRevision: 's' },
    ...extra,
  };
}

const services = [{ name: 'web', selector: { app: 'web' } }];

describe('setMirrorRoute in the canary step machine', () => {
  it('puts the route on the Service record for the canary revision while it is in force', () => {
    const d = canary(at(0));
    expect(d.step!.index).toBe(2);
    expect(d.mirrorRoutes).toEqual([{ name: 'shadow', percentage: 50, match: [{ method: { exact: 'GET' }, path: { prefix: '/api' }, headers: { 'x-user': { regex: 'a.*' } } }] }]);
    expect(trafficRecords(strategy, d, services, { app: 'web' }).get('web')).toEqual({
      weights: { c: 10, s: 90 },
      stableRevision: 's',
      canaryRevision: 'c',
      mirrorRoutes: [{ name: 'shadow', percentage: 50, match: [{ method: { exact: 'GET' }, path: { prefix: '/api' }, headers: { 'x-user': { regex: 'a.*' } } }], revision: 'c' }],
    });
  });

  it('a later step with the same name and no match removes it', () => {
    const d = canary(at(2, { progressive: { stepsHash: hash, stableRevision: 's', promote: 'step' } }));
    expect(d.step!.index).toBe(4);
    expect(d.mirrorRoutes).toBeUndefined();
    expect(trafficRecords(strategy, d, services, { app: 'web' }).get('web')!.mirrorRoutes).toBeUndefined();
  });

  it('no route once the rollout is promoted or aborted', () => {
    const done = canary(at(2, { progressive: { stepsHash: hash, stableRevision: 's', promote: 'full' } }));
    expect(done.mirrorRoutes).toBeUndefined();
    expect(trafficRecords(strategy, done, services, { app: 'web' }).get('web')!.mirrorRoutes).toBeUndefined();
    const aborted = canary(at(2, { progressive: { stepsHash: hash, stableRevision: 's', aborted: true } }));
    expect(aborted.reason).toBe('RolloutAborted');
    expect(trafficRecords(strategy, aborted, services, { app: 'web' }).get('web')!.mirrorRoutes).toBeUndefined();
  });
});
