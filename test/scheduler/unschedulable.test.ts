// Cordoned nodes (`unschedulable`) in the pure scheduler core and in the stored-node mapping.
import { describe, expect, it } from 'vitest';
import type { NodeInfo as StoredNode } from '../../src/api/cluster.js';
import { schedulerNode } from '../../src/controllers/scheduling/view.js';
import { Scheduler, seededRandom } from '../../src/scheduler/index.js';
import type { NodeInfo, PodRequest } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;
const node = (name: string, extra: Partial<NodeInfo> = {}): NodeInfo => ({ name, allocatable: { cpu: 4000, memory: 8 * GiB }, ...extra });
const pod = (id: string, extra: Partial<PodRequest> = {}): PodRequest => ({ id, cpu: 100, memory: 128 * 2 ** 20, ...extra });

describe('unschedulable nodes', () => {
  it('never chooses a cordoned node, even when it is the emptiest', () => {
    for (let seed = 1; seed <= 20; seed++) {
      // n1 is cordoned and idle; n2 is busy: without the cordon n1 would score best.
      const s = new Scheduler({
        nodes: [node('n1', { unschedulable: true }), node('n2', { allocatable: { cpu: 1000, memory: GiB } })],
        pods: [{ ...pod('busy', { cpu: 800 }), node: 'n2' }],
        random: seededRandom(seed),
      });
      const d = s.schedule(pod(`p${seed}`));
      expect(d.fits && d.node).toBe('n2');
    }
  });

  it('says the nodes were unschedulable when only cordoned nodes are left', () => {
    const s = new Scheduler({ nodes: [node('n1', { unschedulable: true }), node('n2', { unschedulable: true })], random: seededRandom(1) });
    const d = s.schedule(pod('p'));
    expect(d.fits).toBe(false);
    if (!d.fits) expect(d.reason).toBe('0/2 nodes are available: 2 node(s) were unschedulable.');
  });

  it('counts the cordon next to other reasons', () => {
    const s = new Scheduler({ nodes: [node('n1', { unschedulable: true }), node('n2', { allocatable: { cpu: 50, memory: GiB } })], random: seededRandom(1) });
    const d = s.schedule(pod('p'));
    expect(d.fits ? '' : d.reason).toBe('0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable.');
  });

  it('places a pod that tolerates the unschedulable taint, as Kubernetes does', () => {
    const s = new Scheduler({ nodes: [node('n1', { unschedulable: true })], random: seededRandom(1) });
    const d = s.schedule(pod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }));
    expect(d.fits && d.node).toBe('n1');
  });

  it('becomes schedulable again once uncordoned', () => {
    const s = new Scheduler({ nodes: [node('n1', { unschedulable: true })], random: seededRandom(1) });
    expect(s.schedule(pod('p')).fits).toBe(false);
    s.upsertNode(node('n1', { unschedulable: false }));
    expect(s.schedule(pod('p')).fits).toBe(true);
  });

  it('maps a stored node\'s unschedulable flag into the scheduler view', () => {
    const stored: StoredNode = { name: 'n1', labels: {}, capacity: { cpu: 1000, memory: GiB, pods: 10 }, runtime: 'process', status: { ready: true, lastHeartbeat: '', address: '127.0.0.1' } };
    expect(schedulerNode({ ...stored, unschedulable: true }, true).unschedulable).toBe(true);
    expect(schedulerNode(stored, true).unschedulable).toBe(false);
  });
});
