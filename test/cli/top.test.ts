// `capstan top`: the per-pod usage agents send with their heartbeats; stale figures are not shown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { nodeBody, putJson } from '../server/fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  const fresh = new Date().toISOString();
  await putJson(t.kv, `${STORE_PREFIX.nodes}node-a`, {
    ...nodeBody('node-a'),
    status: { ready: true, address: '127.0.0.1' },
    podMetrics: { at: fresh, windowSeconds: 10, pods: { 'default/web-1': { cpu: 250, memory: 64 * 2 ** 20, containers: { web: { cpu: 200, memory: 48 * 2 ** 20 }, proxy: { cpu: 50, memory: 16 * 2 ** 20 } } }, 'shop/cart-1': { memory: 32 * 2 ** 20 } } },
  });
  await putJson(t.kv, `${STORE_PREFIX.nodes}node-b`, {
    ...nodeBody('node-b'),
    status: { ready: true, address: '127.0.0.1' },
    podMetrics: { at: '2020-01-01T00:00:00.000Z', windowSeconds: 10, pods: { 'default/old-1': { cpu: 999, memory: 1 } } },
  });
});
afterAll(async () => t.close());

const cli = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.viewer]);

describe('capstan top', () => {
  it('pods: cpu in millicores and memory per pod; a pod with one sample is still measuring; stale nodes left out', async () => {
    const out = await cli('top', 'pods');
    expect(out.code, out.stderr).toBe(0);
    const rows = out.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NAMESPACE\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s+NODE$/);
    expect(rows.slice(1)).toEqual([expect.stringMatching(/^default\s+web-1\s+250m\s+64Mi\s+node-a$/), expect.stringMatching(/^shop\s+cart-1\s+<measuring>\s+32Mi\s+node-a$/)]);
    const json = JSON.parse((await cli('top', 'pods', '-n', 'shop', '-o', 'json')).stdout) as { name: string }[];
    expect(json.map((p) => p.name)).toEqual(['cart-1']);
  });

  it('pods --containers: one row per container, as kubectl top pod --containers', async () => {
    const out = await cli('top', 'pods', '--containers', '-n', 'default');
    expect(out.code, out.stderr).toBe(0);
    const rows = out.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NAMESPACE\s+POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s+NODE$/);
    expect(rows.slice(1)).toEqual([expect.stringMatching(/^default\s+web-1\s+proxy\s+50m\s+16Mi\s+node-a$/), expect.stringMatching(/^default\s+web-1\s+web\s+200m\s+48Mi\s+node-a$/)]);
    const json = JSON.parse((await cli('top', 'pods', '-n', 'default', '-o', 'json')).stdout) as { containers: unknown[] }[];
    expect(json[0]!.containers).toEqual([{ name: 'proxy', cpu: 50, memory: 16 * 2 ** 20 }, { name: 'web', cpu: 200, memory: 48 * 2 ** 20 }]);
  });

  it('nodes: the pods sum against capacity; a node with no fresh figures is unknown', async () => {
    const json = JSON.parse((await cli('top', 'nodes', '-o', 'json')).stdout) as { name: string; cpu: number; cpuPercent: number; memory: number; measured: boolean }[];
    expect(json.find((n) => n.name === 'node-a')).toMatchObject({ cpu: 250, cpuPercent: 6, memory: 96 * 2 ** 20, measured: true });
    expect(json.find((n) => n.name === 'node-b')).toMatchObject({ measured: false });
    const text = await cli('top', 'nodes');
    expect(text.stdout).toMatch(/node-b\s+-\s+<unknown>/);
    expect((await cli('top', 'deployments')).code).toBe(2);
  });
});
