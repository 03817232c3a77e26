import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { Scheduler, numFeasibleNodesToFind, seededRandom } from '../../src/scheduler/index.js';
import type { NodeInfo, PodRequest, ScoreWeights } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;
const NONE: ScoreWeights = { leastAllocated: 0, balancedAllocation: 0, spread: 0, nodeAffinity: 0, taintToleration: 0, interPodAffinity: 0, topologySpread: 0 };

function node(name: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return { name, allocatable: { cpu: 4000, memory: 8 * GiB }, ...extra };
}

function pod(id: string, extra: Partial<PodRequest> = {}): PodRequest {
  return { id, cpu: 100, memory: 128 * 1024 * 1024, ...extra };
}

function nodes(count: number, extra: Partial<NodeInfo> = {}): NodeInfo[] {
  return Array.from({ length: count }, (_, i) => node(`n${i}`, extra));
}

/** Schedules and assumes each pod in turn, returning where each went. */
function placeAll(s: Scheduler, pods: PodRequest[]): string[] {
  return pods.map((p) => {
    const d = s.schedule(p);
    if (!d.fits) throw new Error(d.reason);
    s.assume(p, d.node);
    return d.node;
  });
}

describe('numFeasibleNodesToFind', () => {
  const cases: Array<[number, number, number]> = [
    [0, 0, 0],
    [50, 0, 50],
    [99, 0, 99],
    [100, 0, 100],
    [200, 0, 100], // 49% is 98, raised to the 100-node floor
    [1000, 0, 420], // 50 - 8 = 42%
    [1500, 0, 570], // 50 - 12 = 38%
    [5000, 0, 500], // 50 - 40 = 10%
    [6000, 0, 300], // 50 - 48 = 2%, raised to 5%
    [10000, 0, 500], // 5%
    [1000, 30, 300],
    [1000, 5, 100], // explicit 5% of 1000 is 50, raised to the floor
    [5000, 100, 5000],
  ];
  for (const [all, pct, want] of cases) {
    it(`${all} nodes at ${pct || 'adaptive'}% → ${want}`, () => expect(numFeasibleNodesToFind(all, pct)).toBe(want));
  }
});

describe('sampling', () => {
  it('stops after enough feasible nodes and starts the next pod where the last one stopped', () => {
    const s = new Scheduler({ nodes: nodes(1000), random: seededRandom(7) });
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const d = s.schedule(pod(`p${i}`));
      expect(d).toMatchObject({ fits: true, evaluatedNodes: 420, feasibleNodes: 420 });
      if (d.fits) seen.add(d.node);
    }
    // Windows of 420 rotate through the list: the third pod's window wraps past the end.
    expect(seen.size).toBe(5);
  });

  it('still finds a single feasible node anywhere, and checks every node before giving up', () => {
    const list = nodes(1000);
    list[637] = node('n637', { labels: { gpu: 'yes' } });
    const s = new Scheduler({ nodes: list, random: seededRandom(7) });
    for (let i = 0; i < 3; i++) {
      expect(s.schedule(pod(`g${i}`, { nodeSelector: { gpu: 'yes' } }))).toMatchObject({ fits: true, node: 'n637', feasibleNodes: 1 });
    }
    const d = s.schedule(pod('x', { nodeSelector: { gpu: 'no' } }));
    expect(d).toMatchObject({ fits: false, evaluatedNodes: 1000 });
    if (!d.fits) expect(d.reason).toBe("0/1000 nodes are available: 1000 node(s) didn't match Pod's node affinity/selector.");
  });

  it('scores every node at percentageOfNodesToScore 100', () => {
    const s = new Scheduler({ nodes: nodes(1000), random: seededRandom(7), percentageOfNodesToScore: 100 });
    expect(s.schedule(pod('p'))).toMatchObject({ evaluatedNodes: 1000, feasibleNodes: 1000 });
  });
});

