import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { pod, putJson, seed } from './fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await seed(t.kv);
});
afterAll(async () => t.close());

describe('API reads', () => {
  it('lists with the store revision, filters by namespace and gets one object', async () => {
    const all = await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.viewer });
    expect(all.status).toBe(200);
    expect(all.json.resourceVersion).toBe(await t.kv.revision());
    expect(all.json.items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
      'default/web-1',
      'default/web-2',
      'shop/cart-1',
      'shop/cart-2',
    ]);
    const shop = await call(t.url, 'GET', '/api/v1/pods?namespace=shop', { token: t.tokens.viewer });
    expect(shop.json.items.map((p: any) => p.metadata.name)).toEqual(['cart-1', 'cart-2']);

    const one = await call(t.url, 'GET', '/api/v1/pods/shop/cart-1', { token: t.tokens.viewer });
    expect(one.status).toBe(200);
    expect(one.json.spec.nodeName).toBe('node-a');

    const missing = await call(t.url, 'GET', '/api/v1/pods/shop/nope', { token: t.tokens.viewer });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('CAPSTAN_ERR_API_NOT_FOUND');
    const unknown = await call(t.url, 'GET', '/api/v1/widgets', { token: t.tokens.viewer });
    expect(unknown.status).toBe(404);
  });

  it('joins deployments with their status, with contract fields', async () => {
    const r = await call(t.url, 'GET', '/api/v1/deployments', { token: t.tokens.viewer });
    expect(r.status).toBe(200);
    const web = r.json.items.find((d: any) => d.name === 'web');
    expect(web).toMatchObject({
      namespace: 'default',
      name: 'web',
      phase: 'Healthy',
      revision: 2,
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      syncedCommit: 'deadbeef',
      message: 'all replicas ready',
    });
    const cart = r.json.items.find((d: any) => d.name === 'cart');
    expect(cart).toMatchObject({ namespace: 'shop', phase: 'Progressing', replicas: 3, readyReplicas: 0 });
    const one = await call(t.url, 'GET', '/api/v1/deployments/shop/cart', { token: t.tokens.viewer });
    expect(one.json.object.kind).toBe('Deployment');
    const services = await call(t.url, 'GET', '/api/v1/services', { token: t.tokens.viewer });
    expect(services.json.items).toHaveLength(1);
    expect(services.json.items[0]).toMatchObject({ namespace: 'default', name: 'web', endpoints: [] });
  });

  it('serves desired objects as SourcedObjects for plan --server', async () => {
    const r = await call(t.url, 'GET', '/api/v1/desired', { token: t.tokens.viewer });
    expect(r.json.items.map((o: any) => `${o.object.kind}/${o.object.metadata.namespace}/${o.object.metadata.name}`)).toEqual([
      'Deployment/default/web',
      'Deployment/shop/cart',
      'Service/default/web',
    ]);
    expect(r.json.items[0].source).toMatchObject({ file: 'apps/web.yaml', line: 1 });
    const ns = await call(t.url, 'GET', '/api/v1/desired?namespace=shop', { token: t.tokens.viewer });
    expect(ns.json.items).toHaveLength(1);
  });

  it('streams ordered watch events and resumes from Last-Event-ID without gaps', async () => {
    const from = await t.kv.revision();
    const s = await openSse(t.url, `/api/v1/pods?watch=1&resourceVersion=${from}&namespace=watch`, { token: t.tokens.viewer });
    expect(s.status).toBe(200);
    const key = `${STORE_PREFIX.pods}watch/w-1`;
    await putJson(t.kv, `${STORE_PREFIX.pods}other/ignored`, pod('other', 'ignored', 'node-a')); // filtered out
    await putJson(t.kv, key, pod('watch', 'w-1', 'node-a', 'Pending'));
    await putJson(t.kv, key, pod('watch', 'w-1', 'node-a', 'Running'));
    await t.kv.delete(key);
    const e1 = await s.next();
    const e2 = await s.next();
    const e3 = await s.next();
    expect([e1.event, e2.event, e3.event]).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(e1.data.status.phase).toBe('Pending');
    expect(e2.data.status.phase).toBe('Running');
    expect(e3.data.metadata.name).toBe('w-1');
    expect(Number(e1.id)).toBeLessThan(Number(e2.id));
    expect(Number(e2.id)).toBeLessThan(Number(e3.id));
    s.close();

    // Reconnect as EventSource would, after having seen only the first event.
    await putJson(t.kv, `${STORE_PREFIX.pods}watch/w-2`, pod('watch', 'w-2', 'node-a'));
    const resumed = await openSse(t.url, '/api/v1/pods?watch=1&namespace=watch', { token: t.tokens.viewer, lastEventId: e1.id });
    const r2 = await resumed.next();
    const r3 = await resumed.next();
    const r4 = await resumed.next();
    expect([r2.id, r3.id]).toEqual([e2.id, e3.id]);
    expect([r2.event, r3.event, r4.event]).toEqual(['MODIFIED', 'DELETED', 'ADDED']);
    expect(r4.data.metadata.name).toBe('w-2');
    // Idle streams carry heartbeat comments.
    await expect.poll(() => resumed.comments.filter((c) => c === 'heartbeat').length, { timeout: 5000 }).toBeGreaterThan(0);
    resumed.close();
  });

  it('gives concurrent watchers of one resource each its own filter over the same changes', async () => {
    const from = await t.kv.revision();
    const q = (ns: string) => `/api/v1/pods?watch=1&resourceVersion=${from}&namespace=${ns}`;
    const [a1, a2, b] = await Promise.all([openSse(t.url, q('ns-a'), { token: t.tokens.viewer }), openSse(t.url, q('ns-a'), { token: t.tokens.viewer }), openSse(t.url, q('ns-b'), { token: t.tokens.viewer })]);
    await putJson(t.kv, `${STORE_PREFIX.pods}ns-a/one`, pod('ns-a', 'one', 'node-a', 'Pending'));
    await putJson(t.kv, `${STORE_PREFIX.pods}ns-b/two`, pod('ns-b', 'two', 'node-a', 'Pending'));
    await putJson(t.kv, `${STORE_PREFIX.pods}ns-a/one`, pod('ns-a', 'one', 'node-a', 'Running'));
    const seen = async (s: typeof a1, n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const e = await s.next();
        out.push(`${e.id} ${e.event} ${e.data.metadata.namespace}/${e.data.metadata.name} ${e.data.status.phase}`);
      }
      return out;
    };
    const first = await seen(a1, 2);
    expect(first.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['ADDED ns-a/one Pending', 'MODIFIED ns-a/one Running']);
    expect(await seen(a2, 2)).toEqual(first);
    const other = await seen(b, 1);
    expect(other[0]).toMatch(/^\d+ ADDED ns-b\/two Pending$/);
    for (const s of [a1, a2, b]) s.close();
  });

  it('opens a watch without resourceVersion with the current objects as ADDED', async () => {
    const s = await openSse(t.url, '/api/v1/deployments?watch=1&namespace=default', { token: t.tokens.viewer });
    const first = await s.next();
    expect(first).toMatchObject({ event: 'ADDED', data: { name: 'web', phase: 'Healthy' } });
    // A status write is a MODIFIED of the joined deployment.
    await putJson(t.kv, `${STORE_PREFIX.status}Deployment/default/web`, { phase: 'Progressing', revision: 3, message: 'rolling' });
    const next = await s.next();
    expect(next).toMatchObject({ event: 'MODIFIED', data: { name: 'web', phase: 'Progressing', revision: 3 } });
    expect(Number(next.id)).toBeGreaterThan(Number(first.id));
    s.close();
  });

  it('answers 410 Gone for a compacted resourceVersion', async () => {
    const old = await t.kv.revision();
    await putJson(t.kv, `${STORE_PREFIX.pods}gone/g-1`, pod('gone', 'g-1', 'node-a'));
    await putJson(t.kv, `${STORE_PREFIX.pods}gone/g-1`, pod('gone', 'g-1', 'node-a', 'Failed'));
    await t.kv.compact(await t.kv.revision());
    const r = await call(t.url, 'GET', `/api/v1/pods?watch=1&resourceVersion=${old - 1}`, { token: t.tokens.viewer });
    expect(r.status).toBe(410);
    expect(r.json.error.code).toBe('CAPSTAN_ERR_API_GONE');
    const bad = await call(t.url, 'GET', '/api/v1/pods?watch=1&resourceVersion=abc', { token: t.tokens.viewer });
    expect(bad.status).toBe(400);
  });
});

describe('shutdown', () => {
  it('ends open watch streams when the server closes', async () => {
    const own = await startApi();
    const s = await openSse(own.url, '/api/v1/pods?watch=1', { token: own.tokens.viewer });
    expect(s.status).toBe(200);
    await own.close(); // must not hang on the open stream
    await expect(s.next(2000)).rejects.toThrow('the stream ended');
  });
});
