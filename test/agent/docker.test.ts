// The docker runtime against a real daemon, with a locally built busybox image and host
// networking. Skipped, with the reason printed, when no daemon answers.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { DockerRuntime, LABEL_NODE, LABEL_POD, ManualClock, PodManager, followProgressStream, freePort } from '../../src/agent/index.js';
import { dockerSkipReason, ensureTestImage, removeTestContainers, testDocker, TEST_IMAGE } from '../helpers/docker.js';
import { makePod, probe, StatusLog, until } from './pods.js';

describe('pull progress stream', () => {
  it('finds an error on any line, not just the last', async () => {
    const stream = new PassThrough();
    const seen: string[] = [];
    const result = followProgressStream(stream, (p) => seen.push(p.status ?? ''));
    stream.write('{"status":"Pulling from x"}\n{"status":"Downloading","progress":"[=> ]"}\n');
    stream.write('{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n{"status":"tail');
    stream.end('"}\n');
    expect(await result).toBe('manifest unknown');
    expect(seen).toEqual(['Pulling from x', 'Downloading', 'tail']);
  });
});

describe.skipIf(dockerSkipReason !== undefined)('docker runtime', () => {
  const docker = testDocker();
  const node = `test-${randomBytes(4).toString('hex')}`;
  let clock: ManualClock;
  let log: StatusLog;
  const managers: PodManager[] = [];

  function newManager(): PodManager {
    const manager = new PodManager({
      driver: new DockerRuntime({ node, docker }),
      node,
      clock,
      onStatus: log.onStatus,
      onRemoved: log.onRemoved,
      orphanGraceMs: 1000,
    });
    managers.push(manager);
    return manager;
  }

  beforeAll(async () => {
    await ensureTestImage(docker);
  });

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close({ stopContainers: true });
    await removeTestContainers(node, docker);
    clock = new ManualClock();
    log = new StatusLog();
  });

  afterAll(async () => {
    await removeTestContainers(node, docker);
  });

  clock = new ManualClock();
  log = new StatusLog();

  async function httpdPod(name: string, grace = 1): Promise<{ pod: ReturnType<typeof makePod>; port: number }> {
    const port = await freePort();
    const pod = makePod(
      name,
      [
        {
          name: 'web',
          image: TEST_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'],
          ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
          resources: { limits: { cpu: '500m', memory: '64Mi' } },
          readinessProbe: probe({ httpGet: { path: '/index.html', port: 'http' } }),
          livenessProbe: probe({ exec: { command: ['/bin/test', '-f', '/www/index.html'] } }),
        },
      ],
      { terminationGracePeriodSeconds: grace },
    );
    return { pod, port };
  }

  it('runs busybox httpd with host networking until it is Ready', async () => {
    const manager = newManager();
    const { pod, port } = await httpdPod('httpd');
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('httpd')?.ready).toBe(true), 20_000);
    const status = log.last('httpd')!;
    expect(status.ports).toEqual({ http: port });
    expect(await (await fetch(`http://127.0.0.1:${port}/index.html`)).text()).toBe('hello from busybox\n');

    const id = status.containerStatuses![0].id!;
    const info = await docker.getContainer(id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.SecurityOpt).toEqual(['no-new-privileges']);
    // exec runs inside the container and reports exit code and output.
    const runtime = new DockerRuntime({ node, docker });
    const [handle] = await runtime.list();
    expect(await runtime.exec(handle, ['/bin/sh', '-c', 'echo hi; exit 3'], 5000)).toEqual({ exitCode: 3, output: 'hi\n', timedOut: false });
    // The kernel holds the container to it: no process in it can gain privileges by exec.
    expect((await runtime.exec(handle, ['/bin/cat', '/proc/self/status'], 5000)).output).toMatch(/^NoNewPrivs:\s+1$/m);
    // The exec liveness probe keeps passing: no restarts.
    expect(status.containerStatuses![0].restartCount).toBe(0);
    expect(info.Config.Labels).toMatchObject({ [LABEL_NODE]: node, [LABEL_POD]: 'httpd', 'capstan.dev/namespace': 'default', 'capstan.dev/container': 'web' });

    await manager.sync([]);
    await until(manager, undefined, 0, () => expect(log.removed).toEqual(['default/httpd']), 20_000);
    await expect(docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('reports an image that is not there under pull policy Never, without any pull', async () => {
    const manager = newManager();
    const pod = makePod('ghost', [{ name: 'c', image: 'capstan-test/does-not-exist:1', imagePullPolicy: 'Never', command: ['/bin/true'] }]);
    await manager.sync([pod]);
    await until(manager, clock, 0, () =>
      expect(log.last('ghost')?.containerStatuses?.[0].state).toEqual({
        waiting: { reason: 'ErrImageNeverPull', message: 'Container image "capstan-test/does-not-exist:1" is not present with pull policy of Never' },
      }),
    );
    // The next attempt waits: ImagePullBackOff.
    await until(manager, clock, 1000, () => expect(log.last('ghost')?.containerStatuses?.[0].state).toMatchObject({ waiting: { reason: 'ImagePullBackOff' } }));
    // The back-off still says why the last attempt failed.
    expect(log.last('ghost')?.containerStatuses?.[0].state).toMatchObject({
      waiting: { message: 'Back-off pulling image "capstan-test/does-not-exist:1": Container image "capstan-test/does-not-exist:1" is not present with pull policy of Never' },
    });
    expect(log.last('ghost')!.phase).toBe('Pending');
  });

  describe('pulls from a registry on 127.0.0.1 (the daemon trusts loopback registries over plain HTTP)', () => {
    // How the registry answers: no such manifest, a manifest whose blobs are missing, or silence.
    let mode: 'unknown' | 'blob-missing' | 'hang' = 'unknown';
    let server: Server;
    let registry: string;
    const digest = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 10, digest: digest('config') },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 10, digest: digest('layer') }],
    });

    beforeAll(async () => {
      server = createServer((req, res) => {
        if (mode === 'hang') return;
        res.setHeader('content-type', 'application/json');
        if (req.url === '/v2/') return void res.end('{}');
        if (mode === 'blob-missing' && req.url?.includes('/manifests/')) {
          res.setHeader('content-type', 'application/vnd.docker.distribution.manifest.v2+json');
          res.setHeader('docker-content-digest', digest(manifest));
          res.setHeader('content-length', Buffer.byteLength(manifest));
          return void res.end(req.method === 'HEAD' ? undefined : manifest);
        }
        res.statusCode = 404;
        res.end(JSON.stringify({ errors: [{ code: mode === 'unknown' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', message: 'not here' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      registry = `127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('an image the registry does not have is ErrImagePull with the daemon\'s message, then ImagePullBackOff', async () => {
      mode = 'unknown';
      const manager = newManager();
      const image = `${registry}/capstan-test/missing:1`;
      await manager.sync([makePod('pull', [{ name: 'c', image, imagePullPolicy: 'Always', command: ['/bin/true'] }])]);
      await until(manager, clock, 0, () => expect(log.last('pull')?.containerStatuses?.[0].state).toMatchObject({ waiting: { reason: 'ErrImagePull' } }), 20_000);
      const state = log.last('pull')!.containerStatuses![0].state as { waiting: { message: string } };
      expect(state.waiting.message).toMatch(new RegExp(`^Failed to pull image "${image}": .*manifest unknown`));
      await until(manager, clock, 1000, () => expect(log.last('pull')?.containerStatuses?.[0].state).toMatchObject({ waiting: { reason: 'ImagePullBackOff' } }));
    });

    it('an error that arrives on a later progress line still fails the pull', async () => {
      mode = 'blob-missing';
      const runtime = new DockerRuntime({ node, docker });
      const progress: string[] = [];
      const err = await runtime
        .ensureImage({ name: 'c', image: `${registry}/capstan-test/broken:1`, imagePullPolicy: 'Always' }, (p) => progress.push(p.status ?? ''))
        .catch((e: unknown) => e);
      // The daemon had answered 200 and streamed progress before the error line.
      expect(progress).toContain('Pulling fs layer');
      expect(err).toMatchObject({ code: 'CAPSTAN_ERR_AGENT_IMAGE_PULL', context: { reason: 'ErrImagePull' } });
      expect((err as Error).message).toMatch(/unknown blob|blob unknown/);
    });

    it('a registry that never answers fails after the pull timeout', async () => {
      mode = 'hang';
      const runtime = new DockerRuntime({ node, docker, pullTimeoutMs: 1000 });
      const err = await runtime.ensureImage({ name: 'c', image: `${registry}/capstan-test/slow:1`, imagePullPolicy: 'IfNotPresent' }).catch((e: unknown) => e);
      expect((err as Error).message).toBe(`Failed to pull image "${registry}/capstan-test/slow:1": no answer within 1s`);
    });
  });

  it('reports a container the kernel killed for memory as OOMKilled', async () => {
    const manager = newManager();
    const hog = makePod(
      'hog',
      [
        {
          name: 'c',
          image: TEST_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', 'a=0123456789abcdef; while true; do a=$a$a; done'],
          resources: { limits: { memory: '16Mi' } },
        },
      ],
      { restartPolicy: 'Never' },
    );
    await manager.sync([hog]);
    await until(manager, clock, 1000, () => expect(log.last('hog')?.phase).toBe('Failed'), 20_000);
    expect(log.last('hog')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 137, reason: 'OOMKilled' } });
  });

  it('adopts its running containers after a restart', async () => {
    const first = newManager();
    const { pod } = await httpdPod('adopt');
    await first.sync([pod]);
    await until(first, clock, 1000, () => expect(log.last('adopt')?.ready).toBe(true), 20_000);
    const id = log.last('adopt')!.containerStatuses![0].id;
    await first.close();
    managers.splice(managers.indexOf(first), 1);

    const second = newManager();
    await second.sync([pod]);
    await until(second, clock, 1000, () => expect(log.last('adopt')?.containerStatuses?.[0]).toMatchObject({ id, ready: true, restartCount: 0 }), 20_000);
    const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_NODE}=${node}`] } });
    expect(list.map((c) => c.Id)).toEqual([id]);
  });

  it('stops with the grace period: SIGTERM for a shell that traps it, SIGKILL for one that ignores it', async () => {
    const manager = newManager();
    const graceful = makePod(
      'graceful',
      [{ name: 'c', image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'] }],
      { terminationGracePeriodSeconds: 10 },
    );
    // PID 1 without a handler ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    const stubborn = makePod('stubborn', [{ name: 'c', image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['/bin/sleep', '600'] }], {
      terminationGracePeriodSeconds: 1,
    });
    await manager.sync([graceful, stubborn]);
    await until(manager, clock, 0, () => {
      expect(log.last('graceful')?.containerStatuses?.[0].state).toHaveProperty('running');
      expect(log.last('stubborn')?.containerStatuses?.[0].state).toHaveProperty('running');
    }, 20_000);
    await manager.sync([]);
    await until(manager, undefined, 0, () => expect(log.removed.sort()).toEqual(['default/graceful', 'default/stubborn']), 30_000);
    expect(log.last('graceful')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 0, reason: 'Completed' } });
    expect(log.last('stubborn')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 137, reason: 'Error' } });
  });
});
