// DaemonSet pods go through the real scheduler: each is bound to the node its affinity names,
// a cordoned node included (daemon pods tolerate unschedulable), and only there.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STORE_PREFIX, type NodeInfo } from '../../src/api/cluster.js';
import { applyDefaults, type ManifestObject } from '../../src/api/index.js';
import { schedulingController, type Controller } from '../../src/controllers/index.js';
import { daemonSetController, targetNode } from '../../src/controllers/daemonset/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { GI, readPods, registerNode } from './nodes-helpers.js';

let t: TestApi;
let controllers: Controller[] = [];

beforeEach(async () => {
  t = await startApi();
  await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: GI }, { zone: 'a' });
  await registerNode(t.url, t.tokens.admin, 'n2', { cpu: 1000, memory: GI }, { zone: 'b' });
  await registerNode(t.url, t.tokens.admin, 'n3', { cpu: 1000, memory: GI }, { zone: 'b' });
});

afterEach(async () => {
  await Promise.all(controllers.map((c) => c.stop()));
  controllers = [];
  await t.close();
});

describe('DaemonSet pods through the scheduler', () => {
  it('binds one pod to each node, the cordoned one too, each to the node it was made for', async () => {
    const key = `${STORE_PREFIX.nodes}n3`;
    const n3 = JSON.parse(new TextDecoder().decode((await t.kv.get(key))!.value)) as NodeInfo;
    await t.kv.put(key, JSON.stringify({ ...n3, unschedulable: true }));
    const ds: ManifestObject = applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'main', image: 'agent:1', resources: { requests: { cpu: '100m' } } }] } },
      },
    });
    await t.kv.put(`${STORE_PREFIX.desired}DaemonSet/default/agent`, JSON.stringify({ object: ds, source: { file: 'a.yaml', index: 0, line: 1, column: 1 }, appliedAt: new Date().toISOString() }));
    controllers = [schedulingController({ kv: t.kv, random: seededRandom(7), retryUnschedulableMs: 200 }), daemonSetController({ kv: t.kv })];
    for (const c of controllers) c.start();
    await vi.waitFor(async () => {
      const pods = [...(await readPods(t.kv)).values()];
      expect(pods).toHaveLength(3);
      for (const p of pods) expect(p.spec.nodeName, p.metadata.name).toBeDefined();
    }, { timeout: 5000 });
    const pods = [...(await readPods(t.kv)).values()];
    expect(pods.map((p) => p.spec.nodeName).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const p of pods) expect(p.spec.nodeName).toBe(targetNode({ ...p, spec: { ...p.spec, nodeName: undefined } } as never));
  });
});
