// Claims and the scheduling controller: an unbound claim binds to the node its first pod goes
// to, later pods using it follow, and a missing claim keeps a pod Pending with a reason. The
// store is the embedded one in memory; nodes and their leases are written directly.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { CLAIMS_PREFIX, SchedulingReconciler, REASON_UNSCHEDULABLE_POD } from '../../src/controllers/index.js';
import { NODE_LEASES_PREFIX } from '../../src/controllers/scheduling/controller.js';
import { SELECTED_NODE_ANNOTATION, type ClaimRecord } from '../../src/controllers/volumes/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { GI, pod, putPod, readPods } from './nodes-helpers.js';

let kv: KV;

async function node(name: string, cpu = 4000): Promise<void> {
  await kv.put(`${STORE_PREFIX.nodes}${name}`, JSON.stringify({ name, labels: {}, capacity: { cpu, memory: 8 * GI, pods: 110 }, runtime: 'process', status: { ready: true } }));
  await kv.put(`${NODE_LEASES_PREFIX}${name}`, JSON.stringify({ holder: name }));
}

function claim(name: string, extra: Partial<ClaimRecord['metadata']> = {}): ClaimRecord {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default', createdAt: new Date(0).toISOString(), ...extra },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    status: { phase: 'Pending' },
  };
}

async function putClaim(c: ClaimRecord): Promise<void> {
  await kv.put(`${CLAIMS_PREFIX}default/${c.metadata.name}`, JSON.stringify(c));
}

async function readClaim(name: string): Promise<ClaimRecord | undefined> {
  const item = await kv.get(`${CLAIMS_PREFIX}default/${name}`);
  return item ? (JSON.parse(Buffer.from(item.value).toString('utf8')) as ClaimRecord) : undefined;
}

function withClaim(p: Pod, claimName: string): Pod {
  (p.spec as { volumes?: unknown[] }).volumes = [{ name: 'data', persistentVolumeClaim: { claimName } }];
  return p;
}

beforeEach(async () => {
  kv = await openEmbeddedStore();
  await node('n1');
  await node('n2');
});

afterEach(async () => {
  await kv.close();
});

