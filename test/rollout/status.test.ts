import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { DEFAULT_STRATEGIES, finishDecision, nextRolloutAction, summarizePods } from '../../src/rollout/index.js';
import type { RevisionState, RolloutInput, RolloutStrategy } from '../../src/rollout/index.js';
import { RolloutSim } from './sim.js';

function rev(name: string, revisionNumber: number, replicas: number, total = replicas, available = total, ready = available): RevisionState {
  return { name, revisionNumber, replicas, pods: { total, ready, available, terminating: 0 } };
}

function stuck(now: number, lastProgressAt: number, extra: Partial<RolloutInput> = {}): RolloutInput {
  // Surge used up and availability at the floor: nothing can move until new pods turn available.
  return {
    strategy: { type: 'RollingUpdate' },
    replicas: 10,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
    paused: false,
    now,
    lastProgressAt,
    newRevision: rev('web-2', 2, 5, 5, 0),
    oldRevisions: [rev('web-1', 1, 8)],
    ...extra,
  };
}

describe('progress deadline', () => {
  it('turns Degraded with ProgressDeadlineExceeded only after the deadline has passed', () => {
    const at = stuck(600_000, 0);
    expect(nextRolloutAction(at).phase).toBe('Progressing');
    const d = nextRolloutAction(stuck(600_001, 0));
    expect(d).toMatchObject({ phase: 'Degraded', reason: 'ProgressDeadlineExceeded', lastProgressAt: 0, scale: [] });
    expect(d.conditions).toContainEqual({
      type: 'Progressing',
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: 'Revision "web-2" has timed out progressing.',
    });
    expect(d.message).toContain('5 out of 10 new replicas have been updated');
  });

  it('counts pods turning ready or available since the last pass as progress', () => {
    const prev = nextRolloutAction(stuck(1000, 0)).status;
    const later = stuck(700_000, 0, { previousStatus: prev, newRevision: { ...rev('web-2', 2, 5, 5, 0), pods: { total: 5, ready: 2, available: 0, terminating: 0 } } });
    expect(nextRolloutAction(later)).toMatchObject({ phase: 'Progressing', lastProgressAt: 700_000 });
    const same = stuck(700_000, 0, { previousStatus: prev });
    expect(nextRolloutAction(same).phase).toBe('Degraded');
  });

  it('is disabled by an infinite deadline or Kubernetes’ MaxInt32', () => {
    expect(nextRolloutAction(stuck(1e12, 0, { progressDeadlineSeconds: Infinity })).phase).toBe('Progressing');
    expect(nextRolloutAction(stuck(1e12, 0, { progressDeadlineSeconds: 2 ** 31 - 1 })).phase).toBe('Progressing');
  });

  it('turns a rollout whose new pods never become ready Degraded in simulation, and recovers when they do', () => {
    const sim = new RolloutSim({ strategy: { type: 'RollingUpdate' }, replicas: 4, progressDeadlineSeconds: 30, readyDelay: Infinity });
    const phases: string[] = [];
    for (let i = 0; i < 40; i++) {
      phases.push(sim.step().phase);
      sim.tick();
    }
    expect(phases.slice(0, 3)).toEqual(['Progressing', 'Progressing', 'Progressing']);
    const firstDegraded = phases.indexOf('Degraded');
    expect(firstDegraded).toBeGreaterThan(30);
    expect(phases.slice(firstDegraded).every((p) => p === 'Degraded')).toBe(true);
    // The pods finally come up: progress resets the clock and the rollout completes.
    for (const p of sim.next.pods) p.readyAt = sim.now;
    sim.opts.readyDelay = 1;
    let phase = '';
    for (let i = 0; i < 100 && phase !== 'Healthy'; i++) {
      phase = sim.step().phase;
      expect(phase).not.toBe('Degraded');
      sim.tick();
    }
    expect(phase).toBe('Healthy');
  });
});

