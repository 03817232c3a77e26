// Pod topology spread constraints, against the examples of kubernetes.io's "Pod Topology Spread
// Constraints" page: the four-node, two-zone cluster with one and with two constraints, the
// conflicting pair, nodeAffinityPolicy, nodeTaintsPolicy and minDomains.
import { describe, expect, it } from 'vitest';
import { Scheduler, seededRandom } from '../../src/scheduler/index.js';
import type { NodeInfo, PodRequest, TopologySpreadConstraint } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;

function node(name: string, zone: string | undefined, extra: Partial<NodeInfo> = {}): NodeInfo {
  const labels: Record<string, string> = { node: name };
  if (zone !== undefined) labels.zone = zone;
  return { name, labels, allocatable: { cpu: 8000, memory: 16 * GiB }, ...extra };
}

const c = (topologyKey: string, extra: Partial<TopologySpreadConstraint> = {}): TopologySpreadConstraint => ({
  maxSkew: 1,
  topologyKey,
  whenUnsatisfiable: 'DoNotSchedule',
  labelSelector: { matchLabels: { foo: 'bar' } },
  ...extra,
});

let n = 0;
function pod(extra: Partial<PodRequest> = {}): PodRequest {
  return { id: `default/p${n++}`, labels: { foo: 'bar' }, cpu: 100, memory: 64 * 1024 * 1024, ...extra };
}

/** Every node the pod can be put on over many tie-break seeds. */
function landing(build: () => Scheduler, p: PodRequest): string[] | string {
  const out = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const s = build();
    (s as unknown as { random: () => number }).random = seededRandom(seed);
    const d = s.schedule(p);
    if (!d.fits) return d.reason;
    out.add(d.node);
  }
  return [...out].sort();
}

function cluster(nodes: NodeInfo[], pods: Record<string, number>, labels: Record<string, string> = { foo: 'bar' }): () => Scheduler {
  return () => {
    const s = new Scheduler({ nodes, random: seededRandom(1) });
    for (const [nodeName, count] of Object.entries(pods)) for (let i = 0; i < count; i++) s.assume(pod({ labels }), nodeName);
    return s;
  };
}

const fourNodes = [node('node1', 'zoneA'), node('node2', 'zoneA'), node('node3', 'zoneB'), node('node4', 'zoneB')];

