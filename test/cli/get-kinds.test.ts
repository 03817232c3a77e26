// `capstan get configmaps|secrets|cronjobs|all`: objects as Git has them; Secrets by key count
// only (the API masks values for every person, so none can reach the CLI).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { putJson, seed } from '../server/fixtures.js';

let t: TestApi;
const desired = (kind: string, name: string, rest: Record<string, unknown>) => ({
  object: { apiVersion: kind === 'CronJob' ? 'batch/v1' : 'v1', kind, metadata: { name, namespace: 'default' }, ...rest },
  source: { file: `config/${name}.yaml`, index: 0, line: 1, column: 1 },
  commit: 'cafebabe1234',
});
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await seed(t.kv);
  await putJson(t.kv, `${STORE_PREFIX.desired}ConfigMap/default/settings`, desired('ConfigMap', 'settings', { data: { a: '1', b: '2' } }));
  await putJson(t.kv, `${STORE_PREFIX.desired}Secret/default/db`, desired('Secret', 'db', { type: 'kubernetes.io/basic-auth', stringData: { username: 'admin', password: 'hunter2-very-secret' } }));
  await putJson(t.kv, `${STORE_PREFIX.desired}CronJob/default/report`, desired('CronJob', 'report', { spec: { schedule: '0 3 * * *', jobTemplate: {} } }));
});
afterAll(async () => t.close());

const cli = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.admin]);

describe('capstan get (objects from Git)', () => {
  it('lists ConfigMaps and Secrets by key count, never a Secret value', async () => {
    const cm = await cli('get', 'cm');
    expect(cm.code, cm.stderr).toBe(0);
    expect(cm.stdout).toMatch(/default\s+settings\s+2\s+cafebab/);
    const secrets = await cli('get', 'secrets', '-o', 'json');
    const parsed = JSON.parse(secrets.stdout) as Record<string, unknown>[];
    expect(parsed).toMatchObject([{ namespace: 'default', name: 'db', syncedCommit: 'cafebabe1234', type: 'kubernetes.io/basic-auth', data: 2, immutable: false }]);
    // The whole object rides along, its values masked.
    expect(parsed[0]!.object).toMatchObject({ kind: 'Secret', metadata: { name: 'db' }, stringData: { username: '++++++++' } });
    const text = await cli('get', 'secret', 'db');
    expect(text.stdout).toMatch(/default\s+db\s+kubernetes\.io\/basic-auth\s+2/);
    expect(text.stdout + secrets.stdout).not.toContain('hunter2');
  });

  it('lists CronJobs with their schedule', async () => {
    const out = await cli('get', 'cronjobs');
    expect(out.stdout).toMatch(/default\s+report\s+0 3 \* \* \*\s+false/);
  });

  it('get all shows each kind that has objects, under its name', async () => {
    const out = await cli('get', 'all');
    expect(out.code, out.stderr).toBe(0);
    const headings = out.stdout.split('\n').filter((l) => /^[a-z]+:$/.test(l));
    expect(headings).toEqual(['deployments:', 'cronjobs:', 'services:', 'pods:']);
    const json = JSON.parse((await cli('get', 'all', '-o', 'json')).stdout) as Record<string, { name: string }[]>;
    expect(Object.keys(json)).toEqual(['deployments', 'statefulsets', 'daemonsets', 'cronjobs', 'services', 'pods']);
    expect(json.pods!.map((p) => p.name).sort()).toEqual(['cart-1', 'cart-2', 'web-1', 'web-2']);
  });
});
