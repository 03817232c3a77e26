// openSource: decide from the location what kind of source it is.
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CapstanError, redactUrl } from '../common/index.js';
import { compileSourceOptions } from './collect.js';
import { FolderReader, FolderSource } from './folder.js';
import { gitRepo } from './git-tree.js';
import { LocalGitSource } from './local-git.js';
import { RemoteGitSource } from './remote-git.js';
import type { Source, SourceOptions } from './types.js';

/**
 * Open a source: an `http(s)://` URL is a remote repository (fetched into a cache under
 * `<dataDir>/sources/`), a folder with `.git` is a work tree, a folder laid out like a bare
 * repository is read as one, and any other folder is read as plain files.
 */
export async function openSource(location: string, options: SourceOptions = {}): Promise<Source> {
  const opts = compileSourceOptions(options);
  if (/^https?:\/\//i.test(location)) return RemoteGitSource.open(location, opts);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/\\]+@[^/\\]+:/.test(location)) {
    throw new CapstanError(
      'CAPSTAN_ERR_CLI_USAGE',
      `source ${redactUrl(location)} is not supported: give a folder, a local repository, or an http(s):// URL`,
    );
  }
  const dir = resolve(location);
  const st = await fsp.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `source ${location} does not exist or is not a folder`, {
      context: { location },
    });
  }
  if (opts.folder) return new FolderSource(await FolderReader.open(dir, opts), location);
  const dotGit = await gitdirOf(dir);
  if (dotGit) return new LocalGitSource(gitRepo(dotGit), location, opts, await FolderReader.open(dir, opts));
  if (await looksBare(dir)) return new LocalGitSource(gitRepo(dir), location, opts);
  return new FolderSource(await FolderReader.open(dir, opts), location);
}

/** `<dir>/.git` as a folder, or the folder a `.git` file (`gitdir: ...`) points at. */
async function gitdirOf(dir: string): Promise<string | undefined> {
  const dotGit = join(dir, '.git');
  const st = await fsp.stat(dotGit).catch(() => undefined);
  if (!st) return undefined;
  if (st.isDirectory()) return (await looksBare(dotGit)) ? dotGit : undefined;
  const text = await fsp.readFile(dotGit, 'utf8').catch(() => '');
  const m = /^gitdir:\s*(.+)$/m.exec(text);
  if (!m) return undefined;
  const target = m[1].trim();
  return isAbsolute(target) ? target : resolve(dir, target);
}

/** A bare repository has HEAD, objects/ and refs/ at its top. */
async function looksBare(dir: string): Promise<boolean> {
  const [head, objects, refs] = await Promise.all(
    ['HEAD', 'objects', 'refs'].map((n) => fsp.stat(join(dir, n)).catch(() => undefined)),
  );
  return Boolean(head?.isFile() && objects?.isDirectory() && refs?.isDirectory());
}
