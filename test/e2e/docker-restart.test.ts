// Docker daemon restarts under a running agent, against a real dockerd of the test's own
// (own socket, data root, exec root and pid file under a temp dir; test/helpers/docker.ts),
// so the daemon other tests use is never touched. A two-replica Deployment runs on the
// Docker runtime; the daemon is stopped with SIGTERM (it stops its containers) and, in a
// second round, with SIGKILL (the containers outlive it until it comes back and reaps
// them). While it is away the agent keeps running and says so: its node reads not ready
// with the reason, its pods not ready with RuntimeUnavailable. Once the daemon answers on
// the same socket the agent starts the pods' containers again, and afterwards exactly one
// running container per pod carries the ownership labels: no duplicate, none left over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_API_VERSION, DockerRuntime, NodeAgent, RUNTIME_UNAVAILABLE } from '../../src/agent/index.js';
import { STORE_PREFIX, type NodeInfo } from '../../src/api/cluster.js';
import { startControlPlane, type ControlPlane } from '../../src/compose/index.js';
import { createToken } from '../../src/server/index.js';
import { ensureTestImage, privateDockerdSkipReason, startPrivateDockerd, httpdContainerLines, type PrivateDockerd } from '../helpers/docker.js';
import { freePort } from '../helpers/git-server.js';
import { KEEP_CONFIGMAP, NEVER, cleanupCluster, fileLogger, rolledOut, tempDataDir, waitFor, workloadPods } from '../helpers/cluster.js';

const skipReason = privateDockerdSkipReason();
if (skipReason !== undefined) console.warn(`[docker restart e2e skipped] ${skipReason}`);

const NODE = `e2e-dockerd-${randomBytes(3).toString('hex')}`;
const REPLICAS = 2;
let daemon: PrivateDockerd | undefined;
let plane: ControlPlane | undefined;
let agent: NodeAgent | undefined;
let dataDir: string;

/** Busybox httpd on the port the runtime passes as PORT, ready once it serves /index.html. */
function manifest(port: number): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    'spec:',
    `  replicas: ${REPLICAS}`,
    '  minReadySeconds: 0',
    '  selector:',
    '    matchLabels:',
    '      app: web',
    '  template:',
    '    metadata:',
    '      labels:',
    '        app: web',
    '    spec:',
    '      terminationGracePeriodSeconds: 2',
    '      nodeSelector:',
    `        kubernetes.io/hostname: ${NODE}`,
    '      containers:',
    ...httpdContainerLines(port, 'exec httpd -f -p 127.0.0.1:$PORT -h /www'),
    '',
  ].join('\n');
}

interface Listed {
  Id: string;
  State: string;
  Labels: Record<string, string>;
}

/** Every container of the node, by its ownership label, running or not (as the agent lists them). */
function containers(): Promise<Listed[]> {
  return daemon!.docker.listContainers({ all: true, filters: { label: [`capstan.dev/node=${NODE}`] } });
}

async function storedNode(): Promise<NodeInfo | undefined> {
  const kv = await plane!.kv.get(`${STORE_PREFIX.nodes}${NODE}`);
  return kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as NodeInfo) : undefined;
}

/** The steady state: Deployment rolled out, one running container per pod and nothing else. */
async function converged(): Promise<{ pods: string[]; running: Listed[] } | undefined> {
  if (!(await rolledOut(plane!.kv, 'web', REPLICAS))) return undefined;
  if ((await storedNode())?.status.ready !== true) return undefined;
  const pods = (await workloadPods(plane!.kv, 'web')).map((p) => p.metadata.name);
  const all = await containers();
  const running = all.filter((c) => c.State === 'running');
  if (all.length !== REPLICAS || running.length !== REPLICAS) return undefined;
  return { pods, running };
}

async function expectOneContainerPerPod(): Promise<Listed[]> {
  const state = await waitFor(converged, 120_000, 'the Deployment ready again with one running container per pod and none left over');
  const owners = state.running.map((c) => c.Labels['capstan.dev/pod']).sort();
  expect(owners).toEqual([...state.pods].sort());
  for (const c of state.running) expect(c.Labels).toMatchObject({ 'capstan.dev/node': NODE, 'capstan.dev/namespace': 'default', 'capstan.dev/container': 'httpd' });
  return state.running;
}

