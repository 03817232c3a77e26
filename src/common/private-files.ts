// Capstan's own files are private to its user: the data dir 0700, tokens, logs, the WAL and
// snapshots 0600. Folders made by older versions (or by hand) with looser modes are
// tightened at start, with one info line naming what changed.

import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from './logger.js';

export interface ModeChange {
  path: string;
  from: number;
  to: number;
}

/**
 * Clears the group and other bits of `path` and of what lies below it, `depth` levels down
 * (0: the path alone; Infinity: the whole tree). Symbolic links are neither followed nor
 * changed; `skip` leaves a path (and what is below it) as it is. Missing paths are no error.
 */
export async function tightenModes(path: string, depth: number, skip: (path: string) => boolean = () => false): Promise<ModeChange[]> {
  const out: ModeChange[] = [];
  const visit = async (p: string, left: number): Promise<void> => {
    if (skip(p)) return;
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (st.isSymbolicLink() || (!st.isDirectory() && !st.isFile())) return;
    const mode = st.mode & 0o7777;
    if ((mode & 0o077) !== 0) {
      const to = mode & 0o700;
      await chmod(p, to);
      out.push({ path: p, from: mode, to });
    }
    if (st.isDirectory() && left > 0) {
      for (const name of (await readdir(p)).sort()) await visit(join(p, name), left - 1);
    }
  };
  await visit(path, depth);
  return out;
}

/** One info line for what `tightenModes` changed (nothing when nothing changed). */
export function logModeChanges(logger: Logger, changes: ModeChange[], what: string): void {
  if (changes.length === 0) return;
  const octal = (m: number): string => m.toString(8).padStart(4, '0');
  logger.info(
    { changed: changes.length, paths: changes.slice(0, 10).map((c) => `${c.path} ${octal(c.from)} -> ${octal(c.to)}`) },
    `tightened the modes of ${changes.length} path(s) in ${what}: group and others had access`,
  );
}

/**
 * The data dir at start: the dir itself 0700, the files and folders directly in it (tokens,
 * capstan.log, LOCK) without group or other access. What lies deeper is private through the
 * dir; the store and the agent tighten their own folders when they open them.
 */
export async function tightenDataDir(dataDir: string, logger: Logger): Promise<ModeChange[]> {
  // The agent's state dir sets its own modes (a pod user may need to pass through it).
  const changes = await tightenModes(dataDir, 1, (p) => p === join(dataDir, 'agent'));
  logModeChanges(logger, changes, dataDir);
  return changes;
}
