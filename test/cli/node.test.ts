// `capstan node list|cordon|uncordon|drain|delete` against a real API server on 127.0.0.1.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { deployment, nodeBody, pod, putJson } from '../server/fixtures.js';

let t: TestApi;
beforeEach(async () => {
  t = await startApi();
  await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: nodeBody('node-a') });
  await call(t.url, 'PUT', '/api/v1/nodes/node-b', { token: t.tokens.agentB, body: nodeBody('node-b') });
  await putJson(t.kv, `${STORE_PREFIX.desired}Deployment/default/web`, deployment('default', 'web'));
});
afterEach(async () => t.close());

const cli = (args: string[], token = t.tokens.admin) => runCli(['node', ...args, '--server', t.url, '--token', token]);

async function readNode(name: string): Promise<NodeInfo | undefined> {
  const kv = await t.kv.get(`${STORE_PREFIX.nodes}${name}`);
  return kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as NodeInfo) : undefined;
}

describe('capstan node', () => {
  it('cordons, lists as SchedulingDisabled (text and json), uncordons', async () => {
    const c = await cli(['cordon', 'node-a']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe('node/node-a cordoned\n');
    const list = await cli(['list'], t.tokens.viewer);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').find((l) => l.startsWith('node-a'))).toMatch(/Ready,SchedulingDisabled/);
    expect(list.stdout.split('\n').find((l) => l.startsWith('node-b'))).not.toMatch(/SchedulingDisabled/);
    const json = JSON.parse((await runCli(['node', 'list', '-o', 'json', '--server', t.url, '--token', t.tokens.viewer])).stdout);
    const a = json.find((n: { name: string }) => n.name === 'node-a');
    for (const field of ['name', 'ready', 'capacity', 'allocated', 'labels']) expect(a).toHaveProperty(field);
    expect(a.unschedulable).toBe(true);
    const u = await cli(['uncordon', 'node-a']);
    expect(u.code).toBe(0);
    expect((await readNode('node-a'))?.unschedulable).toBeUndefined();
  });

  it('fails with exit 1 for a viewer', async () => {
    const r = await cli(['cordon', 'node-a'], t.tokens.viewer);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('403');
  });

  it('drains: prints progress, waits for the pods to stop, exits 0', async () => {
    for (let i = 1; i <= 3; i++) await putJson(t.kv, `${STORE_PREFIX.pods}default/web-${i}`, pod('default', `web-${i}`, 'node-a'));
    // Stands in for node-a's agent: stops pods asked to stop.
    const agent = setInterval(async () => {
      const r = await t.kv.range(`${STORE_PREFIX.pods}default/`, { prefix: true });
      for (const k of r.kvs) {
        const p = JSON.parse(Buffer.from(k.value).toString('utf8')) as Pod;
        if (p.metadata.deletionRequestedAt && !p.status.terminatedAt) await t.kv.put(k.key, JSON.stringify({ ...p, status: { ...p.status, phase: 'Succeeded', ready: false, terminatedAt: new Date().toISOString() } }));
      }
    }, 50);
    try {
      const r = await runCli(['node', 'drain', 'node-a', '--batch-size', '2', '--timeout', '20s', '--server', t.url, '--token', t.tokens.admin]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('node/node-a cordoned');
      expect(lines.filter((l) => l.startsWith('evicting pod ')).sort()).toEqual(['evicting pod default/web-1', 'evicting pod default/web-2', 'evicting pod default/web-3']);
      expect(lines.at(-1)).toBe('node/node-a drained');
    } finally {
      clearInterval(agent);
    }
  });

  it('exits 1 when the timeout passes with pods still on the node', async () => {
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
    const started = Date.now();
    const r = await runCli(['node', 'drain', 'node-a', '--timeout', '1', '--server', t.url, '--token', t.tokens.admin]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/timed out after 1s draining node\/node-a; still on it: default\/web-1/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses pods no controller recreates without --force', async () => {
    await putJson(t.kv, `${STORE_PREFIX.pods}default/job-1`, pod('default', 'job-1', 'node-a'));
    const r = await cli(['drain', 'node-a', '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('default/job-1');
    expect(r.stderr).toContain('--force');
  });

  it('deletes a node', async () => {
    await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
    const r = await cli(['delete', 'node-a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('node/node-a deleted (1 pod(s) removed');
    expect(await readNode('node-a')).toBeUndefined();
    expect((await cli(['delete', 'node-a'])).code).toBe(1);
  });
});
