import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { bootstrapAdminToken, hashToken, NODE_LEASE_PREFIX } from '../../src/server/index.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { nodeBody, pod, putJson, seed } from './fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi();
  await seed(t.kv);
});
afterAll(async () => t.close());

describe('authentication', () => {
  it('answers 401 without a token or with an unknown one', async () => {
    const none = await call(t.url, 'GET', '/api/v1/pods');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('CAPSTAN_ERR_AUTH_MISSING_TOKEN');
    const wrong = await call(t.url, 'GET', '/api/v1/pods', { token: 'capstan_not-a-real-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('CAPSTAN_ERR_AUTH_INVALID_TOKEN');
    const scheme = await call(t.url, 'GET', '/api/v1/pods', { headers: { authorization: `Basic ${t.tokens.admin}` } });
    expect(scheme.status).toBe(401);
  });

  it('stores only token hashes', async () => {
    const r = await t.kv.range(STORE_PREFIX.tokens, { prefix: true });
    const stored = r.kvs.map((kv) => kv.key + Buffer.from(kv.value).toString('utf8')).join('\n');
    for (const token of Object.values(t.tokens)) {
      expect(stored).not.toContain(token);
      expect(stored).toContain(hashToken(token));
    }
  });

  it('writes admin.token with mode 0600 and reuses it while the store knows it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-admin-'));
    try {
      const token = await bootstrapAdminToken(t.kv, join(dir, 'data'));
      const file = join(dir, 'data', 'admin.token');
      expect((await readFile(file, 'utf8')).trim()).toBe(token);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await bootstrapAdminToken(t.kv, join(dir, 'data'))).toBe(token);
      const r = await call(t.url, 'GET', '/api/v1/tokens', { token });
      expect(r.status).toBe(200);
      // Revoked: the next bootstrap makes a new one.
      expect((await call(t.url, 'DELETE', `/api/v1/tokens/${hashToken(token)}`, { token: t.tokens.admin })).status).toBe(200);
      expect((await call(t.url, 'GET', '/api/v1/pods', { token })).status).toBe(401);
      const again = await bootstrapAdminToken(t.kv, join(dir, 'data'));
      expect(again).not.toBe(token);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('roles', () => {
  it('lets viewers read but not steer, deployers steer, admins manage tokens', async () => {
    expect((await call(t.url, 'GET', '/api/v1/deployments', { token: t.tokens.viewer })).status).toBe(200);
    const sync = await call(t.url, 'POST', '/api/v1/sync', { token: t.tokens.viewer });
    expect(sync.status).toBe(403);
    expect(sync.json.error.code).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
    // Allowed, but nothing is wired yet: 501 with a JSON error.
    const unwired = await call(t.url, 'POST', '/api/v1/deployments/default/web/promote', { token: t.tokens.deployer });
    expect(unwired.status).toBe(501);
    expect(unwired.json.error.code).toBe('CAPSTAN_ERR_API_NOT_IMPLEMENTED');
    expect((await call(t.url, 'POST', '/api/v1/deployments/default/web/explode', { token: t.tokens.deployer })).status).toBe(404);

    expect((await call(t.url, 'GET', '/api/v1/tokens', { token: t.tokens.deployer })).status).toBe(403);
    const created = await call(t.url, 'POST', '/api/v1/tokens', { token: t.tokens.admin, body: { role: 'viewer', user: 'ci' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ role: 'viewer', user: 'ci' });
    expect((await call(t.url, 'GET', '/api/v1/pods', { token: created.json.token })).status).toBe(200);
    const listed = await call(t.url, 'GET', '/api/v1/tokens', { token: t.tokens.admin });
    expect(listed.text).not.toContain(created.json.token);
    const badAgent = await call(t.url, 'POST', '/api/v1/tokens', { token: t.tokens.admin, body: { role: 'agent', user: 'x' } });
    expect(badAgent.status).toBe(400);
  });

  it('runs injected control handlers for deployers', async () => {
    const calls: unknown[] = [];
    t.api.setControlHandlers({
      promote: async (target, req) => {
        calls.push({ target, body: req.body, user: req.principal.user });
        return { promoted: `${target.namespace}/${target.name}` };
      },
      sync: async () => ({ queued: true }),
    });
    try {
      const r = await call(t.url, 'POST', '/api/v1/deployments/default/web/promote', { token: t.tokens.deployer, body: { full: true } });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ promoted: 'default/web' });
      expect(calls).toEqual([{ target: { namespace: 'default', name: 'web' }, body: { full: true }, user: 'deployer' }]);
      expect((await call(t.url, 'POST', '/api/v1/sync', { token: t.tokens.admin })).json).toEqual({ queued: true });
      expect((await call(t.url, 'POST', '/api/v1/deployments/default/web/abort', { token: t.tokens.deployer })).status).toBe(501);
    } finally {
      t.api.setControlHandlers({});
    }
  });
});

describe('agent tokens (node restriction)', () => {
  it('reads only pods bound to its node', async () => {
    const list = await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.agentA });
    expect(list.status).toBe(200);
    expect(list.json.items.map((p: any) => p.metadata.name).sort()).toEqual(['cart-1', 'web-1']);
    expect((await call(t.url, 'GET', '/api/v1/pods/default/web-1', { token: t.tokens.agentA })).status).toBe(200);
    const other = await call(t.url, 'GET', '/api/v1/pods/default/web-2', { token: t.tokens.agentA });
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
    expect((await call(t.url, 'GET', '/api/v1/pods/shop/cart-2', { token: t.tokens.agentA })).status).toBe(403); // unbound
    for (const path of ['/api/v1/nodes', '/api/v1/deployments', '/api/v1/desired', '/api/v1/events', '/metrics']) {
      expect((await call(t.url, 'GET', path, { token: t.tokens.agentA })).status, path).toBe(403);
    }
  });

  it('watches only pods bound to its node', async () => {
    const s = await openSse(t.url, `/api/v1/pods?watch=1&resourceVersion=${await t.kv.revision()}`, { token: t.tokens.agentB });
    await putJson(t.kv, `${STORE_PREFIX.pods}default/a-pod`, pod('default', 'a-pod', 'node-a'));
    await putJson(t.kv, `${STORE_PREFIX.pods}default/b-pod`, pod('default', 'b-pod', 'node-b'));
    const e = await s.next();
    expect(e).toMatchObject({ event: 'ADDED', data: { metadata: { name: 'b-pod' } } });
    s.close();
  });

  it('registers and heartbeats only its own node, with a lease', async () => {
    const other = await call(t.url, 'PUT', '/api/v1/nodes/node-b', { token: t.tokens.agentA, body: nodeBody('node-b') });
    expect(other.status).toBe(403);
    const viewer = await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.viewer, body: nodeBody('node-a') });
    expect(viewer.status).toBe(403);

    const first = await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: nodeBody('node-a') });
    expect(first.status).toBe(200);
    const stored = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.nodes}node-a`))!.value).toString('utf8'));
    expect(stored).toMatchObject({ name: 'node-a', capacity: { cpu: 4000 }, status: { ready: true, address: '127.0.0.1' } });
    expect(typeof stored.status.lastHeartbeat).toBe('string');
    const lease = await t.kv.get(`${NODE_LEASE_PREFIX}node-a`);
    expect(lease?.lease).toBe(first.json.leaseId);

    const second = await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: nodeBody('node-a') });
    expect(second.json.leaseId).toBe(first.json.leaseId); // renewed, not replaced
    expect(second.json.written).toBe(false); // nothing changed but the time: no write
    const relabelled = { ...nodeBody('node-a'), labels: { zone: 'b' } };
    const third = await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: relabelled });
    expect(third.json.written).toBe(true);
    const node = await call(t.url, 'GET', '/api/v1/nodes/node-a', { token: t.tokens.viewer });
    expect(node.json.labels).toEqual({ zone: 'b' });

    const invalid = await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: { name: 'node-a' } });
    expect(invalid.status).toBe(400);
  });

  it('writes the status of its own pods only', async () => {
    const status = { phase: 'Running', ready: true, hostIP: '127.0.0.1' };
    const mine = await call(t.url, 'PUT', '/api/v1/pods/default/web-1/status', { token: t.tokens.agentA, body: status });
    expect(mine.status).toBe(200);
    const stored = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.pods}default/web-1`))!.value).toString('utf8'));
    expect(stored.status).toEqual(status);
    expect(stored.spec.nodeName).toBe('node-a');

    const theirs = await call(t.url, 'PUT', '/api/v1/pods/default/web-2/status', { token: t.tokens.agentA, body: status });
    expect(theirs.status).toBe(403);
    const deployer = await call(t.url, 'PUT', '/api/v1/pods/default/web-1/status', { token: t.tokens.deployer, body: status });
    expect(deployer.status).toBe(403);
    const bad = await call(t.url, 'PUT', '/api/v1/pods/default/web-1/status', { token: t.tokens.agentA, body: { phase: 'Dancing', ready: true } });
    expect(bad.status).toBe(400);
  });
});

describe('node leases', () => {
  it('expire when the agent stops heartbeating, and a later heartbeat takes a new one', async () => {
    const own = await startApi({ nodeLeaseSeconds: 1 });
    try {
      const first = await call(own.url, 'PUT', '/api/v1/nodes/node-a', { token: own.tokens.agentA, body: nodeBody('node-a') });
      expect(first.status).toBe(200);
      expect(await own.kv.get(`${NODE_LEASE_PREFIX}node-a`)).toBeDefined();
      // No heartbeat: the store expires the lease and removes the key; the node object stays.
      await expect.poll(async () => own.kv.get(`${NODE_LEASE_PREFIX}node-a`), { timeout: 10_000, interval: 100 }).toBeUndefined();
      expect(await own.kv.get(`${STORE_PREFIX.nodes}node-a`)).toBeDefined();
      const back = await call(own.url, 'PUT', '/api/v1/nodes/node-a', { token: own.tokens.agentA, body: nodeBody('node-a') });
      expect(back.status).toBe(200);
      expect(back.json.leaseId).not.toBe(first.json.leaseId);
      expect((await own.kv.get(`${NODE_LEASE_PREFIX}node-a`))?.lease).toBe(back.json.leaseId);
    } finally {
      await own.close();
    }
  });
});
