import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkGit,
  cloneCommand,
  createGitHttpHandler,
  ensureServedRepo,
  isPlainFolder,
  runGit,
  splitCgiOutput,
  type GitHttpHandler,
  type GitHttpOptions,
} from '../../src/gitserve/index.js';
import { openSource } from '../../src/source/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, gitAsync, tempDir, writeFiles } from '../helpers/git.js';

const MANIFEST = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n';

/** A command line as a user pastes it, run by sh with no git config and no prompts. */
function sh(cwd: string, command: string): Promise<string> {
  const env = { PATH: process.env.PATH, HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' };
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { cwd, env, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve(stdout)));
  });
}

describe('served repository', () => {
  let dataDir: string;
  let seed: string;
  let work: string;
  let api: TestApi;
  let pushes: string[];
  let pushed: Promise<void>;
  let onPushed: () => void = () => undefined;
  let handler: GitHttpHandler | undefined;
  let makeHandler: (extra?: Partial<GitHttpOptions>) => GitHttpHandler;
  const failure = (p: Promise<unknown>): Promise<{ stderr?: string } | undefined> => p.then(() => undefined, (e: { stderr?: string }) => e);

  beforeAll(async () => {
    dataDir = tempDir('capstan-gitserve-data-');
    seed = tempDir('capstan-gitserve-seed-');
    work = tempDir('capstan-gitserve-work-');
    writeFiles(seed, { 'apps/web.yaml': MANIFEST, 'README.txt': 'hello\n' });
    pushes = [];
    pushed = new Promise((r) => (onPushed = r));
    const served = await ensureServedRepo({ dataDir, seedFolder: seed });
    // The API server is started first, then the Git handler, which needs its store.
    api = await startApi({ gitHttp: (req, res) => handler!(req, res) });
    makeHandler = (extra) =>
      createGitHttpHandler({
        repoPath: served.path,
        kv: api.kv,
        onPush: async (user) => {
          pushes.push(user);
          onPushed();
        },
        ...extra,
      });
    handler = makeHandler();
  });

  afterAll(async () => {
    await api.close();
    for (const d of [dataDir, seed, work]) rmSync(d, { recursive: true, force: true });
  });

  it('finds git and tells plain folders from repositories', async () => {
    expect(await checkGit()).toMatch(/^\d+\.\d+/);
    await expect(checkGit('/nonexistent/git')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_SOURCE_GIT_MISSING' });
    expect(await isPlainFolder(seed)).toBe(true);
    expect(await isPlainFolder(join(dataDir, 'repo.git'))).toBe(false);
    expect(await isPlainFolder('https://example.test/x.git')).toBe(false);
  });

  it('seeds the bare repository once and keeps it afterwards', async () => {
    const repo = join(dataDir, 'repo.git');
    const source = await openSource(repo);
    const snap = await source.snapshot('main');
    expect(snap.files.map((f) => f.path)).toEqual(['apps/web.yaml']);
    const again = await ensureServedRepo({ dataDir, seedFolder: tempDir('capstan-gitserve-other-') });
    expect(again.created).toBe(false);
    expect(await runGit(['--git-dir', repo, 'rev-list', '--count', 'main'])).toBe('1');
  });

  it('refuses a clone without a token, with an unknown one and with an agent token, even from loopback', async () => {
    const base = new URL(api.url);
    const anon = await failure(gitAsync(work, 'clone', '--quiet', `${api.url}/git/repo.git`, 'refused-anon'));
    expect(anon).toBeDefined();
    expect(String(anon!.stderr)).toMatch(/Authentication failed/);
    const wrong = await failure(gitAsync(work, 'clone', '--quiet', `http://x:capstan_wrong@${base.host}/git/repo.git`, 'refused-wrong'));
    expect(String(wrong?.stderr)).toMatch(/Authentication failed/);
    const agent = await failure(gitAsync(work, 'clone', '--quiet', `http://x:${api.tokens.agentA}@${base.host}/git/repo.git`, 'refused-agent'));
    expect(String(agent?.stderr)).toMatch(/403/);
    expect(existsSync(join(work, 'refused-anon', 'apps'))).toBe(false);
    // What git reads from the 401: a Basic challenge, so it asks its credential helper.
    const res = await fetch(`${api.url}/git/repo.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="capstan"');
  });

  it('clones with a viewer token as the password, and through the printed credential-helper command', async () => {
    const base = new URL(api.url);
    await gitAsync(work, 'clone', '--quiet', `http://anyone:${api.tokens.viewer}@${base.host}/git/repo.git`, 'viewer');
    expect(readFileSync(join(work, 'viewer', 'apps/web.yaml'), 'utf8')).toBe(MANIFEST);
    const tokenFile = join(work, 'token dir', "it's.token");
    mkdirSync(join(work, 'token dir'));
    writeFileSync(tokenFile, `${api.tokens.viewer}\n`);
    const command = cloneCommand(`${api.url}/git/repo.git`, tokenFile, 'helper');
    expect(command).not.toContain(api.tokens.viewer);
    await sh(work, command);
    expect(readFileSync(join(work, 'helper', 'apps/web.yaml'), 'utf8')).toBe(MANIFEST);
    // The helper stays in the clone's config: a later fetch authenticates the same way.
    await sh(join(work, 'helper'), 'git fetch --quiet origin');
    expect(readFileSync(join(work, 'helper', '.git', 'config'), 'utf8')).not.toContain(api.tokens.viewer);
  });

  it('clones without a token with anonymousRead, but still refuses an anonymous push', async () => {
    handler = makeHandler({ anonymousRead: true });
    try {
      await gitAsync(work, 'clone', '--quiet', `${api.url}/git/repo.git`, 'anonymous');
      const clone = join(work, 'anonymous');
      expect(readFileSync(join(clone, 'apps/web.yaml'), 'utf8')).toBe(MANIFEST);
      commitFiles(clone, { 'apps/anon.yaml': MANIFEST.replace('web', 'anon') }, 'anonymous push');
      const err = await failure(gitAsync(clone, 'push', '--quiet', 'origin', 'HEAD:main'));
      expect(String(err?.stderr)).toMatch(/Authentication failed/);
    } finally {
      handler = makeHandler();
    }
  });

  it('pushes with a deployer token and triggers the sync', async () => {
    const base = new URL(api.url);
    await gitAsync(work, 'clone', '--quiet', `http://x:${api.tokens.viewer}@${base.host}/git/repo.git`, 'clone');
    const clone = join(work, 'clone');
    expect(readFileSync(join(clone, 'apps/web.yaml'), 'utf8')).toBe(MANIFEST);
    const commit = commitFiles(clone, { 'apps/web.yaml': `${MANIFEST}# edited\n` }, 'edit web');
    const withToken = `http://alice:${api.tokens.deployer}@${base.host}/git/repo.git`;
    await gitAsync(clone, 'push', '--quiet', withToken, 'HEAD:main');
    await pushed;
    expect(pushes).toEqual(['deployer']);
    expect(await runGit(['--git-dir', join(dataDir, 'repo.git'), 'rev-parse', 'main'])).toBe(commit);
  });

  it('tells a pusher to the status branch, in git\'s own output, that status commits will follow', async () => {
    const base = new URL(api.url);
    const clone = join(work, 'clone');
    const remote = `http://alice:${api.tokens.deployer}@${base.host}/git/repo.git`;
    handler = makeHandler({ statusBranch: 'main' });
    const pushesBefore = pushes.length;
    try {
      commitFiles(clone, { 'apps/web.yaml': `${MANIFEST}# notice\n` }, 'notice');
      const out = await sh(clone, `git push ${remote} HEAD:main 2>&1`);
      expect(out).toMatch(/remote: capstan: syncing main now/);
      expect(out).toContain('remote: capstan: before your next push run: git pull --rebase');
      // Another branch gets no status commits, so no notice.
      const other = await sh(clone, `git push ${remote} HEAD:feature 2>&1`);
      expect(other).not.toContain('capstan:');
      // The hook lives beside the repository, not in it.
      expect(existsSync(join(dataDir, 'hooks', 'post-receive'))).toBe(true);
      expect(existsSync(join(dataDir, 'repo.git', 'hooks', 'post-receive'))).toBe(false);
    } finally {
      handler = makeHandler();
      pushes.splice(pushesBefore); // the other tests count their own pushes
    }
  });

  it('refuses a push with a wrong token (401), without one (401) and with a viewer token (403)', async () => {
    const base = new URL(api.url);
    const clone = join(work, 'clone');
    commitFiles(clone, { 'apps/other.yaml': MANIFEST.replace('web', 'other') }, 'another');
    const before = await runGit(['--git-dir', join(dataDir, 'repo.git'), 'rev-parse', 'main']);
    const attempts: [string, RegExp][] = [
      [`http://alice:capstan_wrong@${base.host}/git/repo.git`, /401|Authentication failed|could not read Username/i],
      [`${api.url}/git/repo.git`, /401|Authentication failed|could not read Username/i],
      [`http://bob:${api.tokens.viewer}@${base.host}/git/repo.git`, /403/],
    ];
    for (const [remote, message] of attempts) {
      const err = await gitAsync(clone, 'push', '--quiet', remote, 'HEAD:main').then(() => undefined, (e: { stderr?: string }) => e);
      expect(err, remote).toBeDefined();
      expect(String(err!.stderr)).toMatch(message);
    }
    expect(await runGit(['--git-dir', join(dataDir, 'repo.git'), 'rev-parse', 'main'])).toBe(before);
    expect(pushes).toEqual(['deployer']);
  });

  it('serves only smart HTTP paths of its one repository', async () => {
    expect((await fetch(`${api.url}/git/repo.git/HEAD`)).status).toBe(404);
    expect((await fetch(`${api.url}/git/other.git/info/refs?service=git-upload-pack`)).status).toBe(404);
    const basic = `Basic ${Buffer.from(`x:${api.tokens.viewer}`).toString('base64')}`;
    const refs = await fetch(`${api.url}/git/repo.git/info/refs?service=git-upload-pack`, { headers: { authorization: basic } });
    expect(refs.status).toBe(200);
    expect(refs.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
  });

  it('parses CGI output', () => {
    const out = splitCgiOutput(Buffer.from('Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno'));
    expect(out).toMatchObject({ status: 403, headers: { 'Content-Type': 'text/plain' } });
    expect(out!.body.toString()).toBe('no');
    expect(splitCgiOutput(Buffer.from('Content-Type: x'))).toBeUndefined();
  });
});

