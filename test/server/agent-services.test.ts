// Agent tokens read the list and watch of Services (for their pods' Service environment
// variables), and still nothing else beyond their own pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { putJson, seed } from './fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi();
  await seed(t.kv);
  await putJson(t.kv, `${STORE_PREFIX.desired}Service/shop/cart`, {
    object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'cart', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 8081 }] } },
    source: { file: 'apps/cart.yaml', index: 1, line: 1, column: 1 },
  });
});
afterAll(async () => t.close());

describe('agent tokens and Services', () => {
  it('list every Service, of every namespace, but still not deployments', async () => {
    const list = await call(t.url, 'GET', '/api/v1/services', { token: t.tokens.agentA });
    expect(list.status).toBe(200);
    expect(list.json.items.map((s: any) => `${s.namespace}/${s.name}`).sort()).toEqual(['default/web', 'shop/cart']);
    expect(list.json.items.find((s: any) => s.name === 'cart').object.spec.ports).toEqual([{ name: 'http', port: 8081 }]);
    const scoped = await call(t.url, 'GET', '/api/v1/services?namespace=shop', { token: t.tokens.agentB });
    expect(scoped.json.items.map((s: any) => s.name)).toEqual(['cart']);

    for (const path of ['/api/v1/deployments', '/api/v1/desired', '/api/v1/nodes', '/api/v1/services/default/web']) {
      const r = await call(t.url, 'GET', path, { token: t.tokens.agentA });
      expect(r.status, path).toBe(403);
      expect(r.json.error.code, path).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
    }
    // Pods stay filtered to the agent's node.
    const pods = await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.agentA });
    expect(pods.json.items.map((p: any) => p.metadata.name).sort()).toEqual(['cart-1', 'web-1']);
  });

  it('watch Services as they are stored', async () => {
    const s = await openSse(t.url, `/api/v1/services?watch=1&resourceVersion=${await t.kv.revision()}`, { token: t.tokens.agentA });
    expect(s.status).toBe(200);
    await putJson(t.kv, `${STORE_PREFIX.desired}Service/default/api`, {
      object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'default' }, spec: { ports: [{ port: 9000 }] } },
      source: { file: 'apps/api.yaml', index: 0, line: 1, column: 1 },
    });
    const e = await s.next();
    expect(e).toMatchObject({ event: 'ADDED', data: { namespace: 'default', name: 'api', object: { spec: { ports: [{ port: 9000 }] } } } });
    s.close();
    const deployments = await openSse(t.url, '/api/v1/deployments?watch=1', { token: t.tokens.agentA });
    expect(deployments.status).toBe(403);
    deployments.close();
  });
});
