// `capstan get statefulsets` and `capstan get daemonsets`: the desired object joined with the
// controller's status, as text and JSON.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { putJson } from '../server/fixtures.js';

const desired = (kind: string, name: string) => ({
  object: { apiVersion: 'apps/v1', kind, metadata: { name, namespace: 'default' }, spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: `${name}:1` }] } } } },
  source: { file: 'apps/x.yaml', index: 0, line: 1, column: 1 },
  commit: 'abcdef1234',
  appliedAt: '2026-03-01T12:00:00.000Z',
});

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await putJson(t.kv, `${STORE_PREFIX.desired}StatefulSet/default/db`, desired('StatefulSet', 'db'));
  await putJson(t.kv, `${STORE_PREFIX.status}StatefulSet/default/db`, {
    namespace: 'default', name: 'db', kind: 'StatefulSet', phase: 'Progressing', revision: 2, replicas: 3, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 1,
    currentReplicas: 2, currentRevision: 'db-aaaaaaaaaa', updateRevision: 'db-bbbbbbbbbb', syncedCommit: 'abcdef1234', message: 'statefulset "db": 2 of 3 pods ready, 1 updated', conditions: [], observedAt: '2026-03-01T12:00:00.000Z',
  });
  await putJson(t.kv, `${STORE_PREFIX.desired}DaemonSet/default/agent`, desired('DaemonSet', 'agent'));
  await putJson(t.kv, `${STORE_PREFIX.status}DaemonSet/default/agent`, {
    namespace: 'default', name: 'agent', kind: 'DaemonSet', phase: 'Healthy', revision: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2,
    desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, updatedNumberScheduled: 2, numberMisscheduled: 0, syncedCommit: 'abcdef1234', message: 'ok', conditions: [], observedAt: '2026-03-01T12:00:00.000Z',
  });
});
afterAll(async () => t.close());

const cli = (args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.viewer]);

describe('capstan get statefulsets / daemonsets', () => {
  it('lists a StatefulSet with ready/replicas and its revisions', async () => {
    const out = await cli(['get', 'sts']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.split('\n')[1]).toMatch(/^default\s+db\s+Progressing\s+2\/3\s+1\s+db-bbbbbbbbbb\s+abcdef1\s+statefulset "db"/);
    const json = await cli(['get', 'statefulsets', 'db', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'StatefulSet', name: 'db', replicas: 3, readyReplicas: 2, currentRevision: 'db-aaaaaaaaaa', updateRevision: 'db-bbbbbbbbbb' });
  });

  it('-o yaml carries the whole object: Git\'s spec, the controller\'s status and the file it came from', async () => {
    const out = await cli(['get', 'sts', 'db', '-o', 'yaml']);
    expect(out.code, out.stderr).toBe(0);
    const doc = (await import('yaml')).parse(out.stdout) as Record<string, any>;
    expect(doc).toMatchObject({ name: 'db', phase: 'Progressing', source: { file: 'apps/x.yaml', line: 1 } });
    expect(doc.object).toMatchObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { replicas: 3 }, status: { readyReplicas: 2, updateRevision: 'db-bbbbbbbbbb' } });
    // The join's own fields are not repeated inside the status.
    expect(doc.object.status.object).toBeUndefined();
  });

  it('lists a DaemonSet with desired, current, ready and up-to-date counts', async () => {
    const out = await cli(['get', 'ds']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.split('\n')[1]).toMatch(/^default\s+agent\s+Healthy\s+2\s+2\s+2\s+2\s+abcdef1\s+ok/);
    const json = JSON.parse((await cli(['get', 'daemonsets', '-o', 'json'])).stdout);
    expect(json).toEqual([expect.objectContaining({ name: 'agent', desiredNumberScheduled: 2, numberReady: 2, updatedNumberScheduled: 2 })]);
  });

  it('Deployments are not listed as StatefulSets', async () => {
    const out = await cli(['get', 'deployments']);
    expect(out.stdout).not.toContain('db');
  });
});
