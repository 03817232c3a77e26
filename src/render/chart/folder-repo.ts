import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { CapstanError } from '../../common/index.js';
import { normalizeRepoPath } from './paths.js';
import type { ChartRepo } from './types.js';

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * A ChartRepo over a directory on disk, for the CLI and tests. Paths that leave the root are
 * refused, and so are symlinks whose target is outside it (checked on the resolved real path).
 */
export function folderRepo(rootDir: string): ChartRepo {
  const root = resolve(rootDir);
  let realRoot: Promise<string> | undefined;
  const getRealRoot = (): Promise<string> => (realRoot ??= realpath(root));

  async function inside(repoPath: string): Promise<string | undefined> {
    const abs = join(root, repoPath);
    let real: string;
    try {
      real = await realpath(abs);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    const rr = await getRealRoot();
    if (real !== rr && !real.startsWith(rr + sep)) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${repoPath} is a symlink that leads outside the repository`, {
        location: { file: repoPath },
      });
    }
    return real;
  }

  return {
    async readFile(path) {
      const p = normalizeRepoPath(path);
      const real = await inside(p);
      if (real === undefined) return undefined;
      try {
        if (!(await lstat(real)).isFile()) return undefined;
        return new Uint8Array(await readFile(real));
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async listFiles(dir) {
      const start = normalizeRepoPath(dir);
      const realStart = await inside(start);
      if (realStart === undefined) return [];
      const out: string[] = [];
      const rr = await getRealRoot();
      const walk = async (repoDir: string): Promise<void> => {
        let entries;
        try {
          entries = await readdir(join(root, repoDir), { withFileTypes: true });
        } catch (err) {
          if (isMissing(err)) return;
          throw err;
        }
        for (const e of entries) {
          const child = repoDir === '' ? e.name : `${repoDir}/${e.name}`;
          if (e.isSymbolicLink()) {
            const real = await inside(child);
            if (real === undefined) continue;
            const st = await lstat(real);
            if (st.isFile()) out.push(child);
            // A symlinked directory is not followed: it could loop, and Git stores it as a link.
            continue;
          }
          if (e.isDirectory()) await walk(child);
          else if (e.isFile()) out.push(child);
        }
      };
      if (realStart !== rr && relative(rr, realStart).startsWith('..')) return [];
      await walk(start);
      return out.sort();
    },
  };
}
