// Service environment variables: a real API server with Services stored as the sync loop
// stores them, and a node agent starting real containers (processes, and Docker when a daemon
// answers) whose command prints its environment, read back through the pod log API.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerRuntime, NodeAgent, ProcessRuntime, type RuntimeDriver } from '../../src/agent/index.js';
import { podServiceEnv, serviceFromView } from '../../src/agent/service-env.js';
import { STORE_PREFIX, type ContainerSpec, type Pod } from '../../src/api/cluster.js';
import { desiredKey, type DesiredRecord } from '../../src/sync/index.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { TEST_IMAGE, dockerSkipReason, ensureTestImage, removeTestContainers, testDocker } from '../helpers/docker.js';
import { makePod } from './pods.js';

const NODE = 'node-a';
let t: TestApi;
let stateDir: string;
let agent: NodeAgent | undefined;

async function storeService(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const record: DesiredRecord = {
    object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec },
    source: { file: `apps/${name}.yaml`, index: 0, line: 1, column: 1 },
    commit: 'c0ffee',
    appliedAt: new Date().toISOString(),
  };
  await t.kv.put(desiredKey({ kind: 'Service', namespace, name }), JSON.stringify(record));
}

function envPod(name: string, image: string, env: ContainerSpec['env'] = [], spec: Partial<Pod['spec']> = {}): Pod {
  return makePod(
    name,
    [{ name: 'main', image, ...(image === TEST_IMAGE ? { imagePullPolicy: 'Never' as const } : {}), command: ['sh', '-c', 'env; echo END-OF-ENV; exec sleep 3600'], env }],
    { nodeName: NODE, terminationGracePeriodSeconds: 1, ...spec },
  );
}

/** The environment the pod's container printed at start, once it has. */
async function printedEnv(pod: string): Promise<Record<string, string>> {
  let text = '';
  await vi.waitFor(
    async () => {
      text = (await call(t.url, 'GET', `/api/v1/namespaces/default/pods/${pod}/log`, { token: t.tokens.viewer })).text;
      expect(text).toContain('END-OF-ENV');
    },
    { timeout: 20_000, interval: 100 },
  );
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const cut = line.indexOf('=');
    if (cut > 0) out[line.slice(0, cut)] = line.slice(cut + 1);
  }
  return out;
}

async function stored(name: string): Promise<Pod> {
  const kv = await t.kv.get(`${STORE_PREFIX.pods}default/${name}`);
  return JSON.parse(Buffer.from(kv!.value).toString('utf8')) as Pod;
}

async function startAgent(runtime: RuntimeDriver): Promise<void> {
  agent = new NodeAgent({
    server: t.url,
    token: t.tokens.agentA,
    name: NODE,
    runtime,
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 200, orphanGraceMs: 1000 },
  });
  await agent.start();
}

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-service-env-'));
  await storeService('default', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }, { name: 'metrics', port: 9100 }] });
  await storeService('default', 'peers', { clusterIP: 'None', ports: [{ name: 'p', port: 7000 }] });
  await storeService('other', 'db', { ports: [{ port: 5432 }] });
});

