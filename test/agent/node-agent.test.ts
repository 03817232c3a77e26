// The node agent end to end: a real API server and store on 127.0.0.1, the process runtime
// running real `node -e` HTTP servers, status flowing back into the store through the API.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { makePod, probe } from './pods.js';

const SERVER = `
const http = require('http');
http.createServer((req, res) => {
  if (req.url === '/greet') { res.end(String(process.env.GREETING) + ' ' + String(process.env.PASSWORD)); return; }
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

let t: TestApi;
let stateDir: string;
const agents: NodeAgent[] = [];

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-node-agent-'));
  const sourced = (object: unknown) => JSON.stringify({ object, source: { file: 'x.yaml', index: 0, line: 1, column: 1 } });
  await t.kv.put(`${STORE_PREFIX.desired}ConfigMap/default/settings`, sourced({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { GREETING: 'hello' } }));
  await t.kv.put(`${STORE_PREFIX.desired}Secret/default/creds`, sourced({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'default' }, data: { password: Buffer.from('s3cret').toString('base64') } }));
  await t.kv.put(`${STORE_PREFIX.desired}ConfigMap/default/unrelated`, sourced({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'default' }, data: { X: '1' } }));
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop({ stopPods: true });
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function newAgent(): NodeAgent {
  const agent = new NodeAgent({
    server: t.url,
    token: t.tokens.agentA,
    name: 'node-a',
    runtime: new ProcessRuntime({ stateDir, node: 'node-a' }),
    labels: { zone: 'a' },
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 200, orphanGraceMs: 2000 },
  });
  agents.push(agent);
  return agent;
}

function webPod(name: string): Pod {
  return makePod(
    name,
    [
      {
        name: 'web',
        image: 'node',
        command: [process.execPath, '-e', SERVER],
        ports: [{ containerPort: 8080, name: 'http' }],
        env: [
          { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'GREETING' } } },
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        ],
        readinessProbe: probe({ httpGet: { path: '/', port: 'http' } }, { periodSeconds: 1 }),
      },
    ],
    { nodeName: 'node-a', terminationGracePeriodSeconds: 5 },
  );
}

async function stored(name: string): Promise<Pod | undefined> {
  const kv = await t.kv.get(`${STORE_PREFIX.pods}default/${name}`);
  return kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as Pod) : undefined;
}

function pidOf(id: string | undefined): number {
  expect(id).toBeDefined();
  return Number(JSON.parse(readFileSync(join(stateDir, 'containers', `${id}.json`), 'utf8')).pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function stateFiles(): string[] {
  try {
    return readdirSync(join(stateDir, 'containers')).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

describe('node agent', () => {
  it('registers, runs a bound pod until ready, reports status through the API, and stops it on deletion', async () => {
    const agent = newAgent();
    await agent.start();
    const node = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.nodes}node-a`))!.value).toString('utf8')) as NodeInfo;
    expect(node).toMatchObject({ name: 'node-a', labels: { zone: 'a' }, runtime: 'process', capacity: { cpu: 2000, pods: 110 }, status: { ready: true, address: '127.0.0.1' } });
    // The kubelet's well-known labels, so Kubernetes nodeSelectors (kubernetes.io/os: linux) fit.
    expect(node.labels).toMatchObject({ 'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch });
    expect(await t.kv.get(`${STORE_PREFIX.leases}nodes/node-a`)).toBeDefined();

    await t.kv.put(`${STORE_PREFIX.pods}default/web`, JSON.stringify(webPod('web')));
    // A pod bound elsewhere is not this agent's business.
    await t.kv.put(`${STORE_PREFIX.pods}default/other`, JSON.stringify({ ...webPod('other'), spec: { ...webPod('other').spec, nodeName: 'node-b' } }));

    await vi.waitFor(async () => {
      const p = await stored('web');
      expect(p?.status.phase).toBe('Running');
      expect(p?.status.ready).toBe(true);
    }, { timeout: 10_000, interval: 100 });
    const pod = (await stored('web'))!;
    expect(pod.status.hostIP).toBe('127.0.0.1');
    const port = pod.status.ports?.http;
    expect(port).toBeGreaterThan(0);
    // Env from a ConfigMap and a Secret, read through the API.
    const res = await fetch(`http://127.0.0.1:${port}/greet`);
    expect(await res.text()).toBe('hello s3cret');
    expect((await stored('other'))!.status.phase).toBe('Pending');
    expect(stateFiles()).toHaveLength(1);

    // The agent may read only what its pods reference.
    expect((await call(t.url, 'GET', '/api/v1/desired/ConfigMap/default/unrelated', { token: t.tokens.agentA })).status).toBe(403);
    expect((await call(t.url, 'GET', '/api/v1/desired/ConfigMap/default/settings', { token: t.tokens.agentA })).status).toBe(200);
    // node-b's pod "other" references it too, so node-b may read it; nothing else.
    expect((await call(t.url, 'GET', '/api/v1/desired/ConfigMap/default/settings', { token: t.tokens.agentB })).status).toBe(200);
    expect((await call(t.url, 'GET', '/api/v1/desired/Deployment/default/settings', { token: t.tokens.agentA })).status).toBe(403);
    expect((await call(t.url, 'GET', '/api/v1/desired', { token: t.tokens.agentA })).status).toBe(403);

    const pid = pidOf(pod.status.containerStatuses?.[0]?.id);
    expect(alive(pid)).toBe(true);
    await t.kv.put(`${STORE_PREFIX.pods}default/web`, JSON.stringify({ ...pod, metadata: { ...pod.metadata, deletionRequestedAt: new Date().toISOString() } }));
    await vi.waitFor(async () => expect((await stored('web'))?.status.terminatedAt).toBeDefined(), { timeout: 10_000, interval: 100 });
    expect(alive(pid)).toBe(false);
    expect((await stored('web'))!.status.ready).toBe(false);
  });

  it('adopts its running process after a restart on the same state dir, and stops pods no longer bound to it', async () => {
    const first = newAgent();
    await first.start();
    await t.kv.put(`${STORE_PREFIX.pods}default/web`, JSON.stringify(webPod('web')));
    await t.kv.put(`${STORE_PREFIX.pods}default/gone`, JSON.stringify(webPod('gone')));
    await vi.waitFor(async () => {
      expect((await stored('web'))?.status.ready).toBe(true);
      expect((await stored('gone'))?.status.ready).toBe(true);
    }, { timeout: 10_000, interval: 100 });
    const webPid = pidOf((await stored('web'))!.status.containerStatuses?.[0]?.id);
    const gonePid = pidOf((await stored('gone'))!.status.containerStatuses?.[0]?.id);
    const webId = (await stored('web'))!.status.containerStatuses?.[0]?.id;

    // The agent goes away; its processes keep running. Meanwhile one pod is removed (as an
    // eviction does), and the other's status is cleared so we can see the new agent report.
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    expect(alive(webPid)).toBe(true);
    await t.kv.delete(`${STORE_PREFIX.pods}default/gone`);
    const web = (await stored('web'))!;
    await t.kv.put(`${STORE_PREFIX.pods}default/web`, JSON.stringify({ ...web, status: { phase: 'Pending', ready: false } }));

    const second = newAgent();
    await second.start();
    await vi.waitFor(async () => {
      const p = await stored('web');
      expect(p?.status.ready).toBe(true);
      expect(p?.status.containerStatuses?.[0]?.id).toBe(webId);
    }, { timeout: 10_000, interval: 100 });
    // Same process, no duplicate; the pod no longer bound here is stopped.
    expect(alive(webPid)).toBe(true);
    expect((await stored('web'))!.status.containerStatuses?.[0]?.restartCount).toBe(0);
    await vi.waitFor(() => expect(alive(gonePid)).toBe(false), { timeout: 10_000, interval: 100 });
    await vi.waitFor(() => expect(stateFiles()).toHaveLength(1), { timeout: 5000, interval: 100 });
  });
});
