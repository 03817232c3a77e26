// `capstan get pvc`: claim records (from Git and from StatefulSets) with their binding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIMS_PREFIX } from '../../src/controllers/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { putJson } from '../server/fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  const createdAt = new Date(Date.now() - 3 * 60_000).toISOString();
  await putJson(t.kv, `${CLAIMS_PREFIX}default/data-db-0`, {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name: 'data-db-0', namespace: 'default', labels: {}, owner: { kind: 'StatefulSet', name: 'db', ordinal: 0 }, createdAt, annotations: { 'volume.kubernetes.io/selected-node': 'n2' } },
    spec: { accessModes: ['ReadWriteOnce', 'ReadWriteOncePod'], resources: { requests: { storage: '1Gi' } }, volumeName: 'local-default-data-db-0' },
    status: { phase: 'Bound', nodeName: 'n2', capacity: { storage: '1Gi' } },
  });
  await putJson(t.kv, `${CLAIMS_PREFIX}team/cache`, {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name: 'cache', namespace: 'team', createdAt },
    spec: { resources: { requests: { storage: '5Gi' } } },
    status: { phase: 'Pending' },
  });
});
afterAll(async () => t.close());

const cli = (args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.viewer]);

describe('capstan get pvc', () => {
  it('lists claims with status, volume, capacity, access modes, node and age', async () => {
    const out = await cli(['get', 'pvc']);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+STATUS\s+VOLUME\s+CAPACITY\s+ACCESS MODES\s+NODE\s+AGE$/);
    expect(lines.find((l) => l.includes('data-db-0'))).toMatch(/^default\s+data-db-0\s+Bound\s+local-default-data-db-0\s+1Gi\s+RWO,RWOP\s+n2\s+3m$/);
    expect(lines.find((l) => l.includes('cache'))).toMatch(/^team\s+cache\s+Pending\s+3m$/);
  });

  it('-n and a name narrow the list; -o json gives the contract fields', async () => {
    const json = JSON.parse((await cli(['get', 'persistentvolumeclaims', 'data-db-0', '-n', 'default', '-o', 'json'])).stdout);
    expect(json).toMatchObject({ namespace: 'default', name: 'data-db-0', status: 'Bound', volume: 'local-default-data-db-0', capacity: '1Gi', accessModes: ['ReadWriteOnce', 'ReadWriteOncePod'], node: 'n2', owner: 'StatefulSet/db' });
    const team = JSON.parse((await cli(['get', 'pvc', '-n', 'team', '-o', 'json'])).stdout);
    expect(team).toEqual([expect.objectContaining({ name: 'cache', status: 'Pending', volume: null, capacity: null, node: null, accessModes: [] })]);
  });
});
