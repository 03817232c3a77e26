// Real Docker for tests: `dockerSkipReason` says why Docker tests cannot run here (no daemon,
// or no busybox to build the image from), for `describe.skipIf(dockerSkipReason !== undefined)`.
// `ensureTestImage()` builds `capstan-test/busybox:1` locally by importing a root filesystem
// made of Debian's static busybox and its applet links — nothing is ever pulled.

import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, createReadStream, chmodSync } from 'node:fs';
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
