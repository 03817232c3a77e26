// Inter-pod affinity and anti-affinity, against the examples of kubernetes.io's "Assigning Pods
// to Nodes" page (the redis-cache / web-store pair) and the rules it states.
import { describe, expect, it } from 'vitest';
import { Scheduler, seededRandom } from '../../src/scheduler/index.js';
import type { NodeInfo, PodAffinityTerm, PodRequest } from '../../src/scheduler/index.js';

const GiB = 1024 ** 3;
const HOST = 'kubernetes.io/hostname';
const ZONE = 'topology.kubernetes.io/zone';

function node(name: string, zone: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return { name, labels: { [HOST]: name, [ZONE]: zone }, allocatable: { cpu: 8000, memory: 16 * GiB }, ...extra };
}

function pod(id: string, labels: Record<string, string>, extra: Partial<PodRequest> = {}): PodRequest {
  return { id, labels, cpu: 100, memory: 64 * 1024 * 1024, ...extra };
}

const term = (labels: Record<string, string>, topologyKey = HOST, extra: Partial<PodAffinityTerm> = {}): PodAffinityTerm => ({
  labelSelector: { matchExpressions: Object.entries(labels).map(([key, v]) => ({ key, operator: 'In' as const, values: [v] })) },
  topologyKey,
  ...extra,
});

function place(s: Scheduler, p: PodRequest): string {
  const d = s.schedule(p);
  if (!d.fits) throw new Error(d.reason);
  s.assume(p, d.node);
  return d.node;
}

const cache = (i: number): PodRequest =>
  pod(`default/redis-cache-${i}`, { app: 'store' }, {
    owner: 'default/redis-cache',
    affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'store' })] } },
  });

const web = (i: number): PodRequest =>
  pod(`default/web-server-${i}`, { app: 'web-store' }, {
    owner: 'default/web-server',
    affinity: {
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web-store' })] },
      podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'store' })] },
    },
  });