describe('scores', () => {
  it('LeastAllocated prefers the emptier node', () => {
    const s = new Scheduler({
      nodes: [node('a'), node('b')],
      pods: [{ ...pod('x', { cpu: 2000, memory: 4 * GiB }), node: 'a' }],
      random: seededRandom(1),
      weights: { ...NONE, leastAllocated: 1 },
    });
    expect(s.schedule(pod('p'))).toMatchObject({ fits: true, node: 'b' });
  });

  it('BalancedAllocation prefers the node where cpu and memory stay even', () => {
    // On a, the pod brings cpu to 50% and memory to 50%; on b, cpu 50% and memory 10%.
    const s = new Scheduler({
      nodes: [node('a', { allocatable: { cpu: 4000, memory: 4 * GiB } }), node('b', { allocatable: { cpu: 4000, memory: 20 * GiB } })],
      random: seededRandom(1),
      weights: { ...NONE, balancedAllocation: 1 },
    });
    expect(s.schedule(pod('p', { cpu: 2000, memory: 2 * GiB }))).toMatchObject({ node: 'a', score: 100 });
  });

  it('spreads the pods of one owner across nodes', () => {
    const s = new Scheduler({ nodes: nodes(3), random: seededRandom(3), weights: { ...NONE, spread: 1 } });
    const placed = placeAll(s, Array.from({ length: 9 }, (_, i) => pod(`web-${i}`, { owner: 'default/web' })));
    const perNode = new Map<string, number>();
    for (const n of placed) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([3, 3, 3]);
  });

  it('spreads a large owner evenly too (counts kept per node slot)', () => {
    const s = new Scheduler({ nodes: nodes(40), random: seededRandom(4), weights: { ...NONE, spread: 1 } });
    const placed = placeAll(s, Array.from({ length: 120 }, (_, i) => pod(`big-${i}`, { owner: 'default/big' })));
    const perNode = new Map<string, number>();
    for (const n of placed) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    expect(perNode.size).toBe(40);
    expect(new Set(perNode.values())).toEqual(new Set([3]));
    for (let i = 0; i < 40; i++) s.forget(`big-${i}`);
    // After forgetting, the nodes that lost pods are preferred again.
    const next = s.schedule(pod('big-again', { owner: 'default/big' }));
    expect(next.fits && placed.slice(0, 40).includes(next.node)).toBe(true);
  });

  it('does not carry an owner count over to a node that takes a removed node’s place', () => {
    const s = new Scheduler({ nodes: nodes(2), random: seededRandom(4), weights: { ...NONE, spread: 1 } });
    s.assume(pod('w0', { owner: 'web' }), 'n0');
    s.assume(pod('w1', { owner: 'web' }), 'n1');
    s.assume(pod('w2', { owner: 'web' }), 'n1');
    s.removeNode('n1');
    s.upsertNode(node('n2'));
    expect(s.allocated('n2')).toEqual({ cpu: 0, memory: 0, pods: 0 });
    expect(s.schedule(pod('w3', { owner: 'web' }))).toMatchObject({ node: 'n2' });
  });

  it('counts only pods of the same owner for spreading', () => {
    const s = new Scheduler({
      nodes: nodes(2),
      pods: [
        { ...pod('api-0', { owner: 'default/api' }), node: 'n0' },
        { ...pod('web-0', { owner: 'default/web' }), node: 'n1' },
        { ...pod('web-1', { owner: 'default/web' }), node: 'n1' },
      ],
      random: seededRandom(3),
      weights: { ...NONE, spread: 1 },
    });
    expect(s.schedule(pod('api-1', { owner: 'default/api' }))).toMatchObject({ node: 'n1' });
    expect(s.schedule(pod('web-2', { owner: 'default/web' }))).toMatchObject({ node: 'n0' });
  });

  it('follows preferred node affinity by weight', () => {
    const s = new Scheduler({
      nodes: [node('a', { labels: { disk: 'ssd' } }), node('b', { labels: { zone: 'z1' } }), node('c')],
      random: seededRandom(1),
      weights: { ...NONE, nodeAffinity: 1 },
    });
    const prefer = (ssd: number, z1: number): PodRequest =>
      pod('p', {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: ssd, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
              { weight: z1, preference: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] } },
            ],
          },
        },
      });
    expect(s.schedule(prefer(80, 20))).toMatchObject({ node: 'a', score: 100 });
    expect(s.schedule(prefer(10, 90))).toMatchObject({ node: 'b', score: 100 });
  });

  it('avoids nodes with PreferNoSchedule taints the pod does not tolerate', () => {
    const soft = { taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' as const }] };
    const s = new Scheduler({
      nodes: [node('a', soft), node('b', soft), node('c'), node('d', soft)],
      random: seededRandom(1),
      weights: { ...NONE, taintToleration: 1 },
    });
    for (let i = 0; i < 10; i++) expect(s.schedule(pod(`p${i}`))).toMatchObject({ node: 'c' });
    // Tolerated, the taint no longer counts: all four tie.
    const tolerant = pod('t', { tolerations: [{ key: 'spot', operator: 'Exists' }] });
    const chosen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const d = s.schedule({ ...tolerant, id: `t${i}` });
      if (d.fits) chosen.add(d.node);
    }
    expect(chosen.size).toBe(4);
  });

  it('weighs the scores: spread (weight 2) beats a small LeastAllocated difference (weight 1)', () => {
    const s = new Scheduler({
      nodes: [node('a'), node('b')],
      pods: [
        { ...pod('w0', { owner: 'web' }), node: 'a' },
        { ...pod('x', { cpu: 400 }), node: 'b' },
      ],
      random: seededRandom(1),
    });
    expect(s.schedule(pod('w1', { owner: 'web' }))).toMatchObject({ node: 'b' });
  });
});