describe('topology spread: DoNotSchedule', () => {
  it('one constraint: 2/1 across zones sends the pod to zoneB', () => {
    const build = cluster(fourNodes, { node1: 1, node2: 1, node3: 1 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone')] }))).toEqual(['node3', 'node4']);
  });

  it('two constraints (zone and node) leave only node4', () => {
    const build = cluster(fourNodes, { node1: 1, node2: 1, node3: 1 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone'), c('node')] }))).toEqual(['node4']);
  });

  it('conflicting constraints keep the pod pending, naming the constraint', () => {
    const nodes = [node('node1', 'zoneA'), node('node2', 'zoneA'), node('node3', 'zoneB')];
    const build = cluster(nodes, { node1: 2, node2: 1, node3: 2 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone'), c('node')] }))).toBe(
      "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints.",
    );
  });

  it('counts only pods its selector matches, in its own namespace', () => {
    const build = (): Scheduler => {
      const s = cluster(fourNodes, { node1: 1, node2: 1, node3: 1 })();
      for (let i = 0; i < 5; i++) s.assume(pod({ labels: { foo: 'other' } }), 'node4');
      for (let i = 0; i < 5; i++) s.assume(pod({ id: `other/q${i}`, namespace: 'other' }), 'node3');
      return s;
    };
    // zoneB: node3 holds five pods of another namespace, node4 five with other labels; neither counts.
    const got = landing(build, pod({ topologySpreadConstraints: [c('zone')] }));
    expect(Array.isArray(got) && got.every((x) => x === 'node3' || x === 'node4')).toBe(true);
  });

  it('a node without the topology key fails with the missing-label reason', () => {
    const nodes = [node('node1', 'zoneA'), node('bare', undefined)];
    const build = cluster(nodes, { node1: 1 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone', { maxSkew: 2 })] }))).toEqual(['node1']);
    expect(landing(cluster([node('bare', undefined)], {}), pod({ topologySpreadConstraints: [c('zone')] }))).toBe(
      "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).",
    );
  });

  it('nodeAffinityPolicy Honor leaves out the zone the pod may not go to; Ignore counts it', () => {
    const nodes = [...fourNodes, node('node5', 'zoneC')];
    const build = cluster(nodes, { node1: 1, node3: 1 });
    const notC = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn' as const, values: ['zoneC'] }] }] } } };
    expect(landing(build, pod({ affinity: notC, topologySpreadConstraints: [c('zone')] }))).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(landing(build, pod({ affinity: notC, topologySpreadConstraints: [c('zone', { nodeAffinityPolicy: 'Ignore' })] }))).toBe(
      "0/5 nodes are available: 4 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match Pod's node affinity/selector.",
    );
  });

  it('nodeTaintsPolicy Honor leaves out a zone whose taints the pod does not tolerate; Ignore (default) counts it', () => {
    const tainted = { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const }] };
    const nodes = [node('node1', 'zoneA'), node('node3', 'zoneB'), node('node5', 'zoneC', tainted)];
    const build = cluster(nodes, { node1: 1, node3: 1 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone', { nodeTaintsPolicy: 'Honor' })] }))).toEqual(['node1', 'node3']);
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone')] }))).toMatch(/2 node\(s\) didn't match pod topology spread constraints/);
  });

  it('minDomains: fewer eligible domains than asked makes the global minimum 0', () => {
    const build = cluster(fourNodes, { node1: 1, node3: 1 });
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone')] }))).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone', { minDomains: 3 })] }))).toBe(
      "0/4 nodes are available: 4 node(s) didn't match pod topology spread constraints.",
    );
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone', { minDomains: 3, maxSkew: 2 })] }))).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('matchLabelKeys adds the incoming pod\'s own label values to the selector', () => {
    const build = (): Scheduler => {
      const s = cluster(fourNodes, { node1: 1, node2: 1 }, { foo: 'bar', rev: 'v1' })();
      s.assume(pod({ labels: { foo: 'bar', rev: 'v2' } }), 'node3');
      return s;
    };
    // Counting every foo=bar pod: zoneA 2, zoneB 1 → zoneB. Counting rev=v1 only: zoneA 2, zoneB 0 → zoneB too,
    // but counting rev=v2 only: zoneA 0, zoneB 1 → zoneA.
    expect(landing(build, pod({ labels: { foo: 'bar', rev: 'v2' }, topologySpreadConstraints: [c('zone', { matchLabelKeys: ['rev'] })] }))).toEqual(['node1', 'node2']);
  });
});

describe('topology spread: ScheduleAnyway', () => {
  const only = { leastAllocated: 0, balancedAllocation: 0, spread: 0, nodeAffinity: 0, taintToleration: 0, interPodAffinity: 0, topologySpread: 1 };

  it('prefers the emptier domain but still schedules when every domain is over the skew', () => {
    const build = (): Scheduler => {
      const s = new Scheduler({ nodes: fourNodes, random: seededRandom(1), weights: only });
      for (let i = 0; i < 4; i++) s.assume(pod(), 'node1');
      s.assume(pod(), 'node3');
      return s;
    };
    expect(landing(build, pod({ topologySpreadConstraints: [c('zone', { whenUnsatisfiable: 'ScheduleAnyway' })] }))).toEqual(['node3', 'node4']);
    const full = (): Scheduler => {
      const s = new Scheduler({ nodes: [node('node1', 'zoneA')], random: seededRandom(1), weights: only });
      for (let i = 0; i < 4; i++) s.assume(pod(), 'node1');
      return s;
    };
    expect(landing(full, pod({ topologySpreadConstraints: [c('zone', { whenUnsatisfiable: 'ScheduleAnyway' })] }))).toEqual(['node1']);
  });

  it('spreads a group evenly over three zones as it is placed', () => {
    const nodes = ['a', 'b', 'c'].flatMap((z) => [node(`${z}1`, z), node(`${z}2`, z)]);
    const s = new Scheduler({ nodes, random: seededRandom(3) });
    const perZone: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 30; i++) {
      const p = pod({ topologySpreadConstraints: [c('zone', { whenUnsatisfiable: 'ScheduleAnyway' })] });
      const d = s.schedule(p);
      if (!d.fits) throw new Error(d.reason);
      s.assume(p, d.node);
      perZone[d.node[0]]++;
    }
    expect(perZone).toEqual({ a: 10, b: 10, c: 10 });
  });
});
