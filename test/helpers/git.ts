// Git fixtures for tests, driven by the real `git` CLI: work trees, commits with a fixed author
// and date (so commit ids are stable), bare repositories under a test server, push and force-push.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoFile, type GitServer } from './git-server.js';

/** File contents by repository-relative path; `null` deletes the file. */
export type FileTree = Record<string, string | Uint8Array | null>;

export const TEST_AUTHOR = { name: 'Capstan Test', email: 'test@capstan.invalid' };
export const TEST_DATE = '2024-01-01T00:00:00Z';

const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  // Never wait for a password on a terminal: a refused push or clone fails at once.
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  GIT_AUTHOR_NAME: TEST_AUTHOR.name,
  GIT_AUTHOR_EMAIL: TEST_AUTHOR.email,
  GIT_COMMITTER_NAME: TEST_AUTHOR.name,
  GIT_COMMITTER_EMAIL: TEST_AUTHOR.email,
  GIT_AUTHOR_DATE: TEST_DATE,
  GIT_COMMITTER_DATE: TEST_DATE,
};

const GIT_FLAGS = ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false'];

/**
 * Run `git` in `cwd` with the fixed identity and date; returns trimmed stdout.
 * Synchronous, so only for local work: a clone or push over HTTP to a server running in the
 * same process would block the event loop the server needs. Use `gitAsync` for those.
 */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...GIT_FLAGS, ...args], {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** `git` without blocking: for talking to a `startGitServer` in the same process. */
export function gitAsync(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', [...GIT_FLAGS, ...args], { cwd, env: GIT_ENV, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolve(stdout.trim());
    });
  });
}

/** A fresh temporary folder; remove it with `rmSync(dir, { recursive: true, force: true })`. */
export function tempDir(prefix = 'capstan-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write (or with `null`, delete) files under `dir`, creating folders as needed. */
export function writeFiles(dir: string, files: FileTree): void {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) {
      rmSync(full, { force: true });
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** `git init` a work tree on branch `main` (in a new temp folder unless `dir` is given). */
export function initWorkTree(files: FileTree = {}, dir = tempDir('capstan-work-')): string {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  writeFiles(dir, files);
  return dir;
}

/** Stage everything and commit; returns the new commit id. */
export function commitAll(dir: string, message = 'update'): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** Write files, then commit them; returns the commit id. */
export function commitFiles(dir: string, files: FileTree, message = 'update'): string {
  writeFiles(dir, files);
  return commitAll(dir, message);
}

/** Push `branch` of a work tree to a URL or path. */
export function push(dir: string, remote: string, branch = 'main', options: { force?: boolean } = {}): void {
  const args = ['push', '-q'];
  if (options.force) args.push('--force');
  git(dir, ...args, remote, `${branch}:refs/heads/${branch}`);
}

/** Push with `--force` (after rewriting history, e.g. with `git commit --amend`). */
export function forcePush(dir: string, remote: string, branch = 'main'): void {
  push(dir, remote, branch, { force: true });
}

/** Create an empty bare repository `<server.root>/<name>.git`; returns its path. */
export function initBareRepo(server: Pick<GitServer, 'root'>, name: string): string {
  const bare = join(server.root, repoFile(name));
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  return bare;
}

export interface TestRepo {
  /** Clone URL on the server, without credentials. */
  url: string;
  /** Path of the bare repository on disk (push here to skip HTTP and auth). */
  bare: string;
  /** A work tree whose pushes go to `bare`. */
  work: string;
  /** The first commit. */
  commit: string;
}

/** Create `<name>.git` on the server with one commit holding `files` on `main`. */
export function createRepo(server: GitServer, name: string, files: FileTree): TestRepo {
  const bare = initBareRepo(server, name);
  const work = initWorkTree(files);
  const commit = commitAll(work, 'initial');
  git(work, 'remote', 'add', 'origin', bare);
  push(work, 'origin');
  return { url: server.url(name), bare, work, commit };
}

/** Commit `files` in the repo's work tree and push; returns the new commit id. */
export function pushCommit(repo: TestRepo, files: FileTree, message = 'update'): string {
  const commit = commitFiles(repo.work, files, message);
  push(repo.work, 'origin');
  return commit;
}

/** Replace the last commit with one holding `files` and force-push it; returns the new id. */
export function amendAndForcePush(repo: TestRepo, files: FileTree, message = 'rewritten'): string {
  writeFiles(repo.work, files);
  git(repo.work, 'add', '-A');
  git(repo.work, 'commit', '-q', '--amend', '-m', message);
  forcePush(repo.work, 'origin');
  return git(repo.work, 'rev-parse', 'HEAD');
}
