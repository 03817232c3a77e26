import { describe, expect, it } from 'vitest';
import { trafficRecords } from '../../src/controllers/workload/index.js';
import { blueGreen, canary, parseProgressiveSteps, stepsHash } from '../../src/rollout/index.js';
import type { RevisionState, RolloutInput } from '../../src/rollout/index.js';

function rev(name: string, revisionNumber: number, replicas: number, available = replicas): RevisionState {
  return { name, revisionNumber, replicas, pods: { total: replicas, ready: available, available, terminating: 0 } };
}

function input(steps: unknown[], newRev: RevisionState, extra: Partial<RolloutInput> = {}): RolloutInput {
  return {
    strategy: { type: 'Canary', canary: { steps } },
    replicas: 10,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
    paused: false,
    now: 1_000_000,
    lastProgressAt: 1_000_000,
    newRevision: newRev,
    oldRevisions: [rev('s', 1, 10)],
    ...extra,
  };
}

describe('canary strategy (pure)', () => {
  it('scales the canary to ceil(weight x replicas / 100) and keeps stable at full scale', () => {
    const d = canary(input([{ setWeight: 15 }, { pause: {} }], rev('c', 2, 0)));
    expect(d.scale).toEqual([{ revision: 'c', replicas: 2 }]);
    expect(d.step).toEqual({ index: 0, count: 2 });
    // Traffic moves only once the canary has its pods.
    expect(d.traffic).toEqual([{ revision: 'c', weight: 0 }, { revision: 's', weight: 100 }]);
    const d2 = canary(input([{ setWeight: 15 }, { pause: {} }], rev('c', 2, 2), { progressive: { stepsHash: d.state!.stepsHash! } }));
    expect(d2.phase).toBe('Paused');
    expect(d2.scale).toEqual([]);
    expect(d2.traffic).toEqual([{ revision: 'c', weight: 15 }, { revision: 's', weight: 85 }]);
    expect(d2.step).toEqual({ index: 1, count: 2 });
  });

  it('setCanaryScale overrides the replica count; setHeaderRoute routes matching requests', () => {
    const steps = [
      { setCanaryScale: { replicas: 3 } },
      { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: 'yes' } }] } },
      { setWeight: 0 },
      { pause: {} },
    ];
    expect(parseProgressiveSteps(steps)).toHaveLength(4);
    const hash = stepsHash(parseProgressiveSteps(steps));
    const d = canary(input(steps, rev('c', 2, 3), { progressive: { stepsHash: hash } }));
    expect(d.phase).toBe('Paused');
    expect(d.step!.index).toBe(3);
    expect(d.headerRoutes).toEqual([steps[1]!.setHeaderRoute]);
    const records = trafficRecords(
      { type: 'Canary', canary: { steps, canaryService: 'web-canary' } },
      d,
      [{ name: 'web', selector: { app: 'web' } }, { name: 'other', selector: { app: 'other' } }, { name: 'web-canary', selector: { app: 'web' } }],
      { app: 'web' },
    );
    expect([...records.keys()].sort()).toEqual(['web', 'web-canary']);
    expect(records.get('web')).toEqual({
      weights: { s: 100 },
      stableRevision: 's',
      canaryRevision: 'c',
      headerRoutes: [{ name: 'beta', match: { header: { name: 'x-beta', exact: 'yes' } }, revision: 'c' }],
    });
    expect(records.get('web-canary')).toEqual({ weights: { c: 100 }, canaryRevision: 'c' });
  });

  it('a timed pause asks to be looked at when it ends, and ends at that time', () => {
    const steps = [{ pause: { duration: '1m' } }];
    const hash = stepsHash(parseProgressiveSteps(steps));
    const d = canary(input(steps, rev('c', 2, 0), { progressive: { stepsHash: hash }, pauseStartedAt: 1_000_000 - 10_000 }));
    expect(d).toMatchObject({ phase: 'Paused', requeueAt: 1_000_000 + 50_000 });
    const done = canary(input(steps, rev('c', 2, 0), { progressive: { stepsHash: hash }, pauseStartedAt: 1_000_000 - 60_000 }));
    expect(done.step).toEqual({ index: 1, count: 1 });
    expect(done.scale).toEqual([{ revision: 'c', replicas: 10 }]);
  });

  it('a changed step list restarts at step 0', () => {
    const d = canary(input([{ setWeight: 50 }, { pause: {} }], rev('c', 2, 5), { stepIndex: 1, progressive: { stepsHash: 'other' } }));
    expect(d.step!.index).toBe(1); // walked again from 0: setWeight 50 is satisfied, waits at the pause
    const e = canary(input([{ setWeight: 10 }, { pause: {} }], rev('c', 2, 5), { stepIndex: 1, progressive: { stepsHash: 'other' } }));
    expect(e.step!.index).toBe(0);
    expect(e.scale).toEqual([{ revision: 'c', replicas: 1 }]);
  });
});

describe('blue-green strategy (pure)', () => {
  const bg = (blue: Record<string, unknown>, n: RevisionState, extra: Partial<RolloutInput> = {}): RolloutInput => ({
    ...input([], n, extra),
    strategy: { type: 'BlueGreen', blueGreen: { activeService: 'a', previewService: 'p', ...blue } },
  });

  it('auto-promotes at once when enabled without seconds, after a full-scale preview', () => {
    const d = blueGreen(bg({}, rev('g', 2, 10)));
    expect(d.roles).toEqual({ active: 'g', preview: 'g' });
    expect(d.requeueAt).toBe(1_000_000 + 30_000); // default scaleDownDelaySeconds
    expect(d.scale).toEqual([]);
    const later = blueGreen(bg({}, rev('g', 2, 10), { now: 1_030_000, progressive: { stableRevision: 'g', promotedAt: 1_000_000 } }));
    expect(later.scale).toEqual([{ revision: 's', replicas: 0 }]);
  });

  it('holds the preview at previewReplicaCount until promoted', () => {
    const d = blueGreen(bg({ autoPromotionEnabled: false, previewReplicaCount: 2 }, rev('g', 2, 0), { progressive: { stableRevision: 's' } }));
    expect(d.scale).toEqual([{ revision: 'g', replicas: 2 }]);
    expect(d.roles).toEqual({ active: 's', preview: 'g' });
    const promoted = blueGreen(bg({ autoPromotionEnabled: false, previewReplicaCount: 2 }, rev('g', 2, 2), { progressive: { stableRevision: 's', promote: 'step' } }));
    expect(promoted.scale).toEqual([{ revision: 'g', replicas: 10 }]);
    expect(promoted.roles!.active).toBe('s');
  });
});