describe('scheduling pods with PersistentVolumeClaims', () => {
  it('binds an unbound claim to the node its first pod goes to; a second pod using it goes only there', async () => {
    await putClaim(claim('data'));
    await putPod(kv, withClaim(pod('a', { cpu: '100m' }), 'data'));
    const s = new SchedulingReconciler({ kv, random: seededRandom(3) });
    const first = await s.pass();
    expect(first.bound).toHaveLength(1);
    const node = first.bound[0]!.node;
    const c = (await readClaim('data'))!;
    expect(c.status).toMatchObject({ phase: 'Bound', nodeName: node, accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } });
    expect(c.spec.volumeName).toBe('local-default-data');
    expect(c.metadata.annotations?.[SELECTED_NODE_ANNOTATION]).toBe(node);

    // Many pods of one owner would spread; with the claim every one lands on the claim's node.
    for (let i = 0; i < 6; i++) await putPod(kv, withClaim(pod(`b-${i}`, { cpu: '100m', owner: 'b' }), 'data'));
    for (let seed = 0; seed < 3; seed++) await new SchedulingReconciler({ kv, random: seededRandom(seed) }).pass();
    const pods = await readPods(kv);
    for (let i = 0; i < 6; i++) expect(pods.get(`b-${i}`)!.spec.nodeName).toBe(node);
  });

  it('two pods with one unbound claim in one pass end on the same node', async () => {
    await putClaim(claim('shared'));
    await putPod(kv, withClaim(pod('x', { cpu: '100m', owner: 'w' }), 'shared'));
    await putPod(kv, withClaim(pod('y', { cpu: '100m', owner: 'w' }), 'shared'));
    const r = await new SchedulingReconciler({ kv, random: seededRandom(1) }).pass();
    expect(r.bound).toHaveLength(2);
    expect(r.bound[0]!.node).toBe(r.bound[1]!.node);
    expect((await readClaim('shared'))!.status?.nodeName).toBe(r.bound[0]!.node);
  });

  it('a pod whose bound claim is on a node without room stays Pending with the volume node affinity conflict', async () => {
    await putClaim({ ...claim('data'), status: { phase: 'Bound', nodeName: 'n1' } });
    await putPod(kv, pod('hog', { cpu: '3900m', nodeName: 'n1' }));
    await putPod(kv, withClaim(pod('db', { cpu: '500m' }), 'data'));
    const r = await new SchedulingReconciler({ kv, random: seededRandom(1) }).pass();
    expect(r.bound).toEqual([]);
    const db = (await readPods(kv)).get('db')!;
    expect(db.spec.nodeName).toBeUndefined();
    expect(db.status.reason).toBe(REASON_UNSCHEDULABLE_POD);
    expect(db.status.message).toBe('0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had volume node affinity conflict.');
  });

  it('a pod whose claim does not exist stays Pending with the claim named, and is placed once the claim appears', async () => {
    await putPod(kv, withClaim(pod('orphan', { cpu: '100m' }), 'missing'));
    const s = new SchedulingReconciler({ kv, random: seededRandom(1) });
    const r = await s.pass();
    expect(r.unschedulable).toEqual([{ pod: 'default/orphan', reason: '0/2 nodes are available: persistentvolumeclaim "missing" not found.' }]);
    const p = (await readPods(kv)).get('orphan')!;
    expect(p.status).toMatchObject({ phase: 'Pending', reason: REASON_UNSCHEDULABLE_POD, message: '0/2 nodes are available: persistentvolumeclaim "missing" not found.' });

    await putClaim(claim('missing'));
    const again = await s.pass();
    expect(again.bound).toHaveLength(1);
    const placed = (await readPods(kv)).get('orphan')!;
    expect(placed.status.reason).toBeUndefined();
    expect((await readClaim('missing'))!.status?.nodeName).toBe(placed.spec.nodeName);
  });

  it('a ReadWriteOncePod claim is used by one pod at a time; a ReadWriteOnce one by many on its node', async () => {
    await putClaim({ ...claim('solo'), spec: { accessModes: ['ReadWriteOncePod'] } });
    await putPod(kv, withClaim(pod('one', { cpu: '100m', createdAt: new Date(1).toISOString() }), 'solo'));
    await putPod(kv, withClaim(pod('two', { cpu: '100m', createdAt: new Date(2).toISOString() }), 'solo'));
    const s = new SchedulingReconciler({ kv, random: seededRandom(1) });
    const r = await s.pass();
    expect(r.bound.map((b) => b.pod)).toEqual(['default/one']);
    expect(r.unschedulable).toEqual([{ pod: 'default/two', reason: '0/2 nodes are available: persistentvolumeclaim "solo" has access mode ReadWriteOncePod and is used by pod one.' }]);
    // In a later pass too, from the bound pod; once it is gone the other one is placed on the claim's node.
    expect((await s.pass()).unschedulable.map((u) => u.pod)).toEqual(['default/two']);
    const node = (await readPods(kv)).get('one')!.spec.nodeName;
    await kv.delete(`${STORE_PREFIX.pods}default/one`);
    expect((await s.pass()).bound).toEqual([{ pod: 'default/two', node }]);
  });

  it('a pod whose claim is being deleted is not placed', async () => {
    await putClaim(claim('going', { deletionRequestedAt: new Date(0).toISOString() }));
    await putPod(kv, withClaim(pod('late', { cpu: '100m' }), 'going'));
    const r = await new SchedulingReconciler({ kv, random: seededRandom(1) }).pass();
    expect(r.unschedulable[0]!.reason).toMatch(/persistentvolumeclaim "going" is being deleted/);
  });
});
