import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { Scheduler, seededRandom } from '../../src/scheduler/index.js';
import type { BoundPod, NodeInfo, NodeSelectorRequirement, PodRequest } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;

function node(name: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return { name, allocatable: { cpu: 4000, memory: 8 * GiB }, ...extra };
}

function pod(id: string, extra: Partial<PodRequest> = {}): PodRequest {
  return { id, cpu: 100, memory: 128 * 1024 * 1024, ...extra };
}

function one(n: NodeInfo, pods: BoundPod[] = []): Scheduler {
  return new Scheduler({ nodes: [n], pods, random: seededRandom(1) });
}

function reasonOf(s: Scheduler, p: PodRequest): string | null {
  const d = s.schedule(p);
  return d.fits ? null : d.reason;
}

describe('resource fit', () => {
  it('fits requests into allocatable minus allocated', () => {
    const s = one(node('n1', { allocatable: { cpu: 1000, memory: 2 * GiB } }), [
      { ...pod('a', { cpu: 600, memory: GiB }), node: 'n1' },
    ]);
    expect(s.schedule(pod('b', { cpu: 400, memory: GiB })).fits).toBe(true);
    expect(reasonOf(s, pod('c', { cpu: 401, memory: 1 }))).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    expect(reasonOf(s, pod('d', { cpu: 1, memory: GiB + 1 }))).toBe('0/1 nodes are available: 1 Insufficient memory.');
    const both = s.schedule(pod('e', { cpu: 5000, memory: 5 * GiB }));
    expect(both).toMatchObject({ fits: false, failures: { 'Insufficient cpu': 1, 'Insufficient memory': 1 } });
  });

  it('lets a pod without requests onto a full node, but not past the pod limit', () => {
    const s = one(node('n1', { allocatable: { cpu: 100, memory: GiB, pods: 2 } }), [
      { ...pod('a', { cpu: 100, memory: GiB }), node: 'n1' },
    ]);
    expect(s.schedule(pod('b', { cpu: 0, memory: 0 })).fits).toBe(true);
    s.assume(pod('b', { cpu: 0, memory: 0 }), 'n1');
    expect(reasonOf(s, pod('c', { cpu: 0, memory: 0 }))).toBe('0/1 nodes are available: 1 Too many pods.');
  });
});

describe('host ports', () => {
  it('refuses a port already taken on the node, per protocol, until the pod is forgotten', () => {
    const web = pod('web', { hostPorts: [{ port: 80 }] });
    const s = one(node('n1'), [{ ...web, node: 'n1' }]);
    const again = pod('web2', { hostPorts: [{ port: 80, protocol: 'TCP' }] });
    expect(reasonOf(s, again)).toBe(
      "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
    );
    expect(s.schedule(pod('dns', { hostPorts: [{ port: 80, protocol: 'UDP' }] })).fits).toBe(true);
    expect(s.schedule(pod('other', { hostPorts: [{ port: 8080 }] })).fits).toBe(true);
    expect(s.forget('web')).toBe(true);
    expect(s.schedule(again).fits).toBe(true);
  });
});