describe('ties', () => {
  it('breaks ties with the injected random: the same seed gives the same choices', () => {
    const run = (seed: number): string[] => {
      const s = new Scheduler({ nodes: nodes(20), random: seededRandom(seed) });
      return placeAll(s, Array.from({ length: 30 }, (_, i) => pod(`p${i}`)));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('draws uniformly among the tied nodes', () => {
    const s = new Scheduler({ nodes: nodes(4), random: seededRandom(9) });
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const d = s.schedule(pod(`p${i}`));
      if (d.fits) counts.set(d.node, (counts.get(d.node) ?? 0) + 1);
    }
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(100);
  });
});

describe('cluster view', () => {
  it('accounts for assumed pods, moves a re-assumed pod and releases forgotten ones', () => {
    const s = new Scheduler({ nodes: [node('a'), node('b')], random: seededRandom(1) });
    const p = pod('p', { cpu: 1000, memory: GiB, owner: 'web' });
    s.assume(p, 'a');
    expect(s.allocated('a')).toEqual({ cpu: 1000, memory: GiB, pods: 1 });
    s.assume(p, 'b');
    expect(s.allocated('a')).toEqual({ cpu: 0, memory: 0, pods: 0 });
    expect(s.allocated('b')).toEqual({ cpu: 1000, memory: GiB, pods: 1 });
    expect(s.nodeOf('p')).toBe('b');
    expect(s.forget(p)).toBe(true);
    expect(s.forget('p')).toBe(false);
    expect(s.allocated('b')).toEqual({ cpu: 0, memory: 0, pods: 0 });
    expect(s.allocated('zzz')).toBeUndefined();
  });

  it('refuses to assume onto a node it does not know', () => {
    const s = new Scheduler({ nodes: [node('a')], random: seededRandom(1) });
    let err: unknown;
    try {
      s.assume(pod('p'), 'ghost');
    } catch (e) {
      err = e;
    }
    expect(isCapstanError(err, 'CAPSTAN_ERR_SCHEDULER_UNKNOWN_NODE')).toBe(true);
    expect((err as { context: Record<string, unknown> }).context).toEqual({ node: 'ghost', pod: 'p' });
  });

  it('lets a batch of decisions account for its own earlier choices', () => {
    const s = new Scheduler({ nodes: nodes(10, { allocatable: { cpu: 1000, memory: GiB } }), random: seededRandom(5) });
    const placed = placeAll(s, Array.from({ length: 10 }, (_, i) => pod(`p${i}`, { cpu: 1000, memory: 1 })));
    expect(new Set(placed).size).toBe(10);
    const d = s.schedule(pod('late', { cpu: 1000, memory: 1 }));
    expect(d).toMatchObject({ fits: false, reason: '0/10 nodes are available: 10 Insufficient cpu.' });
    s.forget('p3');
    expect(s.schedule(pod('late', { cpu: 1000, memory: 1 }))).toMatchObject({ fits: true, node: placed[3] });
  });

  it('keeps allocations when a node is updated, and forgets its pods when it is removed', () => {
    const s = new Scheduler({ nodes: [node('a'), node('b')], random: seededRandom(1) });
    s.assume(pod('p', { cpu: 3000, owner: 'web' }), 'a');
    s.upsertNode(node('a', { unschedulable: true }));
    expect(s.allocated('a')).toMatchObject({ cpu: 3000, pods: 1 });
    expect(s.schedule(pod('q'))).toMatchObject({ node: 'b' });
    s.upsertNode(node('a'));
    // Spreading still sees web's pod on the replaced node.
    const spread = new Scheduler({ nodes: [node('a'), node('b')], random: seededRandom(1), weights: { ...NONE, spread: 1 } });
    spread.assume(pod('w0', { owner: 'web' }), 'a');
    spread.upsertNode(node('a', { labels: { new: 'label' } }));
    expect(spread.schedule(pod('w1', { owner: 'web' }))).toMatchObject({ node: 'b' });
    expect(s.removeNode('a')).toBe(true);
    expect(s.removeNode('a')).toBe(false);
    expect(s.nodeOf('p')).toBeUndefined();
    expect(s.nodeCount).toBe(1);
  });

  it('places a large batch without overcommitting any node', () => {
    const list = Array.from({ length: 150 }, (_, i) =>
      node(`n${i}`, { allocatable: { cpu: 2000 + (i % 3) * 1000, memory: 4 * GiB, pods: 20 } }),
    );
    const s = new Scheduler({ nodes: list, random: seededRandom(11) });
    const rand = seededRandom(12);
    let placed = 0;
    for (let i = 0; i < 2000; i++) {
      const p = pod(`p${i}`, { owner: `app-${i % 17}`, cpu: 50 + Math.floor(rand() * 400), memory: Math.floor(rand() * 512) * 1024 * 1024 });
      const d = s.schedule(p);
      if (d.fits) {
        s.assume(p, d.node);
        placed++;
      }
    }
    expect(placed).toBeGreaterThan(500);
    for (const n of list) {
      const a = s.allocated(n.name)!;
      expect(a.cpu).toBeLessThanOrEqual(n.allocatable.cpu);
      expect(a.memory).toBeLessThanOrEqual(n.allocatable.memory);
      expect(a.pods).toBeLessThanOrEqual(20);
    }
  });
});
