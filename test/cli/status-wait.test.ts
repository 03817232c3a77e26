// `capstan status --wait` right after a sync: the controller may not have seen the new spec
// yet, so the status still says Healthy for the previous commit. --wait must keep waiting
// until the status speaks of the commit the store holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { putJson } from '../server/fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
});
afterAll(async () => t.close());

const manifest = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:2' }] } } },
};
const source = { file: 'apps/web.yaml', index: 0, line: 1, column: 1 };

function status(commit: string, phase: string) {
  return { namespace: 'default', name: 'web', kind: 'Deployment', phase, revision: 1, replicas: 1, readyReplicas: 1, updatedReplicas: 1, syncedCommit: commit, message: '' };
}

describe('capstan status --wait', () => {
  it('does not take a Healthy status of the previous commit for the answer', async () => {
    await putJson(t.kv, `${STORE_PREFIX.desired}Deployment/default/web`, { object: manifest, source, commit: 'bbbb', appliedAt: new Date().toISOString() });
    await putJson(t.kv, `${STORE_PREFIX.status}Deployment/default/web`, status('aaaa', 'Healthy'));
    const args = ['status', 'web', '--wait', '--timeout', '2', '--server', t.url, '--token', t.tokens.admin];
    const stale = await runCli(args);
    expect(stale.code, stale.stdout + stale.stderr).toBe(1);
    expect(stale.stderr).toContain('timed out');

    // Likewise a Degraded status of the previous commit is not this rollout's failure.
    await putJson(t.kv, `${STORE_PREFIX.status}Deployment/default/web`, status('aaaa', 'Degraded'));
    expect((await runCli(args)).stderr).toContain('timed out');

    await putJson(t.kv, `${STORE_PREFIX.status}Deployment/default/web`, status('bbbb', 'Healthy'));
    const caught = await runCli(args);
    expect(caught.code, caught.stdout + caught.stderr).toBe(0);

    const json = await runCli(['get', 'deployments', 'web', '--server', t.url, '--token', t.tokens.admin, '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'web', syncedCommit: 'bbbb' });
  });
});
