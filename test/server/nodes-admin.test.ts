// Node maintenance over the API: cordon, uncordon, drain and delete (admin only), the agent's
// heartbeat keeping a cordon, and drained pods placed on another node by the scheduler.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { SchedulingReconciler } from '../../src/controllers/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { pod, putJson, nodeBody, deployment } from './fixtures.js';

let t: TestApi;
beforeEach(async () => {
  t = await startApi();
  for (const [name, token] of [['node-a', t.tokens.agentA], ['node-b', t.tokens.agentB]] as const) {
    const r = await call(t.url, 'PUT', `/api/v1/nodes/${name}`, { token, body: nodeBody(name) });
    expect(r.status, r.text).toBe(200);
  }
});
afterEach(async () => t.close());

async function readNode(name: string): Promise<NodeInfo | undefined> {
  const kv = await t.kv.get(`${STORE_PREFIX.nodes}${name}`);
  return kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as NodeInfo) : undefined;
}

async function pods(): Promise<Map<string, Pod>> {
  const r = await t.kv.range(STORE_PREFIX.pods, { prefix: true });
  return new Map(r.kvs.map((k) => {
    const p = JSON.parse(Buffer.from(k.value).toString('utf8')) as Pod;
    return [`${p.metadata.namespace}/${p.metadata.name}`, p];
  }));
}

async function events(): Promise<ClusterEvent[]> {
  const r = await t.kv.range(STORE_PREFIX.events, { prefix: true });
  return r.kvs.map((k) => JSON.parse(Buffer.from(k.value).toString('utf8')) as ClusterEvent);
}

const post = (path: string, token: string, body?: unknown) => call(t.url, 'POST', path, { token, ...(body !== undefined ? { body } : {}) });