describe('node selector and required node affinity', () => {
  const labels = { zone: 'a', disk: 'ssd', gen: '3', tier: 'x1' };

  it('requires every nodeSelector label', () => {
    const s = one(node('n1', { labels }));
    expect(s.schedule(pod('p', { nodeSelector: { zone: 'a', disk: 'ssd' } })).fits).toBe(true);
    expect(reasonOf(s, pod('q', { nodeSelector: { zone: 'a', disk: 'hdd' } }))).toBe(
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
    );
  });

  const cases: Array<[string, NodeSelectorRequirement, boolean]> = [
    ['In matches', { key: 'zone', operator: 'In', values: ['b', 'a'] }, true],
    ['In misses', { key: 'zone', operator: 'In', values: ['b'] }, false],
    ['In on a missing label', { key: 'gpu', operator: 'In', values: ['yes'] }, false],
    ['NotIn matches', { key: 'zone', operator: 'NotIn', values: ['b'] }, true],
    ['NotIn misses', { key: 'zone', operator: 'NotIn', values: ['a'] }, false],
    ['NotIn on a missing label', { key: 'gpu', operator: 'NotIn', values: ['yes'] }, true],
    ['Exists', { key: 'disk', operator: 'Exists' }, true],
    ['Exists on a missing label', { key: 'gpu', operator: 'Exists' }, false],
    ['DoesNotExist', { key: 'gpu', operator: 'DoesNotExist' }, true],
    ['DoesNotExist on a present label', { key: 'disk', operator: 'DoesNotExist' }, false],
    ['Gt', { key: 'gen', operator: 'Gt', values: ['2'] }, true],
    ['Gt equal', { key: 'gen', operator: 'Gt', values: ['3'] }, false],
    ['Lt', { key: 'gen', operator: 'Lt', values: ['4'] }, true],
    ['Lt equal', { key: 'gen', operator: 'Lt', values: ['3'] }, false],
    ['Gt on a non-integer label', { key: 'tier', operator: 'Gt', values: ['0'] }, false],
    ['Lt on a missing label', { key: 'gpu', operator: 'Lt', values: ['100'] }, false],
    ['In with a long value list', { key: 'zone', operator: 'In', values: 'bcdefghijklma'.split('') }, true],
  ];
  for (const [name, expr, fits] of cases) {
    it(`${name} → ${fits ? 'fits' : 'does not fit'}`, () => {
      const s = one(node('n1', { labels }));
      const p = pod('p', {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expr] }] },
          },
        },
      });
      expect(s.schedule(p).fits).toBe(fits);
    });
  }

  function required(terms: Array<{ matchExpressions?: NodeSelectorRequirement[]; matchFields?: NodeSelectorRequirement[] }>): PodRequest {
    return pod('p', {
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } },
    });
  }

  it('ORs terms and ANDs the expressions inside a term', () => {
    const s = one(node('n1', { labels }));
    const zoneB = { key: 'zone', operator: 'In' as const, values: ['b'] };
    const ssd = { key: 'disk', operator: 'In' as const, values: ['ssd'] };
    const zoneA = { key: 'zone', operator: 'In' as const, values: ['a'] };
    expect(s.schedule(required([{ matchExpressions: [zoneB, ssd] }])).fits).toBe(false);
    expect(s.schedule(required([{ matchExpressions: [zoneA, ssd] }])).fits).toBe(true);
    expect(s.schedule(required([{ matchExpressions: [zoneB] }, { matchExpressions: [ssd] }])).fits).toBe(true);
  });

  it('matches nothing with an empty term or no terms, and combines with nodeSelector', () => {
    const s = one(node('n1', { labels }));
    expect(s.schedule(required([{}])).fits).toBe(false);
    expect(s.schedule(required([])).fits).toBe(false);
    const both = required([{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }]);
    expect(s.schedule({ ...both, nodeSelector: { zone: 'b' } }).fits).toBe(false);
  });

  it('matches metadata.name through matchFields', () => {
    const s = new Scheduler({ nodes: [node('n1'), node('n2')], random: seededRandom(1) });
    const p = required([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }]);
    for (let i = 0; i < 5; i++) expect(s.schedule(p)).toMatchObject({ fits: true, node: 'n2' });
  });

  it('rejects malformed requirements with a schema error naming the field', () => {
    const s = one(node('n1', { labels }));
    const bad = required([{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['x'] }] }]);
    let err: unknown;
    try {
      s.schedule(bad);
    } catch (e) {
      err = e;
    }
    expect(isCapstanError(err, 'CAPSTAN_ERR_API_SCHEMA')).toBe(true);
    expect((err as { field: string }).field).toBe(
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values',
    );
    const op = required([{ matchExpressions: [{ key: 'gen', operator: 'Near' as 'In', values: ['1'] }] }]);
    expect(() => s.schedule(op)).toThrow(/unknown operator/);
    const noValues = required([{ matchExpressions: [{ key: 'gen', operator: 'In', values: [] }] }]);
    expect(() => s.schedule(noValues)).toThrow(/at least one value/);
  });
});

