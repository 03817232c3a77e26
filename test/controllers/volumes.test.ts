// The claims controller (PersistentVolumeClaims from Git → claim records, kept while a pod
// uses them) and a StatefulSet pod replaced onto its claim's node, on the embedded store in
// memory with the reconcilers driven by hand.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { applyDefaults, type ManifestObject } from '../../src/api/index.js';
import { silentLogger } from '../../src/common/index.js';
import { CLAIMS_PREFIX, EventRecorder, SchedulingReconciler, VirtualClock } from '../../src/controllers/index.js';
import { statefulSetReconciler } from '../../src/controllers/statefulset/index.js';
import { NODE_LEASES_PREFIX } from '../../src/controllers/scheduling/controller.js';
import { claimsReconciler, type ClaimRecord } from '../../src/controllers/volumes/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { GI, pod, putPod, readPods } from './nodes-helpers.js';

let kv: KV;
const clock = new VirtualClock(Date.parse('2026-01-01T00:00:00Z'));
const ctx = () => ({ logger: silentLogger(), signal: new AbortController().signal, failures: 0 });
const decode = <T>(v: Uint8Array): T => JSON.parse(Buffer.from(v).toString('utf8')) as T;

beforeEach(async () => {
  kv = await openEmbeddedStore();
});
afterEach(async () => {
  await kv.close();
});

