// The core scenario on the Docker runtime against a real dockerd: the image is built locally
// with `docker import` (test/helpers/docker.ts), never pulled; containers use host networking.
// Skipped, with the reason printed, when no daemon answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startGitServer, freePort, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { dockerSkipReason, ensureTestImage, removeTestContainers, testDocker, httpdContainerLines } from '../helpers/docker.js';
import { KEEP_CONFIGMAP, cleanupCluster, httpGet, rolledOut, startTestCluster, waitFor, workloadPods, type TestCluster } from '../helpers/cluster.js';

const NODE = `e2e-docker-${randomBytes(3).toString('hex')}`;
let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
let port: number;

/**
 * One replica of busybox httpd on a fixed host port. Host networking gives every replica on a
 * node the same port, so the update replaces the pod first (maxSurge 0, maxUnavailable 1).
 */
function manifest(version: string): string {
  const script = `echo ${version} > /tmp/index.html && exec httpd -f -p 127.0.0.1:${port} -h /tmp`;
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: box',
    'spec:',
    '  replicas: 1',
    '  minReadySeconds: 0',
    '  selector:',
    '    matchLabels:',
    '      app: box',
    '  strategy:',
    '    type: RollingUpdate',
    '    rollingUpdate:',
    '      maxSurge: 0',
    '      maxUnavailable: 1',
    '  template:',
    '    metadata:',
    '      labels:',
    '        app: box',
    '    spec:',
    '      terminationGracePeriodSeconds: 2',
    '      containers:',
    ...httpdContainerLines(port, script),
    '',
  ].join('\n');
}

async function containers(): Promise<{ Id: string; State: string; Labels: Record<string, string> }[]> {
  return testDocker().listContainers({ all: true, filters: { label: [`capstan.dev/node=${NODE}`] } });
}

beforeAll(async () => {
  if (dockerSkipReason !== undefined) return;
  await ensureTestImage();
  port = await freePort();
  git = await startGitServer();
  repo = createRepo(git, 'docker', { 'config/keep.yaml': KEEP_CONFIGMAP, 'apps/box.yaml': manifest('v1') });
  cluster = await startTestCluster({ source: repo.url, runtime: 'docker', nodeName: NODE });
});

afterAll(async () => {
  if (dockerSkipReason !== undefined) return;
  await cleanupCluster(cluster, cluster?.dataDir);
  await removeTestContainers(NODE).catch(() => undefined);
  await git?.stop();
});

describe.skipIf(dockerSkipReason !== undefined)(`the Docker runtime, end to end${dockerSkipReason ? ` (skipped: ${dockerSkipReason})` : ''}`, () => {
  it('runs the pod Ready in a container carrying the ownership labels', async () => {
    const c = cluster!;
    expect(c.runtime).toBe('docker');
    await waitFor(() => rolledOut(c.kv, 'box', 1), 30_000, 'box ready');
    expect((await httpGet(port, '/index.html'))?.trim()).toBe('v1');
    const [pod] = await workloadPods(c.kv, 'box');
    const list = (await containers()).filter((x) => x.State === 'running');
    expect(list).toHaveLength(1);
    expect(list[0]!.Labels).toMatchObject({
      'capstan.dev/node': NODE,
      'capstan.dev/namespace': 'default',
      'capstan.dev/pod': pod!.metadata.name,
      'capstan.dev/container': 'httpd',
    });
  });

  it('rolls an update to a new container', async () => {
    const c = cluster!;
    const [old] = await workloadPods(c.kv, 'box');
    pushCommit(repo, { 'apps/box.yaml': manifest('v2') }, 'box v2');
    expect((await c.sync.sync('test')).phase).toBe('Synced');
    await waitFor(
      async () => (await rolledOut(c.kv, 'box', 1)) && (await httpGet(port, '/index.html'))?.trim() === 'v2',
      40_000,
      'box v2',
    );
    const [now] = await workloadPods(c.kv, 'box');
    expect(now!.metadata.name).not.toBe(old!.metadata.name);
    await waitFor(async () => (await containers()).length === 1, 15_000, 'the old container removed');
    expect((await containers())[0]!.Labels['capstan.dev/pod']).toBe(now!.metadata.name);
  });

  it('runs two replicas of an app that honours PORT on one host, and rolls them with a surge', async () => {
    const c = cluster!;
    const pair = (version: string) =>
      manifest(version)
        .replace('name: box', 'name: pair')
        .replace(/app: box/g, 'app: pair')
        .replace('replicas: 1', 'replicas: 2')
        .replace('maxSurge: 0', 'maxSurge: 1')
        .replace('maxUnavailable: 1', 'maxUnavailable: 0')
        .replace(`-p 127.0.0.1:${port}`, '-p 127.0.0.1:$PORT');
    pushCommit(repo, { 'apps/pair.yaml': pair('p1') }, 'pair p1');
    expect((await c.sync.sync('test')).phase).toBe('Synced');
    await waitFor(() => rolledOut(c.kv, 'pair', 2), 40_000, 'pair ready');
    const ports = (await workloadPods(c.kv, 'pair')).map((p) => p.status.ports?.http);
    expect(new Set(ports).size).toBe(2);
    pushCommit(repo, { 'apps/pair.yaml': pair('p2') }, 'pair p2');
    expect((await c.sync.sync('test')).phase).toBe('Synced');
    await waitFor(
      async () => {
        const pods = await workloadPods(c.kv, 'pair');
        if (!(await rolledOut(c.kv, 'pair', 2)) || pods.length !== 2) return false;
        const bodies = await Promise.all(pods.map((p) => httpGet(p.status.ports!.http!, '/index.html')));
        return bodies.every((b) => b?.trim() === 'p2');
      },
      60_000,
      'pair p2 on both replicas',
    );
    pushCommit(repo, { 'apps/pair.yaml': null }, 'remove pair');
    expect((await c.sync.sync('test')).phase).toBe('Synced');
    await waitFor(async () => (await workloadPods(c.kv, 'pair')).length === 0, 30_000, 'pair pods gone');
  });

  it('leaves no container once the Deployment is deleted from Git', async () => {
    const c = cluster!;
    pushCommit(repo, { 'apps/box.yaml': null }, 'remove box');
    expect((await c.sync.sync('test')).phase).toBe('Synced');
    await waitFor(async () => (await workloadPods(c.kv, 'box')).length === 0, 30_000, 'box pods gone');
    await waitFor(async () => (await containers()).length === 0, 15_000, 'no container left');
  });
});
