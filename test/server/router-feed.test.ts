// The router feed: every role (agents included) lists and watches Services, traffic policies
// and a projection of every pod across the cluster; the projection carries no env, volumes or
// Secret values. And the router figures a node sends for itself only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { ROUTER_STATS_PREFIX } from '../../src/server/router-stats.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { pod, putJson, seed } from './fixtures.js';

const SECRET_VALUE = 'hunter2-very-secret';

function podWithSecrets(namespace: string, name: string, node: string): Pod {
  const p = pod(namespace, name, node);
  p.metadata.labels['capstan.dev/revision-hash'] = 'abc123';
  p.metadata.annotations = { note: SECRET_VALUE };
  p.spec.containers = [
    {
      name: 'main',
      image: 'web:1',
      ports: [{ name: 'http', containerPort: 8080 }],
      env: [
        { name: 'PASSWORD', value: SECRET_VALUE },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
      ],
      command: ['run', `--password=${SECRET_VALUE}`],
    } as Pod['spec']['containers'][number],
  ];
  (p.spec as unknown as Record<string, unknown>).volumes = [{ name: 'creds', secret: { secretName: 'creds' } }];
  Object.assign(p.spec, { hostname: 'api-0', subdomain: 'api-peers' });
  p.status = { phase: 'Running', ready: true, hostIP: '127.0.0.1', ports: { http: 31000 }, message: SECRET_VALUE } as Pod['status'];
  return p;
}