afterEach(async () => {
  await agent?.stop({ stopPods: true });
  agent = undefined;
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const own: ContainerSpec['env'] = [
  { name: 'WEB_SERVICE_PORT', value: 'mine' },
  { name: 'WEB_URL', value: 'http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT_HTTP)' },
];

function expectServiceVars(env: Record<string, string>): void {
  expect(env.WEB_SERVICE_HOST).toBe('127.0.0.1');
  expect(env.WEB_SERVICE_PORT).toBe('mine'); // the container's own env wins
  expect(env.WEB_SERVICE_PORT_HTTP).toBe('8080');
  expect(env.WEB_SERVICE_PORT_METRICS).toBe('9100');
  expect(env.WEB_PORT).toBe('tcp://127.0.0.1:8080');
  expect(env.WEB_PORT_9100_TCP).toBe('tcp://127.0.0.1:9100');
  expect(env.WEB_PORT_8080_TCP_ADDR).toBe('127.0.0.1');
  expect(env.WEB_URL).toBe('http://127.0.0.1:8080'); // $(…) sees the Service variables
  const names = Object.keys(env);
  expect(names.filter((n) => n.startsWith('PEERS_'))).toEqual([]); // headless
  expect(names.filter((n) => n.startsWith('DB_'))).toEqual([]); // another namespace
}

describe('Service variables (pure core)', () => {
  it('reads Services as the API serves them and honours enableServiceLinks', () => {
    const view = { namespace: 'default', name: 'api', object: { kind: 'Service', metadata: { namespace: 'default', name: 'api' }, spec: { ports: [{ name: 'grpc', port: 9090, protocol: 'TCP' }] } } };
    const svc = serviceFromView(view)!;
    expect(svc).toEqual({ namespace: 'default', name: 'api', headless: false, ports: [{ name: 'grpc', port: 9090, protocol: 'TCP' }] });
    expect(serviceFromView({ nothing: true })).toBeUndefined();
    const pod = makePod('p', [{ name: 'main', image: 'x' }]);
    expect(podServiceEnv(pod, [svc], '10.1.2.3')).toMatchObject({ API_SERVICE_HOST: '10.1.2.3', API_SERVICE_PORT_GRPC: '9090' });
    expect(podServiceEnv({ ...pod, spec: { ...pod.spec, enableServiceLinks: false } }, [svc], '10.1.2.3')).toEqual({});
    expect(podServiceEnv(makePod('q', [{ name: 'main', image: 'x' }], {}, 'other'), [svc], '10.1.2.3')).toEqual({});
  });
});

describe('Service variables with the process runtime', () => {
  it('gives a container the Services of its namespace, its own env winning; none with enableServiceLinks: false', async () => {
    await startAgent(new ProcessRuntime({ stateDir, node: NODE, user: null }));
    await t.kv.put(`${STORE_PREFIX.pods}default/dump`, JSON.stringify(envPod('dump', 'sh', own)));
    await t.kv.put(`${STORE_PREFIX.pods}default/quiet`, JSON.stringify(envPod('quiet', 'sh', [{ name: 'MINE', value: '1' }], { enableServiceLinks: false })));
    expectServiceVars(await printedEnv('dump'));
    const quiet = await printedEnv('quiet');
    expect(quiet.MINE).toBe('1');
    expect(Object.keys(quiet).filter((n) => n.startsWith('WEB_'))).toEqual([]);
  });

  it('leaves a running container as it is when a Service is created later; containers started after get it', async () => {
    await startAgent(new ProcessRuntime({ stateDir, node: NODE, user: null }));
    await t.kv.put(`${STORE_PREFIX.pods}default/early`, JSON.stringify(envPod('early', 'sh')));
    expect((await printedEnv('early')).LATE_SERVICE_HOST).toBeUndefined();
    const before = (await stored('early')).status.containerStatuses?.[0];
    await storeService('default', 'late', { ports: [{ port: 8181 }] });
    await t.kv.put(`${STORE_PREFIX.pods}default/after`, JSON.stringify(envPod('after', 'sh')));
    expect((await printedEnv('after')).LATE_SERVICE_PORT).toBe('8181');
    const now = (await stored('early')).status.containerStatuses?.[0];
    expect(now?.id).toBe(before?.id);
    expect(now?.restartCount).toBe(0);
    expect((await printedEnv('early')).LATE_SERVICE_HOST).toBeUndefined();
  });
});

describe.skipIf(dockerSkipReason !== undefined)('Service variables with the Docker runtime', () => {
  it('gives a container the Services of its namespace, its own env winning', async () => {
    const docker = testDocker();
    await ensureTestImage(docker);
    await removeTestContainers(NODE, docker);
    try {
      await startAgent(new DockerRuntime({ node: NODE, docker }));
      await t.kv.put(`${STORE_PREFIX.pods}default/dump`, JSON.stringify(envPod('dump', TEST_IMAGE, own)));
      expectServiceVars(await printedEnv('dump'));
    } finally {
      await agent?.stop({ stopPods: true });
      agent = undefined;
      await removeTestContainers(NODE, docker).catch(() => undefined);
    }
  }, 60_000);
});
