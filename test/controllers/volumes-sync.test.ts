// A PersistentVolumeClaim from Git end to end without agents: synced into the store, made a
// claim record, bound by the first pod using it, kept when removed from Git while that pod
// lives, and gone once the pod is.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { CLAIMS_PREFIX, SchedulingReconciler } from '../../src/controllers/index.js';
import { NODE_LEASES_PREFIX } from '../../src/controllers/scheduling/controller.js';
import { claimsReconciler, type ClaimRecord } from '../../src/controllers/volumes/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import { SyncLoop } from '../../src/sync/index.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';
import { GI, pod, putPod } from './nodes-helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const PVC = 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: uploads\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 2Gi\n';
const CM = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  A: "1"\n';

describe('a PersistentVolumeClaim from Git', () => {
  it('is synced, bound by its first pod, and kept after its removal from Git until that pod is gone', async () => {
    const dir = initWorkTree({ 'pvc.yaml': PVC, 'cm.yaml': CM });
    commitFiles(dir, {}, 'first');
    const kv = await openEmbeddedStore({});
    const loop = new SyncLoop({ source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger() });
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => kv.close(), () => loop.stop());
    for (const name of ['n1', 'n2']) {
      await kv.put(`${STORE_PREFIX.nodes}${name}`, JSON.stringify({ name, labels: {}, capacity: { cpu: 4000, memory: 8 * GI, pods: 110 }, runtime: 'process', status: { ready: true } }));
      await kv.put(`${NODE_LEASES_PREFIX}${name}`, JSON.stringify({ holder: name }));
    }
    const state = await loop.sync('test');
    expect(state.phase, state.message).toBe('Synced');
    const claims = claimsReconciler({ kv });
    const ctx = { logger: silentLogger(), signal: new AbortController().signal, failures: 0 };
    const read = async (): Promise<ClaimRecord | undefined> => {
      const item = await kv.get(`${CLAIMS_PREFIX}default/uploads`);
      return item ? (JSON.parse(Buffer.from(item.value).toString('utf8')) as ClaimRecord) : undefined;
    };
    await claims.reconcile('persistentvolumeclaims', ctx);
    expect((await read())?.status?.phase).toBe('Pending');

    const app = pod('app', { cpu: '100m' });
    (app.spec as { volumes?: unknown[] }).volumes = [{ name: 'up', persistentVolumeClaim: { claimName: 'uploads' } }];
    await putPod(kv, app);
    const bound = await new SchedulingReconciler({ kv, random: seededRandom(2) }).pass();
    expect((await read())!.status).toMatchObject({ phase: 'Bound', nodeName: bound.bound[0]!.node, capacity: { storage: '2Gi' } });

    // Removed from Git (the ConfigMap stays, so this is no mass deletion): kept while the pod uses it.
    rmSync(`${dir}/pvc.yaml`);
    commitFiles(dir, {}, 'drop the claim');
    expect((await loop.sync('test')).phase).toBe('Synced');
    expect(await kv.get(`${STORE_PREFIX.desired}PersistentVolumeClaim/default/uploads`)).toBeUndefined();
    await claims.reconcile('persistentvolumeclaims', ctx);
    expect((await read())!.metadata.deletionRequestedAt).toBeDefined();
    expect((await read())!.status?.nodeName).toBe(bound.bound[0]!.node);

    await kv.delete(`${STORE_PREFIX.pods}default/app`);
    await claims.reconcile('persistentvolumeclaims', ctx);
    expect(await read()).toBeUndefined();
  });
});
