// What an agent may write about its own node: no reserved labels, no other hostname, no other node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { isReservedLabel } from '../../src/server/agent.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { nodeBody } from './fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi();
});
afterAll(async () => t.close());

const put = (token: string, name: string, labels: Record<string, string>) =>
  call(t.url, 'PUT', `/api/v1/nodes/${name}`, { token, body: { ...nodeBody(name), labels } });

describe('node admission', () => {
  it('recognises the reserved label prefixes', () => {
    expect(isReservedLabel('capstan.dev/runtime')).toBe(true);
    expect(isReservedLabel('node.capstan.dev/pool')).toBe(true);
    expect(isReservedLabel('Capstan.Dev/x')).toBe(true);
    expect(isReservedLabel('notcapstan.dev/x')).toBe(false);
    expect(isReservedLabel('capstan.dev')).toBe(false);
    expect(isReservedLabel('zone')).toBe(false);
  });

  it('refuses an agent that sets a reserved label, and writes nothing', async () => {
    for (const key of ['capstan.dev/trusted', 'pool.capstan.dev/gpu']) {
      const r = await put(t.tokens.agentA, 'node-a', { [key]: 'yes' });
      expect(r.status).toBe(403);
      expect(r.json.error.code).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
      expect(r.json.error.message).toContain(key);
    }
    expect(await t.kv.get(`${STORE_PREFIX.nodes}node-a`)).toBeUndefined();
  });

  it('refuses kubernetes.io/hostname other than the node name, accepts its own', async () => {
    const wrong = await put(t.tokens.agentA, 'node-a', { 'kubernetes.io/hostname': 'node-b' });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.message).toContain('kubernetes.io/hostname');
    const right = await put(t.tokens.agentA, 'node-a', { 'kubernetes.io/hostname': 'node-a', zone: 'a' });
    expect(right.status).toBe(200);
    const node = await call(t.url, 'GET', '/api/v1/nodes/node-a', { token: t.tokens.viewer });
    expect(node.json.labels).toEqual({ 'kubernetes.io/hostname': 'node-a', zone: 'a' });
  });

  it('refuses a node token registering another node name', async () => {
    const r = await put(t.tokens.agentA, 'node-c', { zone: 'a' });
    expect(r.status).toBe(403);
    expect(await t.kv.get(`${STORE_PREFIX.nodes}node-c`)).toBeUndefined();
  });

  it('lets an admin set reserved labels', async () => {
    const r = await put(t.tokens.admin, 'node-d', { 'capstan.dev/pool': 'x', 'kubernetes.io/hostname': 'other' });
    expect(r.status).toBe(200);
  });
});
