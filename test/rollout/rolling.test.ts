import { describe, expect, it } from 'vitest';
import { maxSurgeFor, maxUnavailableFor, rollingUpdate } from '../../src/rollout/index.js';
import type { IntOrPercent, RevisionState, RolloutInput, StrategySpec } from '../../src/rollout/index.js';
import { RolloutSim } from './sim.js';

function rev(name: string, revisionNumber: number, replicas: number, total = replicas, available = total, ready = available): RevisionState {
  return { name, revisionNumber, replicas, pods: { total, ready, available, terminating: 0 } };
}

function input(partial: Partial<RolloutInput> & Pick<RolloutInput, 'newRevision' | 'oldRevisions'>): RolloutInput {
  return {
    strategy: { type: 'RollingUpdate' },
    replicas: 10,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
    paused: false,
    now: 100_000,
    lastProgressAt: 100_000,
    ...partial,
  };
}

describe('one pass of a rolling update (Kubernetes rolling.go)', () => {
  it('first scales the new revision up to the surge limit', () => {
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 0), oldRevisions: [rev('a', 1, 10)] }));
    expect(d.scale).toEqual([{ revision: 'b', replicas: 3 }]);
    expect(d.phase).toBe('Progressing');
  });

  it('then scales old down, counting the new revision’s unavailable pods against the budget', () => {
    // 13 desired, min available 8, 3 new pods not yet available → at most 2 old pods may go.
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 3, 3, 0), oldRevisions: [rev('a', 1, 10)] }));
    expect(d.scale).toEqual([{ revision: 'a', replicas: 8 }]);
  });

  it('never scales up and down in the same pass', () => {
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 3, 3, 3), oldRevisions: [rev('a', 1, 8)] }));
    expect(d.scale).toEqual([{ revision: 'b', replicas: 5 }]);
  });

  it('does nothing while availability is at the floor and surge is used up', () => {
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 5, 5, 0), oldRevisions: [rev('a', 1, 8)] }));
    expect(d.scale).toEqual([]);
  });

  it('scales down unhealthy old replicas first, oldest revision first', () => {
    // maxSurge 0, maxUnavailable 1: min available 9. The oldest revision has 2 unhealthy pods.
    const strategy: StrategySpec = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
    const d = rollingUpdate(
      input({
        strategy,
        newRevision: rev('c', 3, 0),
        oldRevisions: [rev('b', 2, 6, 6, 6), rev('a', 1, 4, 4, 2)],
      }),
    );
    // allDesired 10 - minAvailable 9 - newUnavailable 0 = 1 cleanup; availability 8 ≤ 9 so no more.
    expect(d.scale).toEqual([{ revision: 'a', replicas: 3 }]);
  });

  it('cleans up unhealthy replicas up to the budget, then scales down healthy ones', () => {
    // 10 replicas 25%/25%: new has 3 available of 3; old has 10 desired, 8 available.
    // maxScaledDown = 13 - 8 - 0 = 5: 2 unhealthy go first; then available 11 - 8 = 3 more.
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 3, 3, 3), oldRevisions: [rev('a', 1, 10, 10, 8)] }));
    expect(d.scale).toEqual([{ revision: 'a', replicas: 5 }]);
  });

  it('scales a new revision above the desired count down to it', () => {
    const d = rollingUpdate(input({ replicas: 4, newRevision: rev('b', 2, 6), oldRevisions: [] }));
    expect(d.scale).toEqual([{ revision: 'b', replicas: 4 }]);
  });

  it('reports Healthy when every replica is updated and available and no old pod is left', () => {
    const d = rollingUpdate(input({ newRevision: rev('b', 2, 10), oldRevisions: [rev('a', 1, 0, 0)] }));
    expect(d).toMatchObject({ scale: [], phase: 'Healthy', reason: 'NewRevisionAvailable' });
    expect(d.status).toEqual({ replicas: 10, updatedReplicas: 10, readyReplicas: 10, availableReplicas: 10, unavailableReplicas: 0 });
    const terminating = rollingUpdate(
      input({ newRevision: rev('b', 2, 10), oldRevisions: [{ ...rev('a', 1, 0, 0), pods: { total: 0, ready: 0, available: 0, terminating: 1 } }] }),
    );
    expect(terminating.phase).toBe('Progressing');
    expect(terminating.message).toBe('Waiting for rollout to finish: 1 old replicas are pending termination...');
  });
});

