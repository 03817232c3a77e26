// `capstan get pods` as text: a pod that is not ready says why, as kubectl's STATUS does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { pod, putJson } from '../server/fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await putJson(t.kv, `${STORE_PREFIX.pods}default/web-1`, pod('default', 'web-1', 'node-a'));
  const pulling = pod('default', 'web-2', 'node-a', 'Pending');
  pulling.status = { ...pulling.status, reason: 'ImagePullBackOff', message: 'Back-off pulling image "web:1"' };
  await putJson(t.kv, `${STORE_PREFIX.pods}default/web-2`, pulling);
  await putJson(t.kv, `${STORE_PREFIX.pods}default/checkout-web-1`, pod('default', 'checkout-web-1', 'node-b'));
});
afterAll(async () => t.close());

describe('capstan get pods', () => {
  it('shows why a pod is not ready next to its phase', async () => {
    const out = await runCli(['get', 'pods', '--server', t.url, '--token', t.tokens.viewer]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+PHASE\s+RESTARTS\s+AGE\s+NODE/);
    expect(lines.find((l) => l.includes(' web-2 '))).toMatch(/web-2\s+0\/1\s+Pending \(ImagePullBackOff\)\s+0\s+\d+d\s+node-a/);
    expect(lines.find((l) => l.includes(' web-1 '))).toMatch(/web-1\s+1\/1\s+Running\s/);
  });

  it('matches NAME exactly: web-1 is not checkout-web-1', async () => {
    const out = await runCli(['get', 'pods', 'web-1', '--server', t.url, '--token', t.tokens.viewer]);
    expect(out.code, out.stderr).toBe(0);
    const rows = out.stdout.trim().split('\n').slice(1);
    expect(rows).toEqual([expect.stringMatching(/^default\s+web-1\s/)]);
    const json = await runCli(['get', 'pods', 'web-1', '--server', t.url, '--token', t.tokens.viewer, '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'web-1', containers: '1/1', node: 'node-a', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1' }, spec: { nodeName: 'node-a' }, status: { phase: 'Running' } } });
    const missing = await runCli(['get', 'pods', 'web', '--server', t.url, '--token', t.tokens.viewer]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('pods "web" not found');
  });
});

describe('capstan version', () => {
  it("prints the CLI's version and the server's; --client asks no server", async () => {
    const { VERSION } = await import('../../src/common/version.js');
    const out = await runCli(['version', '--server', t.url, '--token', t.tokens.viewer, '-o', 'json']);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ client: { version: VERSION }, server: { version: VERSION, node: process.version } });
    const alone = await runCli(['version', '--client', '--server', 'http://127.0.0.1:9']);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toBe(`Client: capstan ${VERSION} (node ${process.version}, ${process.platform}/${process.arch})\n`);
    const down = await runCli(['version', '--server', 'http://127.0.0.1:9', '--token', 'x']);
    expect(down.code).toBe(1);
    expect(down.stdout).toContain('Client: capstan');
    expect(down.stderr).toContain('no server version');
  });
});
