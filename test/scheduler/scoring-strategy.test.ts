// NodeResourcesFit scoring strategies (kube-scheduler's scoringStrategy): LeastAllocated
// spreads, MostAllocated and RequestedToCapacityRatio pack, resources weighted per kind; the
// worked example follows kubernetes.io's "Resource Bin Packing" page.
import { describe, expect, it } from 'vitest';
import { Scheduler, compileScoringStrategy, seededRandom } from '../../src/scheduler/index.js';
import type { NodeInfo, ScoringStrategy } from '../../src/scheduler/index.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const FIT_ONLY = { leastAllocated: 1, balancedAllocation: 0, spread: 0, nodeAffinity: 0, taintToleration: 0, interPodAffinity: 0, topologySpread: 0 };

function cluster(strategy?: ScoringStrategy): Scheduler {
  const nodes: NodeInfo[] = [
    { name: 'empty', allocatable: { cpu: 8000, memory: 8 * GiB } },
    { name: 'busy', allocatable: { cpu: 8000, memory: 8 * GiB } },
  ];
  const s = new Scheduler({ nodes, random: seededRandom(1), weights: FIT_ONLY, scoringStrategy: strategy });
  s.assume({ id: 'default/load', cpu: 6000, memory: 6 * GiB }, 'busy');
  return s;
}

const small = { id: 'default/new', cpu: 500, memory: 256 * MiB };

describe('scoring strategies', () => {
  it('LeastAllocated (the default) picks the emptier node; MostAllocated the fuller', () => {
    expect(cluster().schedule(small)).toMatchObject({ fits: true, node: 'empty' });
    expect(cluster({ type: 'LeastAllocated' }).schedule(small)).toMatchObject({ fits: true, node: 'empty' });
    expect(cluster({ type: 'MostAllocated' }).schedule(small)).toMatchObject({ fits: true, node: 'busy' });
  });

  it('RequestedToCapacityRatio follows its shape: rising packs, falling spreads', () => {
    const rising = { shape: [{ utilization: 0, score: 0 }, { utilization: 100, score: 10 }] };
    const falling = { shape: [{ utilization: 0, score: 10 }, { utilization: 100, score: 0 }] };
    expect(cluster({ type: 'RequestedToCapacityRatio', requestedToCapacityRatio: rising }).schedule(small)).toMatchObject({ node: 'busy' });
    expect(cluster({ type: 'RequestedToCapacityRatio', requestedToCapacityRatio: falling }).schedule(small)).toMatchObject({ node: 'empty' });
  });

  it('scores the bin-packing page example: cpu 3/8 and memory 512Mi/1Gi with weights 3 and 1 give 40', () => {
    // Node: 8 cpus and 1 GiB, 1 cpu and 256 MiB used; the pod asks 2 cpus and 256 MiB.
    // cpu 3/8 = 37% → 37, memory 50% → 50; (37 x 3 + 50 x 1) / 4 = 40 (integer arithmetic).
    const s = new Scheduler({
      nodes: [{ name: 'n1', allocatable: { cpu: 8000, memory: GiB } }],
      random: seededRandom(1),
      weights: FIT_ONLY,
      scoringStrategy: {
        type: 'RequestedToCapacityRatio',
        resources: [{ name: 'cpu', weight: 3 }, { name: 'memory', weight: 1 }],
        requestedToCapacityRatio: { shape: [{ utilization: 0, score: 0 }, { utilization: 100, score: 10 }] },
      },
    });
    s.assume({ id: 'default/used', cpu: 1000, memory: 256 * MiB }, 'n1');
    expect(s.schedule({ id: 'default/p', cpu: 2000, memory: 256 * MiB })).toMatchObject({ fits: true, score: 40 });
  });

  it('weighs resources: with memory alone counted, a node short of memory but free of cpu loses under LeastAllocated', () => {
    const nodes: NodeInfo[] = [
      { name: 'cpu-free', allocatable: { cpu: 8000, memory: 8 * GiB } },
      { name: 'mem-free', allocatable: { cpu: 8000, memory: 8 * GiB } },
    ];
    const make = (strategy: ScoringStrategy): Scheduler => {
      const s = new Scheduler({ nodes, random: seededRandom(1), weights: FIT_ONLY, scoringStrategy: strategy });
      s.assume({ id: 'default/a', cpu: 0, memory: 6 * GiB }, 'cpu-free');
      s.assume({ id: 'default/b', cpu: 7000, memory: 0 }, 'mem-free');
      return s;
    };
    expect(make({ type: 'LeastAllocated', resources: [{ name: 'memory', weight: 1 }] }).schedule(small)).toMatchObject({ node: 'mem-free' });
    expect(make({ type: 'LeastAllocated', resources: [{ name: 'cpu', weight: 1 }] }).schedule(small)).toMatchObject({ node: 'cpu-free' });
  });

  it('refuses a bad strategy, naming the field', () => {
    expect(() => compileScoringStrategy({ type: 'Spread' as never })).toThrow(/scoringStrategy\.type: unknown strategy "Spread"/);
    expect(() => compileScoringStrategy({ type: 'RequestedToCapacityRatio' })).toThrow(/scoringStrategy\.requestedToCapacityRatio\.shape/);
    expect(() => compileScoringStrategy({ type: 'MostAllocated', resources: [{ name: 'gpu' as never, weight: 1 }] })).toThrow(/resources\[0\]\.name/);
    expect(() =>
      compileScoringStrategy({ type: 'RequestedToCapacityRatio', requestedToCapacityRatio: { shape: [{ utilization: 50, score: 1 }, { utilization: 20, score: 2 }] } }),
    ).toThrow(/shape\[1\]\.utilization: utilizations must increase/);
  });
});
