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
});
afterAll(async () => t.close());

describe('capstan get pods', () => {
  it('shows why a pod is not ready next to its phase', async () => {
    const out = await runCli(['get', 'pods', '--server', t.url, '--token', t.tokens.viewer]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines.find((l) => l.includes('web-2'))).toMatch(/Pending \(ImagePullBackOff\)\s+false/);
    expect(lines.find((l) => l.includes('web-1'))).toMatch(/Running\s+true/);
  });
});