describe('node maintenance API', () => {
  it('refuses viewers, deployers and agents', async () => {
    for (const token of [t.tokens.viewer, t.tokens.deployer, t.tokens.agentA]) {
      for (const action of ['cordon', 'uncordon', 'drain']) {
        const r = await post(`/api/v1/nodes/node-a/${action}`, token);
        expect(r.status, `${action}`).toBe(403);
        expect(r.json.error.code).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
      }
      expect((await call(t.url, 'DELETE', '/api/v1/nodes/node-a', { token })).status).toBe(403);
    }
    expect((await readNode('node-a'))?.unschedulable).toBeUndefined();
  });

  it('cordons and uncordons, with events; an unknown node is 404', async () => {
    const r = await post('/api/v1/nodes/node-a/cordon', t.tokens.admin);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ changed: true, node: { name: 'node-a', unschedulable: true } });
    expect((await readNode('node-a'))?.unschedulable).toBe(true);
    expect((await post('/api/v1/nodes/node-a/cordon', t.tokens.admin)).json.changed).toBe(false);
    const listed = await call(t.url, 'GET', '/api/v1/nodes/node-a', { token: t.tokens.viewer });
    expect(listed.json.unschedulable).toBe(true);

    expect((await post('/api/v1/nodes/node-a/uncordon', t.tokens.admin)).json.changed).toBe(true);
    expect((await readNode('node-a'))?.unschedulable).toBeUndefined();
    const reasons = (await events()).filter((e) => e.object === 'Node/node-a').map((e) => e.reason).sort();
    expect(reasons).toEqual(['NodeCordoned', 'NodeUncordoned']);

    expect((await post('/api/v1/nodes/nope/cordon', t.tokens.admin)).status).toBe(404);
  });

  it("leaves a pod Pending with the scheduler's unschedulable reason when every node is cordoned", async () => {
    await post('/api/v1/nodes/node-a/cordon', t.tokens.admin);
    await post('/api/v1/nodes/node-b/cordon', t.tokens.admin);
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', undefined, 'Pending'));
    const pass = await new SchedulingReconciler({ kv: t.kv, random: seededRandom(1) }).pass();
    expect(pass.bound).toEqual([]);
    const p = (await pods()).get('default/web-1')!;
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status).toMatchObject({ phase: 'Pending', reason: 'Unschedulable', message: '0/2 nodes are available: 2 node(s) were unschedulable.' });
    const shown = await call(t.url, 'GET', '/api/v1/pods/default/web-1', { token: t.tokens.viewer });
    expect(shown.json.status.message).toContain('node(s) were unschedulable');
  });

  it("keeps a cordon across the agent's heartbeats and re-registration, whatever the body says", async () => {
    await post('/api/v1/nodes/node-a/cordon', t.tokens.admin);
    const changed = { ...nodeBody('node-a'), labels: { zone: 'b' } }; // a real write, not a skipped one
    expect((await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: changed })).status).toBe(200);
    expect((await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: { ...nodeBody('node-a'), unschedulable: false } })).status).toBe(200);
    const node = await readNode('node-a');
    expect(node?.unschedulable).toBe(true);
    expect(node?.labels).toEqual({ zone: 'a' }); // the heartbeat itself was written
    // An agent cannot cordon its own node either.
    await call(t.url, 'PUT', '/api/v1/nodes/node-b', { token: t.tokens.agentB, body: { ...nodeBody('node-b'), labels: { zone: 'c' }, unschedulable: true } });
    expect((await readNode('node-b'))?.unschedulable).toBeUndefined();
  });

  it('drains in batches: pods are asked to stop, replacements go to another node, the node ends empty', async () => {
    await putJson(t.kv, `${STORE_PREFIX.desired}Deployment/default/web`, deployment('default', 'web'));
    for (let i = 1; i <= 3; i++) await putJson(t.kv, `${STORE_PREFIX.pods}default/web-${i}`, pod('default', `web-${i}`, 'node-a'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-9`, pod('default', 'web-9', 'node-b'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-0`, pod('default', 'web-0', 'node-a', 'Succeeded')); // finished: left alone

    const first = await post('/api/v1/nodes/node-a/drain', t.tokens.admin, { batchSize: 2 });
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ node: 'node-a', cordoned: true, done: false, unmanaged: [] });
    expect(first.json.evicted).toHaveLength(2);
    expect(first.json.remaining.sort()).toEqual(['default/web-1', 'default/web-2', 'default/web-3']);
    const second = await post('/api/v1/nodes/node-a/drain', t.tokens.admin, { batchSize: 2 });
    expect(second.json.evicted).toHaveLength(1);
    expect(second.json.cordoned).toBe(false);
    const marked = await pods();
    for (let i = 1; i <= 3; i++) expect(marked.get(`default/web-${i}`)!.metadata.deletionRequestedAt).toBeDefined();
    expect(marked.get('default/web-9')!.metadata.deletionRequestedAt).toBeUndefined();
    expect(marked.get('default/web-0')!.metadata.deletionRequestedAt).toBeUndefined();

    // What the revision controller does: replacements without a node. The scheduler must
    // place them on node-b only, as node-a is cordoned.
    for (let i = 4; i <= 6; i++) await putJson(t.kv, `${STORE_PREFIX.pods}default/web-${i}`, pod('default', `web-${i}`, undefined, 'Pending'));
    const pass = await new SchedulingReconciler({ kv: t.kv, random: seededRandom(3) }).pass();
    expect(pass.unschedulable).toEqual([]);
    expect(pass.bound.map((b) => b.node)).toEqual(['node-b', 'node-b', 'node-b']);

    // What node-a's agent does: stop the pods and say so; the revision controller removes them.
    for (let i = 1; i <= 3; i++) {
      const p = (await pods()).get(`default/web-${i}`)!;
      await putJson(t.kv, `${STORE_PREFIX.pods}default/web-${i}`, { ...p, status: { ...p.status, phase: 'Succeeded', ready: false, terminatedAt: new Date().toISOString() } });
    }
    const last = await post('/api/v1/nodes/node-a/drain', t.tokens.admin);
    expect(last.json).toMatchObject({ done: true, remaining: [], evicted: [] });
    const ev = await events();
    expect(ev.some((e) => e.object === 'Node/node-a' && e.reason === 'NodeDrained')).toBe(true);
    expect(ev.some((e) => e.object === 'Pod/web-1' && e.reason === 'Evicted')).toBe(true);
  });

  it('refuses to drain pods no controller would recreate unless forced', async () => {
    // web-1's Deployment is not stored: nothing would bring it back.
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
    const refused = await post('/api/v1/nodes/node-a/drain', t.tokens.admin);
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toContain('default/web-1');
    expect((await pods()).get('default/web-1')!.metadata.deletionRequestedAt).toBeUndefined();
    expect((await readNode('node-a'))?.unschedulable).toBe(true); // cordoned first, as kubectl drain

    const forced = await post('/api/v1/nodes/node-a/drain', t.tokens.admin, { force: true });
    expect(forced.status, forced.text).toBe(200);
    expect(forced.json.evicted).toEqual(['default/web-1']);
  });

  it('leaves DaemonSet pods running and counts StatefulSet pods as managed', async () => {
    const owned = (name: string, kind: string, owner: string): Pod => {
      const p = pod('default', name, 'node-a');
      return { ...p, metadata: { ...p.metadata, owner: { kind, name: owner, revision: 'r1' } } };
    };
    await putJson(t.kv, `${STORE_PREFIX.desired}StatefulSet/default/db`, deployment('default', 'db'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/db-0`, owned('db-0', 'StatefulSet', 'db'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/logs-x1`, owned('logs-x1', 'DaemonSet', 'logs'));
    const r = await post('/api/v1/nodes/node-a/drain', t.tokens.admin);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ unmanaged: [], evicted: ['default/db-0'], daemonSet: ['default/logs-x1'] });
    const after = await pods();
    expect(after.get('default/logs-x1')!.metadata.deletionRequestedAt).toBeUndefined();
    // Once the StatefulSet pod has stopped, only the DaemonSet pod is left: the node counts as drained.
    const db = after.get('default/db-0')!;
    await putJson(t.kv, `${STORE_PREFIX.pods}default/db-0`, { ...db, status: { ...db.status, phase: 'Succeeded', ready: false, terminatedAt: new Date().toISOString() } });
    expect((await post('/api/v1/nodes/node-a/drain', t.tokens.admin)).json).toMatchObject({ done: true, remaining: [] });
  });

  it('removes the pods of a node whose agent is gone at once', async () => {
    await putJson(t.kv, `${STORE_PREFIX.desired}Deployment/default/web`, deployment('default', 'web'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
    await t.kv.delete(`${STORE_PREFIX.leases}nodes/node-a`);
    const r = await post('/api/v1/nodes/node-a/drain', t.tokens.admin);
    expect(r.json).toMatchObject({ evicted: ['default/web-1'], done: true });
    expect((await pods()).has('default/web-1')).toBe(false);
  });

  it('deletes a node with its pods; a later heartbeat registers it anew, schedulable', async () => {
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-2`, pod('default', 'web-2', 'node-b'));
    await post('/api/v1/nodes/node-a/cordon', t.tokens.admin);
    const r = await call(t.url, 'DELETE', '/api/v1/nodes/node-a', { token: t.tokens.admin });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ node: 'node-a', deleted: true, evicted: ['default/web-1'] });
    expect(await readNode('node-a')).toBeUndefined();
    expect(await t.kv.get(`${STORE_PREFIX.leases}nodes/node-a`)).toBeUndefined();
    expect([...(await pods()).keys()]).toEqual(['default/web-2']);
    expect((await events()).some((e) => e.object === 'Node/node-a' && e.reason === 'NodeDeleted')).toBe(true);
    expect((await call(t.url, 'DELETE', '/api/v1/nodes/node-a', { token: t.tokens.admin })).status).toBe(404);

    expect((await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: nodeBody('node-a') })).status).toBe(200);
    const back = await readNode('node-a');
    expect(back?.name).toBe('node-a');
    expect(back?.unschedulable).toBeUndefined();
    expect(await t.kv.get(`${STORE_PREFIX.leases}nodes/node-a`)).toBeDefined();
  });
});
