// Preemption, as kubernetes.io's "Pod Priority and Preemption" page and kube-scheduler's
// DefaultPreemption describe it: only lower-priority pods are evicted, as few and as unimportant
// as possible, PodDisruptionBudgets honoured when another node allows it, preemptionPolicy Never
// respected, and nodes where eviction cannot help never chosen.
import { describe, expect, it } from 'vitest';
import { Scheduler, numCandidates, seededRandom } from '../../src/scheduler/index.js';
import type { BoundPod, NodeInfo, PodRequest } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;

function node(name: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return { name, labels: { 'kubernetes.io/hostname': name }, allocatable: { cpu: 4000, memory: 8 * GiB }, ...extra };
}

function bound(id: string, nodeName: string, cpu: number, priority: number, extra: Partial<BoundPod> = {}): BoundPod {
  return { id: `default/${id}`, node: nodeName, cpu, memory: 0, priority, labels: { app: id.replace(/-\d+$/, '') }, ...extra };
}

const high = (extra: Partial<PodRequest> = {}): PodRequest => ({ id: 'default/important', cpu: 2000, memory: 0, priority: 1000, ...extra });

function view(nodes: NodeInfo[], pods: BoundPod[]): Scheduler {
  return new Scheduler({ nodes, pods, random: seededRandom(1) });
}

describe('preemption', () => {
  it('evicts the lowest-priority pods needed and no more, leaving the view as it was', () => {
    const s = view([node('n1')], [bound('low-1', 'n1', 1000, 0), bound('low-2', 'n1', 1000, 0), bound('mid-1', 'n1', 1500, 500), bound('top-1', 'n1', 500, 2000)]);
    expect(s.schedule(high()).fits).toBe(false);
    const before = s.allocated('n1');
    const p = s.preempt(high());
    expect(p).toEqual({ node: 'n1', victims: ['default/low-1', 'default/low-2'], pdbViolations: 0 });
    expect(s.allocated('n1')).toEqual(before);
    expect(s.nodeOf('default/low-1')).toBe('n1');
  });

  it('prefers the node whose most important victim has the lowest priority', () => {
    const s = view([node('n1'), node('n2')], [bound('a-1', 'n1', 4000, 500), bound('b-1', 'n2', 4000, 100)]);
    expect(s.preempt(high())?.node).toBe('n2');
  });

  it('with victims of equal priority, prefers the node with the fewest', () => {
    const s = view([node('n1'), node('n2')], [bound('a-1', 'n1', 2000, 0), bound('a-2', 'n1', 2000, 0), bound('b-1', 'n2', 1000, 0), bound('b-2', 'n2', 3000, 0)]);
    expect(s.preempt(high())).toEqual({ node: 'n2', victims: ['default/b-2'], pdbViolations: 0 });
  });

  it('then prefers the node whose important victims started last', () => {
    const s = view([node('n1'), node('n2')], [bound('a-1', 'n1', 4000, 0, { startTime: 2000 }), bound('b-1', 'n2', 4000, 0, { startTime: 1000 })]);
    expect(s.preempt(high())?.node).toBe('n1');
  });

  it('honours a PodDisruptionBudget when another node needs no violation', () => {
    const pods = [bound('guarded-1', 'n1', 4000, 0), bound('free-1', 'n2', 2000, 100), bound('free-2', 'n2', 2000, 100)];
    const s = view([node('n1'), node('n2')], pods);
    const pdb = [{ namespace: 'default', selector: { matchLabels: { app: 'guarded' } }, disruptionsAllowed: 0 }];
    // Without the budget n1 wins (its victim's priority is lower); with it, n2.
    expect(s.preempt(high())?.node).toBe('n1');
    // Equal victims: the first is given back, the second goes.
    expect(s.preempt(high(), pdb)).toEqual({ node: 'n2', victims: ['default/free-2'], pdbViolations: 0 });
    // A budget with room allows the eviction; one in another namespace does not apply.
    expect(s.preempt(high(), [{ ...pdb[0], disruptionsAllowed: 1 }])?.node).toBe('n1');
    expect(s.preempt(high(), [{ ...pdb[0], namespace: 'other' }])?.node).toBe('n1');
  });

  it('violates a budget only when no node avoids it, and says so', () => {
    const s = view([node('n1')], [bound('guarded-1', 'n1', 4000, 0)]);
    const pdb = [{ namespace: 'default', selector: { matchLabels: { app: 'guarded' } }, disruptionsAllowed: 0 }];
    expect(s.preempt(high(), pdb)).toEqual({ node: 'n1', victims: ['default/guarded-1'], pdbViolations: 1 });
  });

  it('never evicts pods of equal or higher priority, terminating pods, or for a pod with preemptionPolicy Never', () => {
    expect(view([node('n1')], [bound('peer-1', 'n1', 4000, 1000)]).preempt(high())).toBeUndefined();
    expect(view([node('n1')], [bound('going-1', 'n1', 4000, 0, { terminating: true })]).preempt(high())).toBeUndefined();
    expect(view([node('n1')], [bound('low-1', 'n1', 4000, 0)]).preempt(high({ preemptionPolicy: 'Never' }))).toBeUndefined();
  });

  it('skips nodes where evicting cannot help (taints, node selector, cordon)', () => {
    const tainted = node('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    const s = view([tainted, node('n2', { unschedulable: true }), node('n3', { labels: { disk: 'hdd' } })], [
      bound('low-1', 'n1', 4000, 0),
      bound('low-2', 'n2', 4000, 0),
      bound('low-3', 'n3', 4000, 0),
    ]);
    expect(s.preempt(high())?.node).toBe('n3');
    expect(s.preempt(high({ nodeSelector: { disk: 'ssd' } }))).toBeUndefined();
  });

  it('evicts the lower-priority pod the preemptor\'s anti-affinity forbids', () => {
    const s = view([node('n1', { allocatable: { cpu: 64000, memory: 64 * GiB } })], [bound('batch-1', 'n1', 100, 0), bound('web-1', 'n1', 100, 0)]);
    const p = high({
      cpu: 100,
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'batch' } }, topologyKey: 'kubernetes.io/hostname' }] } },
    });
    const d = s.schedule(p);
    expect(d.fits ? d.node : d.reason).toBe("0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.");
    expect(s.preempt(p)).toEqual({ node: 'n1', victims: ['default/batch-1'], pdbViolations: 0 });
  });

  it('looks at a share of the nodes, at least 100 (DefaultPreemption defaults)', () => {
    expect(numCandidates(5000, 10, 100)).toBe(500);
    expect(numCandidates(500, 10, 100)).toBe(100);
    expect(numCandidates(50, 10, 100)).toBe(50);
  });
});