interface SimCase {
  replicas: number;
  surge: IntOrPercent;
  unavailable: IntOrPercent;
  minReadySeconds: number;
}

const simCases: SimCase[] = [];
for (const replicas of [1, 2, 3, 5, 10, 17]) {
  for (const [surge, unavailable] of [
    ['25%', '25%'],
    [0, 1],
    [1, 0],
    ['0%', '0%'],
    ['50%', '0%'],
    [2, 3],
    ['100%', '0%'],
    [0, '100%'],
    ['10%', '40%'],
  ] as Array<[IntOrPercent, IntOrPercent]>) {
    for (const minReadySeconds of [0, 3]) simCases.push({ replicas, surge, unavailable, minReadySeconds });
  }
}

describe('rolling update simulation', () => {
  for (const c of simCases) {
    it(`${c.replicas} replicas, surge ${c.surge}, unavailable ${c.unavailable}, minReady ${c.minReadySeconds}s: stays within bounds to completion`, () => {
      const strategy: StrategySpec = { type: 'RollingUpdate', rollingUpdate: { maxSurge: c.surge, maxUnavailable: c.unavailable } };
      const sim = new RolloutSim({ strategy, replicas: c.replicas, minReadySeconds: c.minReadySeconds, seed: c.replicas * 31 + c.minReadySeconds });
      const floor = c.replicas - maxUnavailableFor(strategy, c.replicas);
      const ceiling = c.replicas + maxSurgeFor(strategy, c.replicas);
      let phase = '';
      let steps = 0;
      for (; steps < 1000 && phase !== 'Healthy'; steps++) {
        const d = sim.step();
        phase = d.phase;
        expect(d.scale.length).toBeLessThanOrEqual(1);
        const seen = sim.input();
        const live = seen.newRevision.pods.total + seen.oldRevisions[0].pods.total;
        const available = seen.newRevision.pods.available + seen.oldRevisions[0].pods.available;
        expect(live, `step ${steps}: pods`).toBeLessThanOrEqual(ceiling);
        expect(available, `step ${steps}: available`).toBeGreaterThanOrEqual(floor);
        expect(seen.newRevision.replicas + seen.oldRevisions[0].replicas).toBeLessThanOrEqual(ceiling);
        sim.tick();
      }
      expect(phase).toBe('Healthy');
      const end = sim.input();
      expect(end.newRevision.pods).toMatchObject({ total: c.replicas, available: c.replicas });
      expect(end.oldRevisions[0].replicas).toBe(0);
      expect(end.oldRevisions[0].pods.total + end.oldRevisions[0].pods.terminating).toBe(0);
    });
  }

  it('with maxUnavailable 0 keeps every replica available throughout', () => {
    const strategy: StrategySpec = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    const sim = new RolloutSim({ strategy, replicas: 6, minReadySeconds: 2, seed: 5 });
    let phase = '';
    for (let i = 0; i < 500 && phase !== 'Healthy'; i++) {
      phase = sim.step().phase;
      const seen = sim.input();
      expect(seen.newRevision.pods.available + seen.oldRevisions[0].pods.available).toBeGreaterThanOrEqual(6);
      expect(seen.newRevision.pods.total + seen.oldRevisions[0].pods.total).toBeLessThanOrEqual(7);
      sim.tick();
    }
    expect(phase).toBe('Healthy');
  });

  it('removes unhealthy old pods first without losing availability', () => {
    const strategy: StrategySpec = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
    const sim = new RolloutSim({ strategy, replicas: 5, unhealthyOld: 2, seed: 9 });
    const first = sim.step();
    // min available 4 but only 3 are: the only move is dropping an unhealthy old pod.
    expect(first.scale).toEqual([{ revision: 'web-old', replicas: 4 }]);
    expect(sim.input().oldRevisions[0].pods.available).toBe(3);
    let phase = first.phase;
    for (let i = 0; i < 500 && phase !== 'Healthy'; i++) {
      sim.tick();
      phase = sim.step().phase;
    }
    expect(phase).toBe('Healthy');
  });
});
