// The scheduling controller against a real API server and embedded store: nodes register
// through the API (with leases), pods are written to the store, and bindings are read back.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { schedulingController, SchedulingReconciler, REASON_UNSCHEDULABLE_POD } from '../../src/controllers/index.js';
import type { Controller } from '../../src/controllers/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { GI, pod, putPod, readPods, registerNode } from './nodes-helpers.js';

let t: TestApi;
let controllers: Controller[] = [];

beforeEach(async () => {
  t = await startApi();
  await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: GI }, { zone: 'a' });
  await registerNode(t.url, t.tokens.admin, 'n2', { cpu: 1000, memory: GI }, { zone: 'b' });
  await registerNode(t.url, t.tokens.admin, 'n3', { cpu: 1000, memory: 2 * GI }, { zone: 'b', disk: 'ssd' });
});

afterEach(async () => {
  await Promise.all(controllers.map((c) => c.stop()));
  controllers = [];
  await t.close();
});

function start(): Controller {
  const c = schedulingController({ kv: t.kv, random: seededRandom(7), retryUnschedulableMs: 200 });
  controllers.push(c);
  c.start();
  return c;
}

describe('scheduling controller', () => {
  it('binds pods across nodes within capacity and honours nodeSelector, spreading one owner', async () => {
    for (let i = 0; i < 4; i++) await putPod(t.kv, pod(`web-${i}`, { cpu: '400m', memory: '128Mi', owner: 'web' }));
    await putPod(t.kv, pod('db', { cpu: '200m', memory: '1Gi', nodeSelector: { disk: 'ssd' } }));
    start();
    await vi.waitFor(async () => {
      const pods = await readPods(t.kv);
      for (const p of pods.values()) expect(p.spec.nodeName, p.metadata.name).toBeDefined();
    }, { timeout: 5000 });
    const pods = await readPods(t.kv);
    expect(pods.get('db')!.spec.nodeName).toBe('n3');
    const cpu = new Map<string, number>();
    const web = new Map<string, number>();
    for (const p of pods.values()) {
      const n = p.spec.nodeName!;
      cpu.set(n, (cpu.get(n) ?? 0) + (p.metadata.name === 'db' ? 200 : 400));
      if (p.metadata.owner.name === 'web') web.set(n, (web.get(n) ?? 0) + 1);
    }
    for (const used of cpu.values()) expect(used).toBeLessThanOrEqual(1000);
    // Four pods of one owner on three nodes: spread means every node gets one before any gets a third.
    expect(web.size).toBe(3);
    expect(Math.max(...web.values())).toBe(2);

    // A pod added later is placed too, and it only fits where room is left.
    await putPod(t.kv, pod('late', { cpu: '500m' }));
    await vi.waitFor(async () => expect((await readPods(t.kv)).get('late')!.spec.nodeName).toBeDefined(), { timeout: 5000 });
    const late = (await readPods(t.kv)).get('late')!.spec.nodeName!;
    expect((cpu.get(late) ?? 0) + 500).toBeLessThanOrEqual(1000);
  });

  it('leaves a pod that fits nowhere Pending with the reason counted per filter, and an event', async () => {
    await putPod(t.kv, pod('huge', { cpu: '100m', memory: '3Gi' }));
    await putPod(t.kv, pod('picky', { cpu: '100m', nodeSelector: { zone: 'c' } }));
    start();
    await vi.waitFor(async () => {
      const p = (await readPods(t.kv)).get('huge')!;
      expect(p.status.reason).toBe(REASON_UNSCHEDULABLE_POD);
    }, { timeout: 5000 });
    const pods = await readPods(t.kv);
    const huge = pods.get('huge')!;
    expect(huge.spec.nodeName).toBeUndefined();
    expect(huge.status.phase).toBe('Pending');
    expect(huge.status.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    await vi.waitFor(async () => expect((await readPods(t.kv)).get('picky')!.status.message).toBe("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."), { timeout: 5000 });
    const events = (await t.kv.range(`${STORE_PREFIX.events}default/`, { prefix: true })).kvs.map((k) => JSON.parse(Buffer.from(k.value).toString('utf8')) as ClusterEvent);
    const event = events.find((e) => e.object === 'Pod/huge' && e.reason === 'FailedScheduling');
    expect(event).toMatchObject({ type: 'Warning', reason: 'FailedScheduling', object: 'Pod/huge', message: huge.status.message });

    // Retries do not rewrite an unchanged reason (the pod key keeps its revision).
    const before = (await t.kv.get(`${STORE_PREFIX.pods}default/huge`))!.modRevision;
    await new Promise((r) => setTimeout(r, 600)); // at least two retry periods
    expect((await t.kv.get(`${STORE_PREFIX.pods}default/huge`))!.modRevision).toBe(before);

    // A bigger node arrives: the pod is bound and the reason is cleared.
    await registerNode(t.url, t.tokens.admin, 'big', { cpu: 4000, memory: 8 * GI });
    await vi.waitFor(async () => expect((await readPods(t.kv)).get('huge')!.spec.nodeName).toBe('big'), { timeout: 5000 });
    expect((await readPods(t.kv)).get('huge')!.status.reason).toBeUndefined();
  });

  it('does not place pods on a node without a lease, or on a node that says it is not ready', async () => {
    await t.kv.put(`${STORE_PREFIX.nodes}ghost`, JSON.stringify({ name: 'ghost', labels: { only: 'ghost' }, capacity: { cpu: 9000, memory: 9 * GI, pods: 10 }, runtime: 'process', status: { ready: true, lastHeartbeat: new Date().toISOString(), address: '127.0.0.1' } }));
    await putPod(t.kv, pod('to-ghost', { nodeSelector: { only: 'ghost' } }));
    start();
    await vi.waitFor(async () => expect((await readPods(t.kv)).get('to-ghost')!.status.reason).toBe(REASON_UNSCHEDULABLE_POD), { timeout: 5000 });
    expect((await readPods(t.kv)).get('to-ghost')!.status.message).toMatch(/^0\/4 nodes are available: /);
  });

  it('never binds a pod twice when two schedulers race (compare-and-swap on the pod)', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `p-${String(i).padStart(2, '0')}`);
    for (const n of names) await putPod(t.kv, pod(n, { cpu: '100m', owner: `o${names.indexOf(n) % 3}` }));
    const from = (await t.kv.revision()) + 1;
    const a = new SchedulingReconciler({ kv: t.kv, random: seededRandom(1) });
    const b = new SchedulingReconciler({ kv: t.kv, random: seededRandom(2) });
    const [ra, rb] = await Promise.all([a.pass(), b.pass()]);
    // Each pod bound exactly once between them; the loser of each race saw a conflict.
    expect(ra.bound.length + rb.bound.length).toBe(names.length);
    const boundBy = new Set([...ra.bound, ...rb.bound].map((x) => x.pod));
    expect(boundBy.size).toBe(names.length);

    // The store's history shows one write setting nodeName per pod, and no re-binding.
    const watch = t.kv.watch(STORE_PREFIX.pods, { prefix: true, prevKv: true, fromRevision: from });
    const binds = new Map<string, number>();
    const now = await t.kv.revision();
    for await (const batch of watch) {
      for (const e of batch.events) {
        const next = JSON.parse(Buffer.from(e.kv.value).toString('utf8'));
        const prev = e.prevKv ? JSON.parse(Buffer.from(e.prevKv.value).toString('utf8')) : undefined;
        if (next.spec.nodeName !== undefined) {
          expect(prev?.spec.nodeName === undefined || prev.spec.nodeName === next.spec.nodeName).toBe(true);
          if (prev?.spec.nodeName === undefined) binds.set(next.metadata.name, (binds.get(next.metadata.name) ?? 0) + 1);
        }
      }
      if (batch.revision >= now) break;
    }
    watch.close();
    expect([...binds.values()].every((n) => n === 1)).toBe(true);
    expect(binds.size).toBe(names.length);
    // A further pass has nothing left to do.
    expect((await a.pass()).bound).toEqual([]);
  });
});
