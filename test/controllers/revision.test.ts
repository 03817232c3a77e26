import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod, type Revision } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { VirtualClock, revisionReconciler, templateHash } from '../../src/controllers/index.js';
import { deletionOrder } from '../../src/controllers/workload/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { START, seeded } from '../helpers/fake-kubelet.js';

const stores: KV[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const decoder = new TextDecoder();
const HASH = 'bcdf245678';
const REV_KEY = `default/web/${HASH}`;

function revision(replicas: number): Revision {
  return {
    metadata: { name: `web-${HASH}`, namespace: 'default', owner: { kind: 'Deployment', name: 'web' }, hash: HASH, revision: 1, createdAt: new Date(START).toISOString() },
    template: {
      metadata: { labels: { app: 'web', 'capstan.dev/revision-hash': HASH } },
      spec: { containers: [{ name: 'main', image: 'web:1' }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
    },
    replicas,
  };
}

function pod(name: string, o: { node?: string; ready?: boolean; createdAt?: number; deleting?: boolean; terminated?: boolean } = {}): Pod {
  return {
    metadata: {
      name: `web-${HASH}-${name}`,
      namespace: 'default',
      labels: { app: 'web' },
      owner: { kind: 'Deployment', name: 'web', revision: HASH },
      createdAt: new Date(o.createdAt ?? START).toISOString(),
      ...(o.deleting ? { deletionRequestedAt: new Date(START).toISOString() } : {}),
    },
    spec: { containers: [{ name: 'main', image: 'web:1' }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...(o.node ? { nodeName: o.node } : {}) },
    status: { phase: o.ready ? 'Running' : 'Pending', ready: o.ready ?? false, ...(o.terminated ? { terminatedAt: new Date(START).toISOString() } : {}) },
  };
}

async function setup(): Promise<{ kv: KV; run(): Promise<void>; pods(): Promise<Pod[]> }> {
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const clock = new VirtualClock(START);
  const r = revisionReconciler({ kv, clock, random: seeded(3) });
  const ctx = { logger: silentLogger(), signal: new AbortController().signal, failures: 0 };
  return {
    kv,
    async run() {
      await r.reconcile(REV_KEY, ctx);
    },
    async pods() {
      const res = await kv.range(STORE_PREFIX.pods, { prefix: true });
      return res.kvs.map((i) => JSON.parse(decoder.decode(i.value)) as Pod);
    },
  };
}

async function putPods(kv: KV, pods: Pod[]): Promise<void> {
  for (const p of pods) await kv.put(`${STORE_PREFIX.pods}default/${p.metadata.name}`, JSON.stringify(p));
}

describe('revision controller', () => {
  it('creates the missing pods, unbound and Pending, from the template', async () => {
    const t = await setup();
    await t.kv.put(`${STORE_PREFIX.revisions}${REV_KEY}`, JSON.stringify(revision(3)));
    await t.run();
    const pods = await t.pods();
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${HASH}-[a-z]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', 'capstan.dev/revision-hash': HASH });
      expect(p.metadata.owner).toEqual({ kind: 'Deployment', name: 'web', revision: HASH });
      expect(p.spec.nodeName).toBeUndefined();
      expect(p.spec.containers[0]!.image).toBe('web:1');
      expect(p.status).toEqual({ phase: 'Pending', ready: false });
    }
    await t.run(); // level-based: nothing more to do
    expect(await t.pods()).toHaveLength(3);
  });

  it('asks extra pods to stop, cheapest first, and drops unbound ones at once', async () => {
    const t = await setup();
    await t.kv.put(`${STORE_PREFIX.revisions}${REV_KEY}`, JSON.stringify(revision(2)));
    await putPods(t.kv, [
      pod('ready', { node: 'n1', ready: true }),
      pod('oldnotready', { node: 'n1', createdAt: START }),
      pod('newnotready', { node: 'n1', createdAt: START + 5000 }),
      pod('unbound'),
    ]);
    await t.run();
    const pods = await t.pods();
    const byName = new Map(pods.map((p) => [p.metadata.name.split('-').pop()!, p]));
    expect([...byName.keys()].sort()).toEqual(['newnotready', 'oldnotready', 'ready']); // unbound deleted outright
    expect(byName.get('newnotready')!.metadata.deletionRequestedAt).toBeDefined();
    expect(byName.get('oldnotready')!.metadata.deletionRequestedAt).toBeUndefined();
    expect(byName.get('ready')!.metadata.deletionRequestedAt).toBeUndefined();
  });

  it('removes pods that stopped or never ran, keeps those still stopping', async () => {
    const t = await setup();
    await t.kv.put(`${STORE_PREFIX.revisions}${REV_KEY}`, JSON.stringify(revision(0)));
    await putPods(t.kv, [
      pod('stopped', { node: 'n1', deleting: true, terminated: true }),
      pod('neverran', { deleting: true }),
      pod('stopping', { node: 'n1', deleting: true }),
    ]);
    await t.run();
    expect((await t.pods()).map((p) => p.metadata.name.split('-').pop())).toEqual(['stopping']);
  });

  it('stops the pods of a revision that no longer exists', async () => {
    const t = await setup();
    await putPods(t.kv, [pod('a', { node: 'n1', ready: true }), pod('b', { node: 'n1', ready: true })]);
    await t.run();
    expect((await t.pods()).every((p) => p.metadata.deletionRequestedAt !== undefined)).toBe(true);
  });

  it('orders deletions: unscheduled, then not ready, then ready; newest first', () => {
    const stored = (p: Pod) => ({ key: p.metadata.name, value: p, modRevision: 1 });
    const order = deletionOrder([
      stored(pod('r-old', { node: 'n', ready: true, createdAt: START })),
      stored(pod('r-new', { node: 'n', ready: true, createdAt: START + 1 })),
      stored(pod('nr', { node: 'n' })),
      stored(pod('u')),
    ]).map((s) => s.value.metadata.name.replace(`web-${HASH}-`, ''));
    expect(order).toEqual(['u', 'nr', 'r-new', 'r-old']);
  });
});

describe('template hash', () => {
  it('is stable under key order and changes with the template', () => {
    const a = templateHash({ labels: { app: 'web', tier: 'x' }, spec: { containers: [{ name: 'm', image: 'web:1' }], restartPolicy: 'Always' } });
    const b = templateHash({ labels: { tier: 'x', app: 'web' }, spec: { restartPolicy: 'Always', containers: [{ image: 'web:1', name: 'm' }] } });
    const c = templateHash({ labels: { app: 'web', tier: 'x' }, spec: { containers: [{ name: 'm', image: 'web:2' }], restartPolicy: 'Always' } });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  });
});
