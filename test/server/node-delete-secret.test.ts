// Deleting a node deletes its proxy secret (what the API server sends to that node's agent
// port for logs and exec): an agent registering the name again gets a new one, and the old
// secret is kept nowhere. Other nodes' secrets stay.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { readProxySecret } from '../../src/server/agent.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { nodeBody } from './fixtures.js';

let t: TestApi;
const registered: Record<string, string> = {};

async function register(name: 'node-a' | 'node-b'): Promise<string> {
  const token = name === 'node-a' ? t.tokens.agentA : t.tokens.agentB;
  const r = await call(t.url, 'PUT', `/api/v1/nodes/${name}`, { token, body: nodeBody(name) });
  expect(r.status, r.text).toBe(200);
  expect(typeof r.json.proxySecret).toBe('string');
  return r.json.proxySecret as string;
}

beforeEach(async () => {
  t = await startApi();
  registered['node-a'] = await register('node-a');
  registered['node-b'] = await register('node-b');
});
afterEach(async () => t.close());

describe('node delete and the proxy secret', () => {
  it('removes the deleted node\'s proxy secret; registering again makes a new one', async () => {
    expect(await readProxySecret(t.kv, 'node-a')).toBe(registered['node-a']);
    const r = await call(t.url, 'DELETE', '/api/v1/nodes/node-a', { token: t.tokens.admin });
    expect(r.status, r.text).toBe(200);
    expect(r.text).not.toContain(registered['node-a']);

    expect(await t.kv.get(`${STORE_PREFIX.proxySecrets}node-a`)).toBeUndefined();
    expect(await readProxySecret(t.kv, 'node-b')).toBe(registered['node-b']);
    const all = await t.kv.range('/capstan/', { prefix: true });
    const stored = all.kvs.map((k) => Buffer.from(k.value).toString('utf8'));
    expect(stored.some((v) => v.includes(registered['node-a']!))).toBe(false);

    const again = await register('node-a');
    expect(again).not.toBe(registered['node-a']);
    expect(await readProxySecret(t.kv, 'node-a')).toBe(again);
  });

  it('a refused delete (no such node) leaves every secret', async () => {
    const r = await call(t.url, 'DELETE', '/api/v1/nodes/node-c', { token: t.tokens.admin });
    expect(r.status).toBe(404);
    expect(await readProxySecret(t.kv, 'node-a')).toBe(registered['node-a']);
    expect(await readProxySecret(t.kv, 'node-b')).toBe(registered['node-b']);
  });
});
