// One process per data folder: two writers appending to the same WAL would corrupt it.
//
// The lock is held by the kernel, not by a file: on Linux, a Unix socket bound in the
// abstract namespace under a name derived from the folder's real path. A second bind fails
// with EADDRINUSE while the holder lives, and the kernel frees the name when the holder's
// last descriptor closes — on exit, crash or SIGKILL alike, before its parent has even
// reaped it — so there is never a stale lock to take over. The socket is close-on-exec, so
// processes Capstan starts (pods outlive it) do not inherit it.
// The LOCK file in the folder only records the holder's pid for the error message.
// Elsewhere (no abstract namespace) the pid file is the lock, taken over when its pid is gone.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { open, readFile, realpath, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CapstanError, logModeChanges, tightenModes } from '../../common/index.js';

const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(dir: string, by: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', `the store in ${dir} is already open ${by}`, { context: { dir } });
}

/** The abstract socket name for a folder: one per real path, so two spellings of a folder share it. */
export function lockSocketName(realDir: string): string {
  return `\0capstan-store-${createHash('sha256').update(realDir).digest('hex').slice(0, 32)}`;
}

/** Binds the abstract socket; resolves with the server, or undefined when another process holds it. */
function bindAbstract(name: string): Promise<Server | undefined> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? done(undefined) : fail(err)));
    server.listen({ path: name, exclusive: true }, () => {
      // Nobody connects; the server must not keep the process alive either.
      server.unref();
      done(server);
    });
  });
}

async function ownerOf(path: string): Promise<number | undefined> {
  const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isInteger(owner) && owner > 0 ? owner : undefined;
}

/**
 * Locks `dir` (which must exist); resolves with the function that releases it. Once held,
 * the folder (WAL segments, snapshots, LOCK) is made private to Capstan's user: 0700 for
 * folders, 0600 for files, with an info line when anything was looser.
 */
export async function lockDataDir(dir: string, logger?: Logger): Promise<() => Promise<void>> {
  const abs = resolve(dir);
  const real = await realpath(abs);
  if (heldHere.has(real)) throw inUse(dir, 'in this process');
  const path = join(abs, 'LOCK');
  let release: () => Promise<void>;
  if (process.platform === 'linux') {
    const server = await bindAbstract(lockSocketName(real));
    if (server === undefined) {
      const owner = await ownerOf(path);
      throw inUse(dir, owner !== undefined ? `by process ${owner}` : 'by another process');
    }
    // Only information now: whatever a dead holder left there is simply overwritten.
    await writeFile(path, `${process.pid}\n`, { mode: 0o600 });
    release = async () => {
      await unlink(path).catch(() => undefined);
      await new Promise<void>((done) => server.close(() => done()));
    };
  } else {
    await pidFileLock(dir, path, logger);
    release = () => unlink(path).catch(() => undefined);
  }
  heldHere.add(real);
  try {
    const changes = await tightenModes(abs, Infinity);
    if (logger !== undefined) logModeChanges(logger, changes, abs);
  } catch (err) {
    heldHere.delete(real);
    await release();
    throw err;
  }
  return async () => {
    heldHere.delete(real);
    await release();
  };
}

async function pidFileLock(dir: string, path: string, logger?: Logger): Promise<void> {
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(String(process.pid));
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = await ownerOf(path);
    if (owner !== undefined && owner !== process.pid && alive(owner)) throw inUse(dir, `by process ${owner}`);
    logger?.warn({ dir, owner }, 'taking over a stale store lock');
    await writeFile(path, String(process.pid), { mode: 0o600 });
  }
}