describe('required pod affinity and anti-affinity (the redis-cache / web-store example)', () => {
  it('puts one cache and one web server on each of three nodes, whatever the tie-breaks', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'a'), node('n3', 'b')], random: seededRandom(seed) });
      const caches = [0, 1, 2].map((i) => place(s, cache(i)));
      expect(new Set(caches).size).toBe(3);
      const webs = [0, 1, 2].map((i) => place(s, web(i)));
      expect(new Set(webs).size).toBe(3);
    }
  });

  it('leaves a fourth web server pending, naming the rules each node broke', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'a'), node('n3', 'b')], random: seededRandom(1) });
    const caches = [0, 1, 2].map((i) => place(s, cache(i)));
    [0, 1, 2].forEach((i) => place(s, web(i)));
    s.upsertNode(node('n4', 'b'));
    const d = s.schedule(web(3));
    expect(d.fits).toBe(false);
    if (d.fits) return;
    // The node with no cache fails affinity; the three with a web server fail anti-affinity.
    expect(caches).not.toContain('n4');
    expect(d.reason).toBe(
      "0/4 nodes are available: 3 node(s) didn't match pod anti-affinity rules, 1 node(s) didn't match pod affinity rules.",
    );
  });

  it('keeps a newcomer out of the domain of an existing pod whose anti-affinity matches it (symmetry)', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'b')], random: seededRandom(1) });
    const lonely = pod('default/lonely', { app: 'lonely' }, {
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'noisy' }, ZONE)] } },
    });
    s.assume(lonely, 'n1');
    for (let i = 0; i < 5; i++) expect(place(s, pod(`default/noisy-${i}`, { app: 'noisy' }))).toBe('n2');
    const only = new Scheduler({ nodes: [node('n1', 'a')], random: seededRandom(1) });
    only.assume(lonely, 'n1');
    const d = only.schedule(pod('default/noisy', { app: 'noisy' }));
    expect(d.fits ? d.node : d.reason).toBe("0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.");
    // Once the holder is gone, the domain is open again.
    only.forget('default/lonely');
    expect(only.schedule(pod('default/noisy', { app: 'noisy' })).fits).toBe(true);
  });

  it('lets the first pod of a group with affinity to itself go anywhere, then keeps the group in its zone', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'a'), node('n3', 'b'), node('n4', 'b')], random: seededRandom(7) });
    const together = (i: number): PodRequest =>
      pod(`default/t-${i}`, { app: 't' }, { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 't' }, ZONE)] } } });
    const first = place(s, together(0));
    const zone = first === 'n1' || first === 'n2' ? ['n1', 'n2'] : ['n3', 'n4'];
    for (let i = 1; i < 8; i++) expect(zone).toContain(place(s, together(i)));
    // A pod whose affinity names a group with no pod anywhere, and which is not of that group, waits.
    const d = s.schedule(pod('default/orphan', { app: 'x' }, { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'none' })] } } }));
    expect(d.fits ? d.node : d.reason).toBe("0/4 nodes are available: 4 node(s) didn't match pod affinity rules.");
  });

  it('fails affinity on a node without the topology key', () => {
    const bare: NodeInfo = { name: 'bare', labels: {}, allocatable: { cpu: 8000, memory: 16 * GiB } };
    const s = new Scheduler({ nodes: [bare, node('n1', 'a')], random: seededRandom(1) });
    s.assume(pod('default/db', { app: 'db' }), 'n1');
    const p = pod('default/api', { app: 'api' }, { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' }, ZONE)] } } });
    for (let i = 0; i < 5; i++) expect(s.schedule({ ...p, id: `default/api-${i}` })).toMatchObject({ fits: true, node: 'n1' });
  });

  it('counts pods of the pod\'s own namespace unless the term names others or selects all', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'b')], random: seededRandom(1) });
    s.assume(pod('other/db', { app: 'db' }, { namespace: 'other' }), 'n1');
    s.assume(pod('prod/db', { app: 'db' }, { namespace: 'prod' }), 'n2');
    const near = (extra: Partial<PodAffinityTerm>): PodRequest =>
      pod('other/api', { app: 'api' }, { namespace: 'other', affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' }, ZONE, extra)] } } });
    expect(s.schedule(near({}))).toMatchObject({ fits: true, node: 'n1' });
    expect(s.schedule(near({ namespaces: ['prod'] }))).toMatchObject({ fits: true, node: 'n2' });
    const labelled = new Scheduler({
      nodes: [node('n1', 'a'), node('n2', 'b')],
      random: seededRandom(1),
      namespaceLabels: { prod: { env: 'prod' }, other: {} },
    });
    labelled.assume(pod('other/db', { app: 'db' }, { namespace: 'other' }), 'n1');
    labelled.assume(pod('prod/db', { app: 'db' }, { namespace: 'prod' }), 'n2');
    expect(labelled.schedule(near({ namespaceSelector: { matchLabels: { env: 'prod' } } }))).toMatchObject({ fits: true, node: 'n2' });
    // `{}` selects every namespace: both zones hold a db pod.
    const anywhere = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const t = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'b')], random: seededRandom(seed) });
      t.assume(pod('other/db', { app: 'db' }, { namespace: 'other' }), 'n1');
      t.assume(pod('prod/db', { app: 'db' }, { namespace: 'prod' }), 'n2');
      const d = t.schedule({ ...near({ namespaceSelector: {} }), namespace: 'third', id: 'third/api' });
      if (d.fits) anywhere.add(d.node);
    }
    expect([...anywhere].sort()).toEqual(['n1', 'n2']);
  });

  it('matches selectors by matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'b'), node('n3', 'c')], random: seededRandom(1) });
    s.assume(pod('default/p1', { app: 'db', tier: 'gold' }), 'n1');
    s.assume(pod('default/p2', { app: 'db' }), 'n2');
    s.assume(pod('default/p3', { app: 'cache', tier: 'gold' }), 'n3');
    const away = (labelSelector: PodAffinityTerm['labelSelector']): string[] => {
      const out: string[] = [];
      for (const n of ['n1', 'n2', 'n3']) {
        const d = s.schedule(pod('default/x', {}, {
          nodeSelector: { [HOST]: n },
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector, topologyKey: HOST }] } },
        }));
        if (d.fits) out.push(n);
      }
      return out;
    };
    expect(away({ matchLabels: { app: 'db' } })).toEqual(['n3']);
    expect(away({ matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }] })).toEqual(['n2', 'n3']);
    expect(away({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })).toEqual(['n1', 'n3']);
    expect(away({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] })).toEqual(['n1', 'n2']);
    expect(away({})).toEqual([]); // an empty selector matches every pod
    expect(away(undefined)).toEqual(['n1', 'n2', 'n3']); // no selector matches none
  });

  it('rejects a bad operator naming the field', () => {
    const s = new Scheduler({ nodes: [node('n1', 'a')], random: seededRandom(1) });
    expect(() =>
      s.schedule(pod('default/x', {}, {
        affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'a', operator: 'Gt' as never, values: ['1'] }] }, topologyKey: HOST }] } },
      })),
    ).toThrow(/spec\.affinity\.podAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[0\]\.labelSelector\.matchExpressions\[0\]\.operator/);
  });
});

describe('preferred pod affinity and anti-affinity', () => {
  const only = { leastAllocated: 0, balancedAllocation: 0, spread: 0, nodeAffinity: 0, taintToleration: 0, topologySpread: 0, interPodAffinity: 1 };

  it('prefers the zone of the pods it likes, and away from those it does not, by weight', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const s = new Scheduler({ nodes: [node('n1', 'a'), node('n2', 'a'), node('n3', 'b'), node('n4', 'c')], random: seededRandom(seed), weights: only });
      s.assume(pod('default/cache', { app: 'cache' }), 'n1');
      s.assume(pod('default/batch', { app: 'batch' }), 'n3');
      const likes = pod('default/api', { app: 'api' }, {
        affinity: {
          podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term({ app: 'cache' }, ZONE) }] },
        },
      });
      expect(['n1', 'n2']).toContain(s.schedule(likes).fits ? (s.schedule(likes) as { node: string }).node : '');
      const avoids = pod('default/quiet', { app: 'quiet' }, {
        affinity: {
          podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: term({ app: 'batch' }, ZONE) }] },
          podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, podAffinityTerm: term({ app: 'batch' }, ZONE) }] },
        },
      });
      const d = s.schedule(avoids);
      expect(d.fits && d.node).not.toBe('n3');
    }
  });
});