let t: TestApi;
beforeAll(async () => {
  t = await startApi();
  await seed(t.kv);
  await putJson(t.kv, `${STORE_PREFIX.pods}default/api-b1`, podWithSecrets('default', 'api-b1', 'node-b'));
  await putJson(t.kv, `${STORE_PREFIX.traffic}default/web`, { weights: { abc123: 80, def456: 20 }, stableRevision: 'abc123' });
  await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/creds`, {
    object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, stringData: { token: SECRET_VALUE } },
    source: { file: 'creds.yaml', index: 0, line: 1, column: 1 },
  });
});
afterAll(async () => t.close());

describe('router feed', () => {
  it('gives an agent every pod of the cluster, projected: hostname and subdomain, no env, volumes or secret values', async () => {
    const r = await call(t.url, 'GET', '/api/v1/routerfeed/pods', { token: t.tokens.agentA });
    expect(r.status).toBe(200);
    const keys = r.json.items.map((i: any) => i.key).sort();
    // node-b's pods too, and the unbound one.
    expect(keys).toEqual(['default/api-b1', 'default/web-1', 'default/web-2', 'shop/cart-1', 'shop/cart-2']);
    expect(typeof r.json.resourceVersion).toBe('number');
    expect(r.text).not.toContain(SECRET_VALUE);
    expect(r.text).not.toContain('PASSWORD');
    expect(r.text).not.toContain('secretKeyRef');
    expect(r.text).not.toContain('volumes');
    expect(r.text).not.toContain('web:1'); // not even the image
    const other = r.json.items.find((i: any) => i.key === 'default/api-b1').value;
    expect(other).toEqual({
      metadata: {
        name: 'api-b1',
        namespace: 'default',
        createdAt: '2024-01-01T00:00:00.000Z',
        labels: { app: 'api', 'capstan.dev/revision-hash': 'abc123' },
        owner: { kind: 'Deployment', name: 'api', revision: 'abc123' },
      },
      spec: { nodeName: 'node-b', hostname: 'api-0', subdomain: 'api-peers', containers: [{ name: 'main', ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { phase: 'Running', ready: true, hostIP: '127.0.0.1', ports: { http: 31000 } },
    });
  });

  it('serves Services (no source file) and traffic policies to agents and read roles', async () => {
    for (const token of [t.tokens.agentB, t.tokens.viewer, t.tokens.admin]) {
      const s = await call(t.url, 'GET', '/api/v1/routerfeed/services', { token });
      expect(s.status).toBe(200);
      expect(s.json.items).toEqual([{ key: 'default/web', value: { object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } } } }]);
      const p = await call(t.url, 'GET', '/api/v1/routerfeed/traffic', { token });
      expect(p.json.items).toEqual([{ key: 'default/web', value: { weights: { abc123: 80, def456: 20 }, stableRevision: 'abc123' } }]);
    }
    expect((await call(t.url, 'GET', '/api/v1/routerfeed/services')).status).toBe(401);
    const unknown = await call(t.url, 'GET', '/api/v1/routerfeed/secrets', { token: t.tokens.agentA });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.message).toContain('services, pods, traffic');
  });

  it('watches resumably: changes after the resume point, deletes by key, projected', async () => {
    const from = await t.kv.revision();
    await putJson(t.kv, `${STORE_PREFIX.pods}shop/cart-9`, podWithSecrets('shop', 'cart-9', 'node-b'));
    await t.kv.delete(`${STORE_PREFIX.pods}default/web-2`);
    const s = await openSse(t.url, '/api/v1/routerfeed/pods?watch=1', { token: t.tokens.agentA, lastEventId: String(from) });
    expect(s.status).toBe(200);
    const added = await s.next();
    expect(added.event).toBe('ADDED');
    expect(added.data.key).toBe('shop/cart-9');
    expect(added.data.value.spec.nodeName).toBe('node-b');
    expect(JSON.stringify(added.data)).not.toContain(SECRET_VALUE);
    const deleted = await s.next();
    expect(deleted).toMatchObject({ event: 'DELETED', data: { key: 'default/web-2' } });
    expect(Number(deleted.id)).toBeGreaterThan(Number(added.id));
    s.close();
    // The same watch resumed from the first event's id starts after it.
    const again = await openSse(t.url, '/api/v1/routerfeed/pods?watch=1', { token: t.tokens.agentA, lastEventId: added.id });
    expect((await again.next()).data.key).toBe('default/web-2');
    again.close();
  });

  it('answers 410 for a compacted resume point', async () => {
    const old = await t.kv.revision();
    await putJson(t.kv, `${STORE_PREFIX.traffic}default/other`, { weights: { a: 100 } });
    await putJson(t.kv, `${STORE_PREFIX.traffic}default/other`, { weights: { a: 50, b: 50 } });
    await t.kv.compact(await t.kv.revision());
    const r = await call(t.url, 'GET', `/api/v1/routerfeed/traffic?watch=1&resourceVersion=${old - 1}`, { token: t.tokens.agentA });
    expect(r.status).toBe(410);
  });
});

describe('router figures from a node', () => {
  const report = { sentAt: 1_700_000_000_000, windowSeconds: 60, series: [{ service: 'default/web', revision: 'abc123', buckets: [{ second: 1_700_000_000, requests: 3, errors: 1, latency: [1, 2] }] }] };

  it('are kept for the sending node, with the receipt time', async () => {
    const r = await call(t.url, 'POST', '/api/v1/nodes/node-a/routerstats', { token: t.tokens.agentA, body: report });
    expect(r.status).toBe(200);
    const stored = JSON.parse(Buffer.from((await t.kv.get(`${ROUTER_STATS_PREFIX}node-a`))!.value).toString('utf8'));
    expect(stored).toMatchObject({ node: 'node-a', sentAt: report.sentAt, windowSeconds: 60, series: report.series });
    expect(typeof stored.receivedAt).toBe('number');
  });

  it('are refused for another node, from a read role, and when malformed', async () => {
    const other = await call(t.url, 'POST', '/api/v1/nodes/node-b/routerstats', { token: t.tokens.agentA, body: report });
    expect(other.status).toBe(403);
    expect((await call(t.url, 'POST', '/api/v1/nodes/node-a/routerstats', { token: t.tokens.viewer, body: report })).status).toBe(403);
    const bad = await call(t.url, 'POST', '/api/v1/nodes/node-a/routerstats', {
      token: t.tokens.agentA,
      body: { ...report, series: [{ service: 'default/web', revision: 'x', buckets: [{ second: 1, requests: -1, errors: 0, latency: [] }] }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('series[0].buckets[0]');
    expect(await t.kv.get(`${ROUTER_STATS_PREFIX}node-b`)).toBeUndefined();
  });
});
