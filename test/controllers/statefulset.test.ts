import { afterEach, describe, expect, it } from 'vitest';
import type { Pod } from '../../src/api/cluster.js';
import { applyDefaults, type ManifestObject, type StatefulSet } from '../../src/api/index.js';
import { CLAIMS_PREFIX, statefulSetController, type StatefulSetStatus, type StoredClaim } from '../../src/controllers/statefulset/index.js';
import { appsHarness, type AppsHarness } from './apps-harness.js';

const open: AppsHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function start(): Promise<AppsHarness> {
  const h = await appsHarness((kv, clock) => statefulSetController({ kv, clock, resyncMs: 0 }));
  open.push(h);
  return h;
}

function sts(image: string, spec: Partial<StatefulSet['spec']> = {}): ManifestObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: 'default' },
    spec: {
      replicas: 3,
      serviceName: 'db',
      selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'main', image }] } },
      ...spec,
    },
  };
}

const status = (h: AppsHarness) => h.status<StatefulSetStatus>('StatefulSet', 'db');
const readyAll = (h: AppsHarness, n: number, image?: string) => async () => {
  const pods = (await h.pods()).filter((p) => p.metadata.deletionRequestedAt === undefined);
  const s = await status(h);
  return pods.length === n && pods.every((p) => p.status.ready && (image === undefined || p.spec.containers[0]!.image === image)) && s?.readyReplicas === n;
};
const names = (pods: { name: string }[]) => pods.map((p) => p.name).sort();