describe('pause', () => {
  it('holds all scaling, reports Paused and restarts the deadline clock', () => {
    const d = nextRolloutAction(stuck(5_000_000, 0, { paused: true, newRevision: rev('web-2', 2, 0), oldRevisions: [rev('web-1', 1, 10)] }));
    expect(d).toMatchObject({ scale: [], phase: 'Paused', reason: 'RolloutPaused', lastProgressAt: 5_000_000 });
    expect(d.conditions).toContainEqual({ type: 'Progressing', status: 'Unknown', reason: 'RolloutPaused', message: 'Deployment is paused.' });
    const r = nextRolloutAction(stuck(5_000_000, 0, { paused: true, strategy: { type: 'Recreate' } }));
    expect(r).toMatchObject({ scale: [], phase: 'Paused' });
  });

  it('holds a simulated rollout mid-way and lets it finish on resume', () => {
    const sim = new RolloutSim({ strategy: { type: 'RollingUpdate' }, replicas: 8 });
    for (let i = 0; i < 3; i++) {
      sim.step();
      sim.tick();
    }
    sim.paused = true;
    const before = JSON.stringify([sim.old.replicas, sim.next.replicas]);
    for (let i = 0; i < 50; i++) {
      expect(sim.step()).toMatchObject({ phase: 'Paused', scale: [] });
      sim.tick();
    }
    expect(JSON.stringify([sim.old.replicas, sim.next.replicas])).toBe(before);
    sim.paused = false;
    let phase = '';
    for (let i = 0; i < 200 && phase !== 'Healthy'; i++) {
      phase = sim.step().phase;
      sim.tick();
    }
    expect(phase).toBe('Healthy');
  });
});

describe('status and conditions', () => {
  it('reports Kubernetes-style counts and the Available condition', () => {
    const d = nextRolloutAction(stuck(1000, 0));
    expect(d.status).toEqual({ replicas: 13, updatedReplicas: 5, readyReplicas: 8, availableReplicas: 8, unavailableReplicas: 5 });
    expect(d.conditions[0]).toMatchObject({ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' });
    const low = nextRolloutAction(stuck(1000, 0, { oldRevisions: [rev('web-1', 1, 8, 8, 7)] }));
    expect(low.conditions[0]).toMatchObject({ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' });
  });

  it('counts available pods only once ready for minReadySeconds', () => {
    const now = 100_000;
    const { counts, nextAvailableAt } = summarizePods(
      [
        { ready: true, readySince: now - 10_000 },
        { ready: true, readySince: now - 5_000 }, // exactly 5 s: not yet (strictly before, as Kubernetes)
        { ready: true, readySince: now - 1_000 },
        { ready: false },
        { ready: true, readySince: 0, terminating: true },
      ],
      5,
      now,
    );
    expect(counts).toEqual({ total: 4, ready: 3, available: 1, terminating: 1 });
    expect(nextAvailableAt).toBe(now);
    expect(summarizePods([{ ready: true }], 0, now).counts.available).toBe(1);
  });
});

describe('strategy registry', () => {
  it('refuses a strategy type without an implementation', () => {
    let err: unknown;
    try {
      nextRolloutAction({ ...stuck(0, 0), strategy: { type: 'Canary' } });
    } catch (e) {
      err = e;
    }
    expect(isCapstanError(err, 'CAPSTAN_ERR_API_SCHEMA')).toBe(true);
    expect((err as { field: string }).field).toBe('spec.strategy.type');
  });

  it('takes more strategies with the same signature, returning traffic and step', () => {
    const canary: RolloutStrategy = (input) =>
      finishDecision(input, [], {
        traffic: [
          { revision: input.newRevision.name, weight: 20 },
          { revision: input.oldRevisions[0].name, weight: 80 },
        ],
        step: { index: input.stepIndex ?? 0, count: 4 },
      });
    const d = nextRolloutAction({ ...stuck(0, 0), strategy: { type: 'Canary' }, stepIndex: 1 }, { ...DEFAULT_STRATEGIES, Canary: canary });
    expect(d.traffic).toEqual([
      { revision: 'web-2', weight: 20 },
      { revision: 'web-1', weight: 80 },
    ]);
    expect(d.step).toEqual({ index: 1, count: 4 });
  });
});