describe('taints and tolerations', () => {
  const gpu = node('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
  const taintReason = '0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.';

  it('keeps pods without a matching toleration off NoSchedule and NoExecute taints', () => {
    expect(reasonOf(one(gpu), pod('p'))).toBe(taintReason);
    const evict = node('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }] });
    expect(reasonOf(one(evict), pod('p'))).toBe(taintReason);
    const soft = node('n1', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'PreferNoSchedule' }] });
    expect(one(soft).schedule(pod('p')).fits).toBe(true);
  });

  const tolerationCases: Array<[string, PodRequest['tolerations'], boolean]> = [
    ['Equal with the value', [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }], true],
    ['operator defaults to Equal', [{ key: 'dedicated', value: 'gpu' }], true],
    ['Equal with another value', [{ key: 'dedicated', operator: 'Equal', value: 'cpu' }], false],
    ['Exists on the key', [{ key: 'dedicated', operator: 'Exists' }], true],
    ['Exists on another key', [{ key: 'other', operator: 'Exists' }], false],
    ['empty key with Exists tolerates everything', [{ operator: 'Exists' }], true],
    ['another effect', [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }], false],
    ['one of several', [{ key: 'a', operator: 'Exists' }, { key: 'dedicated', value: 'gpu' }], true],
  ];
  for (const [name, tolerations, fits] of tolerationCases) {
    it(`toleration ${name} → ${fits ? 'fits' : 'does not fit'}`, () => {
      expect(one(gpu).schedule(pod('p', { tolerations })).fits).toBe(fits);
    });
  }

  it('reports the first untolerated taint of a node', () => {
    const two = node('n1', {
      taints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'team', value: 'ml', effect: 'NoExecute' },
      ],
    });
    expect(reasonOf(one(two), pod('p', { tolerations: [{ key: 'dedicated', operator: 'Exists' }] }))).toBe(
      '0/1 nodes are available: 1 node(s) had untolerated taint {team: ml}.',
    );
  });
});

describe('node condition', () => {
  it('refuses cordoned nodes unless the pod tolerates the unschedulable taint', () => {
    const s = one(node('n1', { unschedulable: true }));
    expect(reasonOf(s, pod('p'))).toBe('0/1 nodes are available: 1 node(s) were unschedulable.');
    const tol = pod('ds', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists' }] });
    expect(s.schedule(tol).fits).toBe(true);
  });

  it('refuses nodes that are not ready, as the not-ready taint does', () => {
    const s = one(node('n1', { ready: false }));
    expect(reasonOf(s, pod('p'))).toBe(
      '0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.',
    );
    expect(s.schedule(pod('q', { tolerations: [{ operator: 'Exists' }] })).fits).toBe(true);
  });
});

describe('the unschedulable message', () => {
  it('counts every node by its first failing filter, most common reason first', () => {
    const small = { cpu: 4000, memory: GiB };
    const s = new Scheduler({
      nodes: [
        node('a', { allocatable: small }),
        node('b', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
        node('c', { allocatable: small }),
      ],
      random: seededRandom(1),
    });
    const d = s.schedule(pod('big', { memory: 2 * GiB }));
    expect(d).toEqual({
      fits: false,
      reason: '0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: gpu}.',
      failures: { 'Insufficient memory': 2, 'node(s) had untolerated taint {dedicated: gpu}': 1 },
      evaluatedNodes: 3,
      feasibleNodes: 0,
    });
  });

  it('says so when there are no nodes at all', () => {
    const s = new Scheduler({ random: seededRandom(1) });
    expect(reasonOf(s, pod('p'))).toBe('no nodes available to schedule pods');
  });
});

describe('volume node (bound local claims)', () => {
  it('admits only the node holding the pod\'s volumes, with kube-scheduler\'s reason elsewhere', () => {
    const s = new Scheduler({ nodes: [node('n1'), node('n2'), node('n3')], random: seededRandom(1) });
    for (let i = 0; i < 5; i++) {
      const d = s.schedule(pod(`p${i}`, { volumeNode: 'n2' }));
      expect(d).toMatchObject({ fits: true, node: 'n2' });
    }
    expect(reasonOf(s, pod('gone', { volumeNode: 'n9' }))).toBe('0/3 nodes are available: 3 node(s) had volume node affinity conflict.');
    // A node that fails an earlier filter reports that filter, as in kube-scheduler.
    const small = new Scheduler({ nodes: [node('n1', { allocatable: { cpu: 1000, memory: 8 * GiB } }), node('n2'), node('n3')], random: seededRandom(1) });
    expect(reasonOf(small, pod('big', { volumeNode: 'n1', cpu: 2000 }))).toBe('0/3 nodes are available: 2 node(s) had volume node affinity conflict, 1 Insufficient cpu.');
  });
});