describe('StatefulSet controller', () => {
  it('names pods <set>-0..N-1 and creates each only once the one below is Running and Ready (OrderedReady)', async () => {
    const h = await start();
    await h.apply(sts('db:1'));
    await h.drive(readyAll(h, 3));
    const pods = (await h.pods()).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(pods.map((p) => p.metadata.name)).toEqual(['db-0', 'db-1', 'db-2']);
    expect(pods[1]!.metadata.owner.kind).toBe('StatefulSet');
    expect(pods[1]!.metadata.labels).toMatchObject({ app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-1', 'apps.kubernetes.io/pod-index': '1' });
    // Every sample: pod i exists only if every pod below it was ready.
    for (const sample of h.history) {
      const byName = new Map(sample.map((p) => [p.name, p]));
      for (let i = 1; i < 3; i++) {
        if (!byName.has(`db-${i}`)) continue;
        for (let j = 0; j < i; j++) expect(byName.get(`db-${j}`)?.ready, `db-${i} exists while db-${j} is not ready`).toBe(true);
      }
    }
    expect(h.history.some((s) => names(s).join() === 'db-0')).toBe(true);
    const s = (await status(h))!;
    expect(s).toMatchObject({ kind: 'StatefulSet', phase: 'Healthy', replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentReplicas: 3, syncedCommit: 'c0ffee' });
    expect(s.currentRevision).toBe(s.updateRevision);
    expect(s.currentRevision).toMatch(/^db-[a-z0-9]{10}$/);
  });

  it('Parallel creates every pod at once', async () => {
    const h = await start();
    await h.apply(sts('db:1', { podManagementPolicy: 'Parallel' }));
    await h.drive(async () => (await h.pods()).length === 3);
    expect((await h.pods()).every((p) => !p.status.ready)).toBe(true);
    await h.drive(readyAll(h, 3));
  });

  it('scales down from the highest ordinal, one at a time, waiting for each to terminate', async () => {
    const h = await start();
    h.kubelet.terminateAfterMs = 3000;
    await h.apply(sts('db:1', { replicas: 4 }));
    await h.drive(readyAll(h, 4));
    const from = h.history.length;
    await h.apply(sts('db:1', { replicas: 1 }));
    await h.drive(async () => (await h.pods()).length === 1);
    expect((await h.pods()).map((p) => p.metadata.name)).toEqual(['db-0']);
    const order: string[] = [];
    for (const sample of h.history.slice(from)) {
      const deleting = sample.filter((p) => p.deleting);
      expect(deleting.length).toBeLessThanOrEqual(1);
      for (const p of deleting) if (!order.includes(p.name)) order.push(p.name);
      // A lower ordinal is never stopping while a higher one still exists.
      for (const p of deleting) expect(sample.some((q) => Number(q.name.slice(3)) > Number(p.name.slice(3)))).toBe(false);
    }
    expect(order).toEqual(['db-3', 'db-2', 'db-1']);
  });

  it('a partitioned rolling update replaces ordinals >= partition from the highest down, each waiting Ready; lowering the partition finishes it', async () => {
    const h = await start();
    await h.apply(sts('db:1', { replicas: 4 }));
    await h.drive(readyAll(h, 4));
    const before = (await status(h))!;
    const from = h.history.length;
    await h.apply(sts('db:2', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }));
    await h.drive(async () => {
      const pods = await h.pods();
      return pods.filter((p) => p.spec.containers[0]!.image === 'db:2' && p.status.ready).length === 3 && (await status(h))?.phase === 'Healthy';
    });
    const pods = new Map((await h.pods()).map((p) => [p.metadata.name, p]));
    expect(pods.get('db-0')!.spec.containers[0]!.image).toBe('db:1');
    const s = (await status(h))!;
    expect(s.currentRevision).toBe(before.currentRevision);
    expect(s.updateRevision).not.toBe(before.updateRevision);
    expect(s).toMatchObject({ updatedReplicas: 3, currentReplicas: 1, readyReplicas: 4 });

    const order: string[] = [];
    const newHash = s.updateRevision.slice(3);
    for (const sample of h.history.slice(from)) {
      // One pod at a time is away: stopping, missing or not ready.
      const away = 4 - sample.filter((p) => p.ready && !p.deleting).length;
      expect(away).toBeLessThanOrEqual(1);
      for (const p of sample) if (p.hash === newHash && !order.includes(p.name)) order.push(p.name);
    }
    expect(order).toEqual(['db-3', 'db-2', 'db-1']);

    await h.apply(sts('db:2', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } } }));
    await h.drive(readyAll(h, 4, 'db:2'));
    await h.drive(async () => (await status(h))?.currentRevision === s.updateRevision);
    expect((await status(h))!.currentReplicas).toBe(4);
  });

  it('OnDelete replaces a pod only once it is deleted', async () => {
    const h = await start();
    const onDelete = { updateStrategy: { type: 'OnDelete' as const } };
    await h.apply(sts('db:1', onDelete));
    await h.drive(readyAll(h, 3));
    await h.apply(sts('db:2', onDelete));
    await h.drive(async () => (await status(h))?.updatedReplicas === 0 && (await status(h))?.phase === 'Healthy');
    expect((await h.pods()).every((p) => p.spec.containers[0]!.image === 'db:1')).toBe(true);
    const item = (await h.kv.get('/capstan/pods/default/db-1'))!;
    const pod = JSON.parse(new TextDecoder().decode(item.value)) as Pod;
    await h.kv.put(item.key, JSON.stringify({ ...pod, metadata: { ...pod.metadata, deletionRequestedAt: new Date(h.clock.now()).toISOString() } }));
    await h.drive(async () => (await h.pods()).some((p) => p.metadata.name === 'db-1' && p.status.ready && p.spec.containers[0]!.image === 'db:2'));
    const images = Object.fromEntries((await h.pods()).map((p) => [p.metadata.name, p.spec.containers[0]!.image]));
    expect(images).toEqual({ 'db-0': 'db:1', 'db-1': 'db:2', 'db-2': 'db:1' });
  });

  it('makes one claim per template and ordinal, keeps it across a pod replacement and a scale-down', async () => {
    const h = await start();
    const claims = { volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { resources: { requests: { storage: '1Gi' } } } }] };
    await h.apply(sts('db:1', { replicas: 2, ...claims }));
    await h.drive(readyAll(h, 2));
    const first = await h.kv.range(CLAIMS_PREFIX, { prefix: true });
    expect(first.kvs.map((k) => k.key)).toEqual([`${CLAIMS_PREFIX}default/data-db-0`, `${CLAIMS_PREFIX}default/data-db-1`]);
    const claim = JSON.parse(new TextDecoder().decode(first.kvs[1]!.value)) as StoredClaim;
    expect(claim).toMatchObject({ kind: 'PersistentVolumeClaim', metadata: { name: 'data-db-1', owner: { kind: 'StatefulSet', name: 'db', ordinal: 1 } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const volumesOf = (p: Pod) => (p.spec as unknown as { volumes?: unknown[] }).volumes;
    const pod1 = (await h.pods()).find((p) => p.metadata.name === 'db-1')!;
    expect(volumesOf(pod1)).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-1' } }]);

    await h.apply(sts('db:2', { replicas: 2, ...claims }));
    await h.drive(readyAll(h, 2, 'db:2'));
    const after = await h.kv.range(CLAIMS_PREFIX, { prefix: true });
    // The same claims, never rewritten: the replacement pods got the claims of their ordinal.
    expect(after.kvs.map((k) => [k.key, k.createRevision, k.modRevision])).toEqual(first.kvs.map((k) => [k.key, k.createRevision, k.modRevision]));
    const replaced = (await h.pods()).find((p) => p.metadata.name === 'db-1')!;
    expect(volumesOf(replaced)).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-1' } }]);

    await h.apply(sts('db:2', { replicas: 1, ...claims }));
    await h.drive(async () => (await h.pods()).length === 1);
    expect((await h.kv.range(CLAIMS_PREFIX, { prefix: true })).kvs).toHaveLength(2); // whenScaled: Retain
    await h.remove('StatefulSet', 'db');
    await h.drive(async () => (await h.pods()).length === 0 && (await status(h)) === undefined);
    expect((await h.kv.range(CLAIMS_PREFIX, { prefix: true })).kvs).toHaveLength(2); // whenDeleted: Retain
  });

  it('whenScaled: Delete removes the claims of removed ordinals once their pods are gone', async () => {
    const h = await start();
    const claims = {
      volumeClaimTemplates: [{ metadata: { name: 'data' } }],
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' as const, whenDeleted: 'Retain' as const },
    };
    await h.apply(sts('db:1', { replicas: 3, ...claims }));
    await h.drive(readyAll(h, 3));
    await h.apply(sts('db:1', { replicas: 1, ...claims }));
    await h.drive(async () => (await h.pods()).length === 1 && (await h.kv.range(CLAIMS_PREFIX, { prefix: true })).kvs.length === 1);
    expect((await h.list<StoredClaim>(CLAIMS_PREFIX)).map((c) => c.metadata.name)).toEqual(['data-db-0']);
  });
});

