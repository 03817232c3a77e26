// One process per data folder: two writers appending to the same WAL would corrupt it.
// The lock file holds the owner's pid; a lock left by a process that no longer runs (a
// crash, SIGKILL) is taken over.
import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CapstanError } from '../../common/index.js';

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

/** Locks `dir` (which must exist); resolves with the function that releases it. */
export async function lockDataDir(dir: string, logger?: Logger): Promise<() => Promise<void>> {
  const abs = resolve(dir);
  if (heldHere.has(abs)) throw inUse(dir, 'in this process');
  const path = join(dir, 'LOCK');
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(String(process.pid));
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (owner && owner !== process.pid && alive(owner)) throw inUse(dir, `by process ${owner}`);
    logger?.warn({ dir, owner }, 'taking over a stale store lock');
    await writeFile(path, String(process.pid), { mode: 0o600 });
  }
  heldHere.add(abs);
  return async () => {
    heldHere.delete(abs);
    await unlink(path).catch(() => undefined);
  };
}
