// The scheduling controller's priority, preemption and schedulerName handling, against a real
// API server and embedded store on 127.0.0.1: PriorityClasses and PodDisruptionBudgets are desired
// records as the sync writes them; pods are written as the revision controller writes them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type Pod } from '../../src/api/cluster.js';
import { SchedulingReconciler } from '../../src/controllers/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import type { KV } from '../../src/store/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { GI, pod, putPod, readPods, registerNode } from './nodes-helpers.js';

let t: TestApi;

beforeEach(async () => {
  t = await startApi();
});

afterEach(async () => {
  await t.close();
});

async function desired(kv: KV, object: Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const ns = object.metadata.namespace ?? 'default';
  const record = { object: { ...object, metadata: { ...object.metadata, namespace: ns } }, source: { path: 'x.yaml' }, appliedAt: new Date(0).toISOString() };
  await kv.put(`${STORE_PREFIX.desired}${object.kind}/${ns}/${object.metadata.name}`, JSON.stringify(record));
}

const priorityClass = (name: string, value: number, extra: Record<string, unknown> = {}) =>
  ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });

function withSpec(p: Pod, spec: Partial<Pod['spec']>, extra: { startedAt?: string; ready?: boolean } = {}): Pod {
  const status = { ...p.status };
  if (extra.startedAt) {
    status.phase = 'Running';
    status.startedAt = extra.startedAt;
  }
  if (extra.ready !== undefined) status.ready = extra.ready;
  return { ...p, spec: { ...p.spec, ...spec }, status };
}

async function events(kv: KV): Promise<ClusterEvent[]> {
  return (await kv.range(`${STORE_PREFIX.events}default/`, { prefix: true })).kvs.map((k) => JSON.parse(Buffer.from(k.value).toString('utf8')) as ClusterEvent);
}

const pass = () => new SchedulingReconciler({ kv: t.kv, random: seededRandom(3) }).pass();

describe('schedulerName', () => {
  it('leaves pods for another scheduler alone and binds those for default-scheduler or capstan', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 4000, memory: 4 * GI });
    await putPod(t.kv, withSpec(pod('theirs', { cpu: '100m' }), { schedulerName: 'my-scheduler' }));
    await putPod(t.kv, withSpec(pod('default', { cpu: '100m' }), { schedulerName: 'default-scheduler' }));
    await putPod(t.kv, withSpec(pod('named', { cpu: '100m' }), { schedulerName: 'capstan' }));
    await putPod(t.kv, pod('plain', { cpu: '100m' }));
    const r = await pass();
    expect(r.bound.map((b) => b.pod).sort()).toEqual(['default/default', 'default/named', 'default/plain']);
    const theirs = (await readPods(t.kv)).get('theirs')!;
    expect(theirs.spec.nodeName).toBeUndefined();
    expect(theirs.status).toEqual({ phase: 'Pending', ready: false });
    expect((await events(t.kv)).filter((e) => e.object === 'Pod/theirs')).toEqual([]);
  });
});

describe('priority', () => {
  it('takes higher priority first, writes the resolved priority into the bound pod, and names a missing class', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: 4 * GI });
    await desired(t.kv, priorityClass('high', 1_000_000));
    await desired(t.kv, priorityClass('everyone', 10, { globalDefault: true }));
    await putPod(t.kv, pod('early-low', { cpu: '800m', createdAt: '2026-01-01T00:00:00Z' }));
    await putPod(t.kv, withSpec(pod('late-high', { cpu: '800m', createdAt: '2026-01-02T00:00:00Z' }), { priorityClassName: 'high' }));
    await putPod(t.kv, withSpec(pod('typo', { cpu: '1m' }), { priorityClassName: 'hihg' }));
    const r = await pass();
    expect(r.bound).toEqual([{ pod: 'default/late-high', node: 'n1' }]);
    const pods = await readPods(t.kv);
    expect(pods.get('late-high')!.spec.priority).toBe(1_000_000);
    expect(pods.get('early-low')!.status.message).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    expect(pods.get('typo')!.status.message).toBe(
      'no PriorityClass with name hihg was found: add a scheduling.k8s.io/v1 PriorityClass named hihg, or change spec.priorityClassName',
    );
    // The low pod has the global default's priority (10), equal to none it could preempt.
    expect(r.preempted).toEqual([]);
  });
});