async function apply(obj: ManifestObject): Promise<void> {
  const o = applyDefaults(obj);
  const record = { object: o, source: { file: 'apps/x.yaml', index: 0, line: 1, column: 1 }, commit: 'c0ffee', appliedAt: new Date(clock.now()).toISOString() };
  await kv.put(`${STORE_PREFIX.desired}${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, JSON.stringify(record));
}

async function claims(): Promise<Map<string, ClaimRecord>> {
  const r = await kv.range(CLAIMS_PREFIX, { prefix: true });
  return new Map(r.kvs.map((k) => [k.key.slice(CLAIMS_PREFIX.length), decode<ClaimRecord>(k.value)]));
}

const pvc = (name: string, storage = '1Gi'): ManifestObject =>
  ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } }) as unknown as ManifestObject;

function usingClaim(name: string, claim: string): Pod {
  const p = pod(name, { cpu: '100m', nodeName: 'n1' });
  (p.spec as { volumes?: unknown[] }).volumes = [{ name: 'data', persistentVolumeClaim: { claimName: claim } }];
  return p;
}

describe('claims controller', () => {
  it('makes a Pending claim record per claim in Git and copies a changed spec, keeping its binding', async () => {
    const r = claimsReconciler({ kv, clock });
    await apply(pvc('data'));
    await r.reconcile('persistentvolumeclaims', ctx());
    const made = (await claims()).get('default/data')!;
    expect(made).toMatchObject({ kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'default', commit: 'c0ffee' }, spec: { resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Pending' } });
    expect(made.metadata.owner).toBeUndefined();

    // Bound by the scheduler, then the manifest changes: the binding stays.
    const key = `${CLAIMS_PREFIX}default/data`;
    await kv.put(key, JSON.stringify({ ...made, metadata: { ...made.metadata, annotations: { 'volume.kubernetes.io/selected-node': 'n2' } }, spec: { ...made.spec, volumeName: 'local-default-data' }, status: { phase: 'Bound', nodeName: 'n2' } }));
    await apply(pvc('data', '2Gi'));
    await r.reconcile('persistentvolumeclaims', ctx());
    const changed = (await claims()).get('default/data')!;
    expect(changed.spec).toMatchObject({ resources: { requests: { storage: '2Gi' } }, volumeName: 'local-default-data' });
    expect(changed.status).toEqual({ phase: 'Bound', nodeName: 'n2' });
    expect(changed.metadata.annotations).toEqual({ 'volume.kubernetes.io/selected-node': 'n2' });
    // Nothing changed: nothing written.
    const before = (await kv.get(key))!.modRevision;
    await r.reconcile('persistentvolumeclaims', ctx());
    expect((await kv.get(key))!.modRevision).toBe(before);
  });

  it('a claim gone from Git is kept while a pod uses it (pvc-protection) and removed once the pod is gone', async () => {
    const r = claimsReconciler({ kv, clock, events: new EventRecorder({ kv, source: 'test', clock }) });
    await apply(pvc('data'));
    await apply(pvc('scratch'));
    await r.reconcile('persistentvolumeclaims', ctx());
    await putPod(kv, usingClaim('app', 'data'));
    await kv.delete(`${STORE_PREFIX.desired}PersistentVolumeClaim/default/data`);
    await kv.delete(`${STORE_PREFIX.desired}PersistentVolumeClaim/default/scratch`);
    await r.reconcile('persistentvolumeclaims', ctx());
    const kept = await claims();
    expect([...kept.keys()]).toEqual(['default/data']); // scratch had no pod: gone at once
    expect(kept.get('default/data')!.metadata.deletionRequestedAt).toBeDefined();
    const events = (await kv.range(`${STORE_PREFIX.events}default/`, { prefix: true })).kvs.map((k) => decode<{ reason: string; message: string }>(k.value));
    expect(events.find((e) => e.reason === 'ClaimInUse')?.message).toMatch(/used by pod app; kept until no pod uses it \(kubernetes.io\/pvc-protection\)/);

    // Still in use: another pass keeps it.
    await r.reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).has('default/data')).toBe(true);
    // The pod is gone: the claim goes.
    await kv.delete(`${STORE_PREFIX.pods}default/app`);
    await r.reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).size).toBe(0);
  });

  it('a claim back in Git before its pod is gone is no longer marked for deletion', async () => {
    const r = claimsReconciler({ kv, clock });
    await apply(pvc('data'));
    await r.reconcile('persistentvolumeclaims', ctx());
    await putPod(kv, usingClaim('app', 'data'));
    await kv.delete(`${STORE_PREFIX.desired}PersistentVolumeClaim/default/data`);
    await r.reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).get('default/data')!.metadata.deletionRequestedAt).toBeDefined();
    await apply(pvc('data'));
    await r.reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).get('default/data')!.metadata.deletionRequestedAt).toBeUndefined();
  });

  it('never touches a StatefulSet claim of the same name', async () => {
    const sts = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-db-0', namespace: 'default', owner: { kind: 'StatefulSet', name: 'db', ordinal: 0 }, createdAt: new Date(0).toISOString(), labels: {} }, spec: {} };
    await kv.put(`${CLAIMS_PREFIX}default/data-db-0`, JSON.stringify(sts));
    await apply(pvc('data-db-0'));
    await claimsReconciler({ kv, clock }).reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).get('default/data-db-0')).toEqual(sts);
    await kv.delete(`${STORE_PREFIX.desired}PersistentVolumeClaim/default/data-db-0`);
    await claimsReconciler({ kv, clock }).reconcile('persistentvolumeclaims', ctx());
    expect((await claims()).get('default/data-db-0')).toEqual(sts);
  });
});

describe('a StatefulSet pod and its claim', () => {
  it('a replaced pod goes back to the node its claim is bound to, though the other node is emptier', async () => {
    for (const name of ['n1', 'n2']) {
      await kv.put(`${STORE_PREFIX.nodes}${name}`, JSON.stringify({ name, labels: {}, capacity: { cpu: 4000, memory: 8 * GI, pods: 110 }, runtime: 'process', status: { ready: true } }));
      await kv.put(`${NODE_LEASES_PREFIX}${name}`, JSON.stringify({ holder: name }));
    }
    await apply({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'default' },
      spec: {
        replicas: 1,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'main', image: 'db:1', resources: { requests: { cpu: '500m' } } }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    } as ManifestObject);
    const sts = statefulSetReconciler({ kv, clock });
    const scheduler = new SchedulingReconciler({ kv, random: seededRandom(5) });
    await sts.reconcile('StatefulSet/default/db', ctx());
    const first = await scheduler.pass();
    expect(first.bound.map((b) => b.pod)).toEqual(['default/db-0']);
    const home = first.bound[0]!.node;
    const other = home === 'n1' ? 'n2' : 'n1';
    expect((await claims()).get('default/data-db-0')!.status).toMatchObject({ phase: 'Bound', nodeName: home });

    // The claim's node fills up, so the scheduler's scores now prefer the other node...
    await putPod(kv, pod('hog', { cpu: '3000m', nodeName: home }));
    // ...and the pod is gone (deleted, its node lost): the controller makes db-0 again.
    await kv.delete(`${STORE_PREFIX.pods}default/db-0`);
    await sts.reconcile('StatefulSet/default/db', ctx());
    const again = (await readPods(kv)).get('db-0')!;
    expect(again.spec.nodeName).toBeUndefined();
    const second = await scheduler.pass();
    expect(second.bound).toEqual([{ pod: 'default/db-0', node: home }]);
    // A plain pod without the claim would have gone to the emptier node.
    await putPod(kv, pod('plain', { cpu: '500m' }));
    expect((await scheduler.pass()).bound).toEqual([{ pod: 'default/plain', node: other }]);
  });
});