/** Stops the daemon with `signal` and checks the agent reports it, then starts it again and checks recovery. */
async function restartDaemon(signal: NodeJS.Signals): Promise<void> {
  const before = await expectOneContainerPerPod();
  const podsBefore = (await workloadPods(plane!.kv, 'web')).map((p) => p.metadata.name).sort();
  await daemon!.stop(signal);

  // The trouble is reported, on the node and on every pod, and the agent keeps running.
  const node = await waitFor(async () => {
    const n = await storedNode();
    return n?.status.ready === false ? n : undefined;
  }, 60_000, 'the node reported not ready');
  expect(node.status.message).toMatch(/container runtime is down/);
  const down = await waitFor(async () => {
    const pods = await workloadPods(plane!.kv, 'web');
    return pods.length === REPLICAS && pods.every((p) => p.status.ready === false && p.status.reason === RUNTIME_UNAVAILABLE) ? pods : undefined;
  }, 60_000, 'the pods reported not ready because the runtime does not answer');
  for (const p of down) expect(p.status.message).toMatch(/runtime does not answer/);
  expect(agent!.state).toBe('RUNNING');
  expect(agent!.runtimeProblem).toBeDefined();

  await daemon!.start();
  const after = await expectOneContainerPerPod();
  // The same pods came back (no rescheduling), in new containers: the daemon stopped the old ones.
  expect((await workloadPods(plane!.kv, 'web')).map((p) => p.metadata.name).sort()).toEqual(podsBefore);
  expect(after.map((c) => c.Id).filter((id) => before.some((b) => b.Id === id))).toEqual([]);
  const pods = await workloadPods(plane!.kv, 'web');
  for (const p of pods) {
    expect(p.status.reason).toBeUndefined();
    expect(p.status.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1);
    expect(after.map((c) => c.Id)).toContain(p.status.containerStatuses?.[0]?.id);
  }
  expect(agent!.runtimeProblem).toBeUndefined();
  // Still exactly one per pod a little later: nothing else was started behind the count.
  await new Promise((r) => setTimeout(r, 3000));
  expect((await containers()).map((c) => c.Id).sort()).toEqual(after.map((c) => c.Id).sort());
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  daemon = await startPrivateDockerd();
  await ensureTestImage(daemon.docker);
  dataDir = tempDataDir('capstan-e2e-dockerd-');
  const source = join(dataDir, 'manifests');
  mkdirSync(source, { recursive: true });
  writeFileSync(join(source, 'keep.yaml'), KEEP_CONFIGMAP);
  writeFileSync(join(source, 'web.yaml'), manifest(await freePort()));
  const logger = fileLogger(dataDir);
  plane = await startControlPlane({ source, dataDir: join(dataDir, 'plane'), logger, syncSchedule: NEVER, host: '127.0.0.1', port: await freePort(), serveGit: false });
  const { token } = await createToken(plane.kv, { role: 'agent', node: NODE, user: `agent:${NODE}` });
  agent = new NodeAgent({
    server: plane.url,
    token,
    name: NODE,
    runtime: new DockerRuntime({ node: NODE, docker: new Docker({ socketPath: daemon.socketPath, version: DOCKER_API_VERSION }), logger }),
    capacity: { cpu: 4000, memory: 8 * 2 ** 30 },
    labels: { 'kubernetes.io/hostname': NODE },
    stateDir: join(dataDir, 'agent'),
    logger,
    heartbeatMs: 2000,
    runtimeCheckMs: 1000,
  });
  await agent.start();
  expect((await plane.sync.sync('test')).phase).toBe('Synced');
});

afterAll(async () => {
  if (skipReason !== undefined) return;
  await agent?.stop({ stopPods: daemon?.running === true }).catch(() => undefined);
  await cleanupCluster(plane, dataDir);
  await daemon?.close();
});

describe.skipIf(skipReason !== undefined)(`Docker daemon restarts under a running agent${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('runs the Deployment in labelled containers on the private daemon', async () => {
    const running = await expectOneContainerPerPod();
    expect(running).toHaveLength(REPLICAS);
  }, 180_000);

  it('survives a daemon stopped with SIGTERM and started again: pods ready again, one container each', async () => {
    await restartDaemon('SIGTERM');
  }, 300_000);

  it('survives a daemon killed with SIGKILL and started again: its containers are reaped and started once each', async () => {
    await restartDaemon('SIGKILL');
  }, 300_000);
});
