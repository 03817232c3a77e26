// The repository `capstan up` serves when it is given a plain folder: `<dataDir>/repo.git`,
// bare, created once with one commit of the folder's content. An existing one is kept,
// because the user's pushes live there.
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { CapstanError, silentLogger, type Logger } from '../common/index.js';
import { runGit } from './git-cli.js';

export const SERVED_REPO_NAME = 'repo.git';
export const SERVED_BRANCH = 'main';
const SEED_IDENTITY = { GIT_AUTHOR_NAME: 'Capstan', GIT_AUTHOR_EMAIL: 'capstan@localhost', GIT_COMMITTER_NAME: 'Capstan', GIT_COMMITTER_EMAIL: 'capstan@localhost' };

export interface ServedRepoOptions {
  dataDir: string;
  /** The plain folder whose content becomes the first commit. */
  seedFolder: string;
  logger?: Logger;
  gitBinary?: string;
}

export interface ServedRepo {
  /** Absolute path of the bare repository. */
  path: string;
  branch: string;
  /** True when this call created it (false: it existed and was kept). */
  created: boolean;
}

/** A bare repository has HEAD, objects/ and refs/ at its top. */
export async function isBareRepo(dir: string): Promise<boolean> {
  const [head, objects, refs] = await Promise.all(['HEAD', 'objects', 'refs'].map((n) => fsp.stat(join(dir, n)).catch(() => undefined)));
  return Boolean(head?.isFile() && objects?.isDirectory() && refs?.isDirectory());
}

/** A folder that is neither a work tree (no `.git`) nor a bare repository. */
export async function isPlainFolder(location: string): Promise<boolean> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return false;
  const dir = resolve(location);
  const st = await fsp.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return false;
  if (await fsp.stat(join(dir, '.git')).catch(() => undefined)) return false;
  return !(await isBareRepo(dir));
}

/** Creates `<dataDir>/repo.git` from the folder, or keeps the one that is there. */
export async function ensureServedRepo(options: ServedRepoOptions): Promise<ServedRepo> {
  const log = options.logger ?? silentLogger();
  const path = resolve(options.dataDir, SERVED_REPO_NAME);
  const git = (args: string[], env: Record<string, string> = {}): Promise<string> => runGit(args, { env, ...(options.gitBinary ? { gitBinary: options.gitBinary } : {}) });
  if (await isBareRepo(path)) {
    log.info({ repo: path }, 'serving the existing repository (earlier pushes are kept)');
    return { path, branch: SERVED_BRANCH, created: false };
  }
  if (await fsp.stat(path).catch(() => undefined)) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `${path} exists but is not a bare Git repository; move it away to let capstan create one`, { context: { path } });
  }
  const seed = resolve(options.seedFolder);
  // Build next to the final place and rename, so a crash never leaves a half-made repo.git.
  const building = `${path}.tmp-${process.pid}`;
  await fsp.rm(building, { recursive: true, force: true });
  try {
    await git(['init', '--quiet', '--bare', building]);
    await git(['--git-dir', building, 'symbolic-ref', 'HEAD', `refs/heads/${SERVED_BRANCH}`]);
    // The seed folder is the work tree for one commit; the index is a throwaway file.
    const index = join(building, 'capstan-seed.index');
    const env = { GIT_INDEX_FILE: index, ...SEED_IDENTITY };
    const base = ['--git-dir', building, '--work-tree', seed];
    await git([...base, 'add', '--all', '.'], env);
    await git([...base, '-c', 'commit.gpgsign=false', 'commit', '--quiet', '--allow-empty', '-m', `Initial content from ${seed}`], env);
    await fsp.rm(index, { force: true });
    await fsp.rename(building, path);
  } catch (err) {
    await fsp.rm(building, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  log.info({ repo: path, from: seed }, 'created the served repository from the folder');
  return { path, branch: SERVED_BRANCH, created: true };
}
