// `capstan describe`: one object with its Git source, status, pods and its own events only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { nodeBody, putJson, seed } from '../server/fixtures.js';

let t: TestApi;
const ev = (id: string, object: string, reason: string, namespace = 'default'): ClusterEvent & { id: string } => ({
  id, namespace, object, type: 'Normal', reason, message: `${reason} for ${object}`, source: 'test', count: 1, firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-01T00:00:00Z',
});
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await seed(t.kv);
  await putJson(t.kv, `${STORE_PREFIX.events}default/1`, ev('1', 'Deployment/web', 'ScalingReplicaSet'));
  await putJson(t.kv, `${STORE_PREFIX.events}default/2`, ev('2', 'Deployment/webapp', 'NotMine'));
  await putJson(t.kv, `${STORE_PREFIX.events}default/3`, ev('3', 'Pod/web-1', 'Started'));
  await putJson(t.kv, `${STORE_PREFIX.nodes}node-a`, { ...nodeBody('node-a'), status: { ready: true, address: '127.0.0.1' } });
  await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/db`, { object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, stringData: { password: 'hunter2-secret' } }, source: { file: 'db.yaml', index: 0, line: 1, column: 1 } });
});
afterAll(async () => t.close());

const cli = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.viewer]);

describe('capstan describe', () => {
  it('a Deployment: source, status, containers, its pods and only its events', async () => {
    const out = await cli('describe', 'deploy', 'web');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^Name:\s+web$/m);
    expect(out.stdout).toMatch(/^Source:\s+apps\/web\.yaml:1$/m);
    expect(out.stdout).toMatch(/^Status:\s+Healthy, revision 2 — all replicas ready$/m);
    expect(out.stdout).toMatch(/^Replicas:\s+3 desired, 3 ready, 3 up to date$/m);
    expect(out.stdout).toContain('  main: web:1');
    expect(out.stdout).toMatch(/Pods:\nNAME\s+READY[^\n]*\nweb-1\s+1\/1\s+Running/);
    expect(out.stdout).toContain('ScalingReplicaSet');
    expect(out.stdout).not.toContain('NotMine');
    const same = await cli('describe', 'deployment/web', '-o', 'json');
    expect(JSON.parse(same.stdout)).toMatchObject({ kind: 'Deployment', name: 'web', status: { phase: 'Healthy' }, pods: [{ name: 'web-1' }, { name: 'web-2' }] });
  });

  it('a pod, a node, a Secret by its keys only, and a clear error for a missing object', async () => {
    const pod = await cli('describe', 'pod', 'web-1');
    expect(pod.stdout).toMatch(/^Node:\s+node-a$/m);
    expect(pod.stdout).toMatch(/^Owner:\s+Deployment\/web$/m);
    expect(pod.stdout).toContain('Started');
    const node = await cli('describe', 'node', 'node-a');
    expect(node.stdout).toMatch(/^Capacity:\s+cpu 4000m, memory 8192Mi, pods 110$/m);
    expect(node.stdout).toMatch(/Pods:\nNAME[^\n]*\nweb-1/);
    const secret = await cli('describe', 'secret', 'db');
    expect(secret.stdout).toMatch(/^Keys:\s+password$/m);
    expect(secret.stdout).not.toContain('hunter2');
    const missing = await cli('describe', 'deploy', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Deployment "nope" not found in namespace default');
  });
});