describe('StatefulSet and Deployment of one name side by side', () => {
  it('each controller keeps only its own pods (owner kind), though both are named db-...', async () => {
    const { deployment, harness } = await import('../helpers/fake-kubelet.js');
    const h = await harness();
    const sts = statefulSetController({ kv: h.kv, clock: h.clock, resyncMs: 0 });
    sts.start();
    try {
      await h.apply(deployment('db', 'web:1', { replicas: 2 }));
      const set = sts_('db:1');
      await h.kv.put('/capstan/desired/StatefulSet/default/db', JSON.stringify({ object: set, source: { file: 'a.yaml', index: 0, line: 1, column: 1 }, appliedAt: new Date(h.clock.now()).toISOString() }));
      await h.drive(async () => {
        const pods = (await h.pods()).filter((p) => p.status.ready);
        const d = await h.status('db');
        const s = await h.status('db', 'StatefulSet');
        return pods.length === 4 && d?.readyReplicas === 2 && s?.readyReplicas === 2;
      });
      const owners = (await h.pods()).map((p) => `${p.metadata.owner.kind}:${p.metadata.name.startsWith('db-') && /^db-\d$/.test(p.metadata.name) ? 'ordinal' : 'hashed'}`).sort();
      expect(owners).toEqual(['Deployment:hashed', 'Deployment:hashed', 'StatefulSet:ordinal', 'StatefulSet:ordinal']);
      expect((await h.revisions()).every((r) => r.metadata.owner.kind === 'Deployment')).toBe(true);
    } finally {
      await sts.stop();
      await h.close();
    }
  });
});

function sts_(image: string): ManifestObject {
  return applyDefaults(sts(image, { replicas: 2 }));
}