describe('preemption', () => {
  it('evicts the fewest lower-priority pods, nominates the node, waits for them to stop, then binds', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: 4 * GI });
    await desired(t.kv, priorityClass('high', 1000));
    await putPod(t.kv, withSpec(pod('low-a', { cpu: '600m', nodeName: 'n1' }), {}, { startedAt: '2026-01-01T00:00:00Z' }));
    await putPod(t.kv, withSpec(pod('low-b', { cpu: '300m', nodeName: 'n1' }), {}, { startedAt: '2026-01-02T00:00:00Z' }));
    await putPod(t.kv, withSpec(pod('vip', { cpu: '600m' }), { priorityClassName: 'high' }));
    const first = await pass();
    // Both go in the dry run; low-a (started first, so more important) is given back first but
    // does not fit beside the preemptor; low-b does.
    expect(first.preempted).toEqual([{ pod: 'default/vip', node: 'n1', victims: ['default/low-a'] }]);
    let pods = await readPods(t.kv);
    expect(pods.get('low-a')!.metadata.deletionRequestedAt).toBeDefined();
    expect(pods.get('low-a')!.status).toMatchObject({ reason: 'Preempted', message: 'Preempted by pod default/vip on node n1' });
    expect(pods.get('low-b')!.metadata.deletionRequestedAt).toBeUndefined();
    expect(pods.get('vip')!.spec.nodeName).toBeUndefined();
    expect(pods.get('vip')!.status).toMatchObject({ phase: 'Pending', nominatedNodeName: 'n1', message: '0/1 nodes are available: 1 Insufficient cpu.' });
    expect((await events(t.kv)).find((e) => e.object === 'Pod/low-a' && e.reason === 'Preempted')).toMatchObject({ type: 'Normal', message: 'Preempted by pod default/vip on node n1' });

    // While its victim terminates, the preemptor waits and preempts nothing more.
    const second = await pass();
    expect(second.preempted).toEqual([]);
    expect(second.bound).toEqual([]);
    expect((await readPods(t.kv)).get('low-b')!.metadata.deletionRequestedAt).toBeUndefined();

    // The agent reports the victim stopped: its room is free and the preemptor is bound there.
    const a = pods.get('low-a')!;
    await putPod(t.kv, { ...a, status: { ...a.status, terminatedAt: new Date(0).toISOString() } });
    const third = await pass();
    expect(third.bound).toEqual([{ pod: 'default/vip', node: 'n1' }]);
    pods = await readPods(t.kv);
    expect(pods.get('vip')!.status.nominatedNodeName).toBeUndefined();
    expect(pods.get('vip')!.spec.priority).toBe(1000);
  });

  it('respects preemptionPolicy Never from the class, and never evicts equal priority', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: 4 * GI });
    await desired(t.kv, priorityClass('polite', 1000, { preemptionPolicy: 'Never' }));
    await putPod(t.kv, pod('low', { cpu: '900m', nodeName: 'n1' }));
    await putPod(t.kv, withSpec(pod('waits', { cpu: '600m' }), { priorityClassName: 'polite' }));
    await putPod(t.kv, withSpec(pod('peer', { cpu: '600m' }), { priority: 0 }));
    const r = await pass();
    expect(r.preempted).toEqual([]);
    expect(r.unschedulable.map((u) => u.pod).sort()).toEqual(['default/peer', 'default/waits']);
    expect((await readPods(t.kv)).get('low')!.metadata.deletionRequestedAt).toBeUndefined();
  });

  it('picks the node whose victims no PodDisruptionBudget protects', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: 4 * GI });
    await registerNode(t.url, t.tokens.admin, 'n2', { cpu: 1000, memory: 4 * GI });
    await desired(t.kv, priorityClass('high', 1000));
    await desired(t.kv, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'db' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } } });
    // db (protected, ready, the only one) is the cheaper victim by priority; batch is not protected.
    await putPod(t.kv, withSpec(pod('db', { cpu: '900m', nodeName: 'n1' }), { priority: 0 }, { startedAt: '2026-01-01T00:00:00Z', ready: true }));
    await putPod(t.kv, withSpec(pod('batch', { cpu: '900m', nodeName: 'n2' }), { priority: 5 }, { startedAt: '2026-01-01T00:00:00Z', ready: true }));
    await putPod(t.kv, withSpec(pod('vip', { cpu: '600m' }), { priorityClassName: 'high' }));
    const r = await pass();
    expect(r.preempted).toEqual([{ pod: 'default/vip', node: 'n2', victims: ['default/batch'] }]);
  });
});

describe('Pending reasons for inter-pod rules', () => {
  it('names the anti-affinity rule when one-per-node replicas outnumber the nodes', async () => {
    for (const n of ['n1', 'n2', 'n3']) await registerNode(t.url, t.tokens.admin, n, { cpu: 4000, memory: 4 * GI }, { 'topology.kubernetes.io/zone': n === 'n1' ? 'a' : 'b' });
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } };
    for (let i = 0; i < 4; i++) await putPod(t.kv, withSpec(pod(`web-${i}`, { cpu: '100m', owner: 'web', createdAt: `2026-01-0${i + 1}T00:00:00Z` }), { affinity: anti }));
    const r = await pass();
    expect(new Set(r.bound.map((b) => b.node)).size).toBe(3);
    expect(r.unschedulable).toEqual([{ pod: 'default/web-3', reason: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules." }]);
  });
});
