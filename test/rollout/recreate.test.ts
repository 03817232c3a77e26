import { describe, expect, it } from 'vitest';
import { nextRolloutAction, recreate } from '../../src/rollout/index.js';
import type { RevisionState, RolloutInput } from '../../src/rollout/index.js';
import { RolloutSim } from './sim.js';

function rev(name: string, revisionNumber: number, replicas: number, total = replicas, terminating = 0): RevisionState {
  return { name, revisionNumber, replicas, pods: { total, ready: total, available: total, terminating } };
}

function input(newRevision: RevisionState, oldRevisions: RevisionState[]): RolloutInput {
  return {
    strategy: { type: 'Recreate' },
    replicas: 3,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
    paused: false,
    now: 10_000,
    lastProgressAt: 10_000,
    newRevision,
    oldRevisions,
  };
}

describe('recreate (Kubernetes recreate.go)', () => {
  it('scales every old revision to 0 first', () => {
    const d = recreate(input(rev('c', 3, 0), [rev('b', 2, 2), rev('a', 1, 1)]));
    expect(d.scale).toEqual([
      { revision: 'a', replicas: 0 },
      { revision: 'b', replicas: 0 },
    ]);
  });

  it('waits while any old pod exists, terminating ones included', () => {
    expect(recreate(input(rev('b', 2, 0), [rev('a', 1, 0, 1)])).scale).toEqual([]);
    expect(recreate(input(rev('b', 2, 0), [rev('a', 1, 0, 0, 2)])).scale).toEqual([]);
  });

  it('then scales the new revision to the desired replicas', () => {
    expect(recreate(input(rev('b', 2, 0), [rev('a', 1, 0, 0)])).scale).toEqual([{ revision: 'b', replicas: 3 }]);
  });

  it('never runs old and new pods together, start to finish', () => {
    for (const termination of [0, 1, 5]) {
      const sim = new RolloutSim({ strategy: { type: 'Recreate' }, replicas: 4, terminationSeconds: termination, seed: termination });
      let phase = '';
      let steps = 0;
      for (; steps < 200 && phase !== 'Healthy'; steps++) {
        phase = sim.step().phase;
        const seen = sim.input();
        const oldPods = seen.oldRevisions[0].pods.total + seen.oldRevisions[0].pods.terminating;
        const newPods = seen.newRevision.pods.total + seen.newRevision.pods.terminating;
        expect(oldPods === 0 || newPods === 0, `step ${steps}: old ${oldPods}, new ${newPods}`).toBe(true);
        sim.tick();
      }
      expect(phase).toBe('Healthy');
      expect(sim.input().newRevision.pods.available).toBe(4);
    }
  });

  it('is selected by the registry for type Recreate', () => {
    const d = nextRolloutAction(input(rev('b', 2, 0), [rev('a', 1, 3)]));
    expect(d.scale).toEqual([{ revision: 'a', replicas: 0 }]);
  });
});
