import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGit, createGitHttpHandler, ensureServedRepo, isPlainFolder, runGit, splitCgiOutput } from '../../src/gitserve/index.js';
import { openSource } from '../../src/source/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, gitAsync, tempDir, writeFiles } from '../helpers/git.js';

const MANIFEST = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n';

describe('served repository', () => {
  let dataDir: string;
  let seed: string;
  let work: string;
  let api: TestApi;
  let pushes: string[];
  let pushed: Promise<void>;
  let onPushed: () => void = () => undefined;

  beforeAll(async () => {
    dataDir = tempDir('capstan-gitserve-data-');
    seed = tempDir('capstan-gitserve-seed-');
    work = tempDir('capstan-gitserve-work-');
    writeFiles(seed, { 'apps/web.yaml': MANIFEST, 'README.txt': 'hello\n' });
    pushes = [];
    pushed = new Promise((r) => (onPushed = r));
    const served = await ensureServedRepo({ dataDir, seedFolder: seed });
    // The API server is started first, then the Git handler, which needs its store.
    let handler: ReturnType<typeof createGitHttpHandler> | undefined;
    api = await startApi({ gitHttp: (req, res) => handler!(req, res) });
    handler = createGitHttpHandler({
      repoPath: served.path,
      kv: api.kv,
      onPush: async (user) => {
        pushes.push(user);
        onPushed();
      },
    });
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

  it('clones over HTTP without a token from loopback, pushes with a deployer token and triggers the sync', async () => {
    const base = new URL(api.url);
    const anon = `${api.url}/git/repo.git`;
    await gitAsync(work, 'clone', '--quiet', anon, 'clone');
    const clone = join(work, 'clone');
    expect(readFileSync(join(clone, 'apps/web.yaml'), 'utf8')).toBe(MANIFEST);
    const commit = commitFiles(clone, { 'apps/web.yaml': `${MANIFEST}# edited\n` }, 'edit web');
    const withToken = `http://alice:${api.tokens.deployer}@${base.host}/git/repo.git`;
    await gitAsync(clone, 'push', '--quiet', withToken, 'HEAD:main');
    await pushed;
    expect(pushes).toEqual(['deployer']);
    expect(await runGit(['--git-dir', join(dataDir, 'repo.git'), 'rev-parse', 'main'])).toBe(commit);
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
    const refs = await fetch(`${api.url}/git/repo.git/info/refs?service=git-upload-pack`);
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

