// Pod volumes through the whole agent: a real API server on 127.0.0.1, the agent reading the
// ConfigMap and Secret its pod's volumes name (allowed because a bound pod names them), and a
// process reading the files and seeing a ConfigMap change.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent, ProcessRuntime, podVolumesDir } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

let t: TestApi;
let stateDir: string;
let agent: NodeAgent | undefined;
const sourced = (object: unknown): string => JSON.stringify({ object, source: { file: 'x.yaml', index: 0, line: 1, column: 1 } });
const putConfig = (greeting: string) =>
  t.kv.put(`${STORE_PREFIX.desired}ConfigMap/default/app`, sourced({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { greeting } }));

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-volagent-'));
  await putConfig('hello');
  await t.kv.put(`${STORE_PREFIX.desired}Secret/default/creds`, sourced({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, data: { password: Buffer.from('s3cret').toString('base64') } }));
});

afterEach(async () => {
  await agent?.stop({ stopPods: true });
  agent = undefined;
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('volumes through the node agent', () => {
  it('mounts a configMap and a projected secret from the API and follows a ConfigMap change', async () => {
    agent = new NodeAgent({
      server: t.url,
      token: t.tokens.agentA,
      name: 'node-a',
      runtime: new ProcessRuntime({ stateDir, node: 'node-a' }),
      capacity: { cpu: 2000, memory: 2 ** 31 },
      stateDir,
      heartbeatMs: 300,
      retryBaseMs: 50,
      manager: { resyncMs: 200, orphanGraceMs: 2000, volumeSyncMs: 200 },
    });
    await agent.start();
    const pod: Pod = makePod(
      'reader',
      [
        {
          name: 'main',
          image: 'unused',
          command: ['/bin/sh', '-c', 'while true; do cat "$CAPSTAN_VOLUME_CONFIG/greeting" "$CAPSTAN_VOLUME_ALL/pass" > "$CAPSTAN_VOLUME_OUT/seen.tmp" && mv "$CAPSTAN_VOLUME_OUT/seen.tmp" "$CAPSTAN_VOLUME_OUT/seen"; sleep 0.05; done'],
          volumeMounts: [
            { name: 'config', mountPath: '/etc/app' },
            { name: 'all', mountPath: '/etc/all' },
            { name: 'out', mountPath: '/out' },
          ],
        },
      ],
      {
        nodeName: 'node-a',
        terminationGracePeriodSeconds: 1,
        volumes: [
          { name: 'config', configMap: { name: 'app' } },
          { name: 'all', projected: { sources: [{ secret: { name: 'creds', items: [{ key: 'password', path: 'pass' }] } }] } },
          { name: 'out', emptyDir: {} },
        ],
      },
    );
    // Not named by any pod yet: the agent may not read the Secret.
    expect((await call(t.url, 'GET', '/api/v1/desired/Secret/default/creds', { token: t.tokens.agentA })).status).toBe(403);
    await t.kv.put(`${STORE_PREFIX.pods}default/reader`, JSON.stringify(pod));
    const seen = join(podVolumesDir(stateDir, 'default', 'reader'), 'out', 'seen');
    await vi.waitFor(() => expect(readFileSync(seen, 'utf8')).toBe('hellos3cret'), { timeout: 10_000, interval: 50 });
    await putConfig('changed');
    await vi.waitFor(() => expect(readFileSync(seen, 'utf8')).toBe('changeds3cret'), { timeout: 10_000, interval: 50 });
  });
});
