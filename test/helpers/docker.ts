// Real Docker for tests: `dockerSkipReason` says why Docker tests cannot run here (no daemon,
// or no busybox to build the image from), for `describe.skipIf(dockerSkipReason !== undefined)`.
// `ensureTestImage()` builds `capstan-test/busybox:1` locally by importing a root filesystem
// made of Debian's static busybox and its applet links — nothing is ever pulled.

import Docker from 'dockerode';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, createReadStream, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DOCKER_API_VERSION, dockerUnavailableReason, followProgressStream } from '../../src/agent/index.js';

export const TEST_IMAGE = 'capstan-test/busybox:1';
export const BUSYBOX = process.env.CAPSTAN_BUSYBOX ?? '/bin/busybox';
const APPLETS = ['sh', 'httpd', 'sleep', 'nc', 'echo', 'cat', 'true', 'false', 'kill', 'ls', 'wget', 'env', 'touch', 'test', '['];

export function testDocker(): Docker {
  return new Docker({ version: DOCKER_API_VERSION });
}

async function skipReason(): Promise<string | undefined> {
  const daemon = await dockerUnavailableReason(testDocker());
  if (daemon !== undefined) return daemon;
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static) to build ${TEST_IMAGE}`;
  return undefined;
}

/** Why Docker tests are skipped here, or undefined when they run. */
export const dockerSkipReason: string | undefined = await skipReason();

if (dockerSkipReason !== undefined) {
  // Visible in the test output, so a skipped suite is never mistaken for a passing one.
  console.warn(`[docker tests skipped] ${dockerSkipReason}`);
}

/** Build and import the test image once per daemon; later calls find it and return. */
export async function ensureTestImage(docker: Docker = testDocker()): Promise<string> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return TEST_IMAGE;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  const dir = mkdtempSync(join(tmpdir(), 'capstan-busybox-'));
  try {
    const root = join(dir, 'root');
    for (const d of ['bin', 'tmp', 'www', 'etc']) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    writeFileSync(join(root, 'www', 'index.html'), 'hello from busybox\n');
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    const tar = join(dir, 'rootfs.tar');
    await promisify(execFile)('tar', ['-C', root, '-cf', tar, '.']);
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
      docker.importImage(createReadStream(tar), { repo: 'capstan-test/busybox', tag: '1', changes: ['ENV PATH=/bin'] }, (err, s) =>
        err || !s ? reject(err ?? new Error('no stream')) : resolve(s),
      );
    });
    const failure = await followProgressStream(stream);
    if (failure !== undefined) throw new Error(`docker import failed: ${failure}`);
    return TEST_IMAGE;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Remove every container a test left behind for `node`. */
export async function removeTestContainers(node: string, docker: Docker = testDocker()): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`capstan.dev/node=${node}`] } });
  for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** `dockerd` on PATH (or the usual Debian place), or undefined. */
export function findDockerd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin'];
  for (const d of dirs) if (d && existsSync(join(d, 'dockerd'))) return join(d, 'dockerd');
  return undefined;
}

/** Why a test cannot run a Docker daemon of its own here, or undefined when it can. */
export function privateDockerdSkipReason(): string | undefined {
  if (findDockerd() === undefined) return 'dockerd is not installed (apt-get install docker.io)';
  if (process.getuid?.() !== 0) return 'starting a Docker daemon needs root';
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static) to build ${TEST_IMAGE}`;
  return undefined;
}

/**
 * A Docker daemon of the test's own, as CI starts one (no bridge, no iptables) but with its
 * socket, data root, exec root and pid file under a temp dir, so stopping it never disturbs
 * the daemon other tests use. `stop(signal)` and `start()` restart it on the same paths.
 */
export interface PrivateDockerd {
  dir: string;
  socketPath: string;
  docker: Docker;
  /** Whether the daemon process is running. */
  readonly running: boolean;
  /** Starts the daemon and resolves once it answers. */
  start(): Promise<void>;
  /** Sends `signal` and resolves once the daemon process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Removes every container, stops the daemon and deletes the temp dir. */
  close(): Promise<void>;
}

export async function startPrivateDockerd(): Promise<PrivateDockerd> {
  const dockerd = findDockerd();
  if (dockerd === undefined) throw new Error('dockerd is not installed');
  // Short: containerd's socket lives under the exec root, and unix socket paths are limited.
  const dir = mkdtempSync(join(tmpdir(), 'cpd-'));
  const socketPath = join(dir, 'docker.sock');
  const docker = new Docker({ socketPath, version: DOCKER_API_VERSION });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const args = [
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'),
    '--host', `unix://${socketPath}`,
  ];
  const daemon: PrivateDockerd = {
    dir,
    socketPath,
    docker,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (daemon.running) return;
      const log = openSync(join(dir, 'dockerd.log'), 'a');
      const c = spawn(dockerd, args, { stdio: ['ignore', log, log] });
      closeSync(log);
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      const deadline = Date.now() + 90_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`dockerd exited at start; see ${join(dir, 'dockerd.log')}`);
        if ((await dockerUnavailableReason(docker, 2000)) === undefined) return;
        if (Date.now() > deadline) throw new Error(`dockerd did not answer within 90 s; see ${join(dir, 'dockerd.log')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (!daemon.running) return;
      const containerd = readPid(join(dir, 'exec', 'containerd', 'containerd.pid'));
      child!.kill(signal);
      await exited;
      // The daemon's containerd dies with it, a moment later: a daemon started before it has
      // gone finds its pid alive and waits for a socket nobody will open.
      if (containerd !== undefined) {
        const deadline = Date.now() + 30_000;
        while (existsSync(`/proc/${containerd}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      // A daemon that is down still has containers to reap: start it once more to remove them.
      if (!daemon.running) await daemon.start().catch(() => undefined);
      if (daemon.running) {
        const list = await docker.listContainers({ all: true }).catch(() => []);
        for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
        await daemon.stop('SIGTERM');
      }
      // dockerd leaves its data root bind-mounted on itself (and a netns file) after it exits.
      const mounts = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' ')[1] ?? '')
        .filter((m) => m === dir || m.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) await promisify(execFile)('umount', ['-l', m]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
  await daemon.start();
  return daemon;
}

/**
 * The `containers:` entry both Docker e2e manifests run: busybox httpd from the test image,
 * on a named port, ready once /index.html answers. `command` is the shell script it runs.
 */
export function httpdContainerLines(port: number, command: string): string[] {
  return [
    '        - name: httpd',
    `          image: ${TEST_IMAGE}`,
    `          command: ["sh", "-c", ${JSON.stringify(command)}]`,
    '          ports:',
    '            - name: http',
    `              containerPort: ${port}`,
    '          readinessProbe:',
    '            httpGet:',
    '              path: /index.html',
    '              port: http',
    '            periodSeconds: 1',
  ];
}
