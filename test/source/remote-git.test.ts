import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { CapstanError, createLogger, isCapstanError } from '../../src/common/index.js';
import { openSource, type SourceOptions } from '../../src/source/index.js';
import { freePort, startGitServer, startSilentServer, type GitServer } from '../helpers/git-server.js';
import { amendAndForcePush, createRepo, git, pushCommit, tempDir } from '../helpers/git.js';

const USER = 'deploy';
const PASS = 'hunter2-very-secret';
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

async function failure(p: Promise<unknown>): Promise<CapstanError> {
  try {
    await p;
  } catch (err) {
    if (isCapstanError(err)) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

/** Every string an error carries: message, context, and the causes' messages. */
function everything(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error) {
    parts.push(e.message, String(e.stack));
    if (isCapstanError(e)) parts.push(JSON.stringify(e.context));
    e = e.cause;
  }
  return parts.join('\n');
}

describe('remote Git repository over smart HTTP', () => {
  let server: GitServer;
  let dataDir: string;
  const noEnv: SourceOptions['env'] = {};

  beforeAll(async () => {
    server = await startGitServer({ auth: { username: USER, password: PASS } });
    dataDir = tempDir('capstan-data-');
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const open = (url: string, extra: SourceOptions = {}) =>
    openSource(url, { dataDir, env: noEnv, auth: { username: USER, password: PASS }, timeoutMs: 10_000, ...extra });

  it('fetches, re-fetches a new commit, and lists the changed paths', async () => {
    const repo = createRepo(server, 'app', { 'apps/a.yaml': 'a: 1\n', 'apps/b.yaml': 'b: 1\n', 'charts/c/values.yaml': 'v: 1\n' });
    const source = await open(repo.url);
    expect(source.kind).toBe('remote-git');
    const one = await source.snapshot();
    expect(one).toMatchObject({ kind: 'remote-git', ref: 'HEAD', commit: repo.commit, warnings: [], diagnostics: [] });
    expect(one.files.map((f) => f.path)).toEqual(['apps/a.yaml', 'apps/b.yaml', 'charts/c/values.yaml']);

    const next = pushCommit(repo, { 'apps/a.yaml': 'a: 2\n', 'apps/b.yaml': null });
    expect(await source.resolve()).toBe(next);
    const two = await source.snapshot('main');
    expect(two.commit).toBe(next);
    expect(two.warnings).toEqual([]);
    expect(text(two.files.find((f) => f.path === 'apps/a.yaml')?.content)).toBe('a: 2\n');
    expect(await source.changedPaths(repo.commit, next)).toEqual(['apps/a.yaml', 'apps/b.yaml']);
    expect(text(await source.readFile('charts/c/values.yaml', next))).toBe('v: 1\n');
    expect(await source.listFiles('charts', next)).toEqual(['charts/c/values.yaml']);

    // A second Source over the same cache directory starts from what is cached.
    const again = await open(repo.url);
    expect((await again.snapshot('main')).commit).toBe(next);
  });

  it('follows a force push, with a warning naming both commits', async () => {
    const repo = createRepo(server, 'rewritten', { 'a.yaml': 'a: 1\n' });
    const second = pushCommit(repo, { 'a.yaml': 'a: 2\n' });
    const source = await open(repo.url);
    expect((await source.snapshot('main')).commit).toBe(second);
    const third = pushCommit(repo, { 'a.yaml': 'a: 3\n' });
    // Fast-forward: no warning.
    expect((await source.snapshot('main')).warnings).toEqual([]);
    const rewritten = amendAndForcePush(repo, { 'a.yaml': 'a: rewritten\n' });
    const snap = await source.snapshot('main');
    expect(snap.commit).toBe(rewritten);
    expect(text(snap.files[0].content)).toBe('a: rewritten\n');
    expect(snap.warnings).toHaveLength(1);
    expect(snap.warnings[0].message).toContain(third.slice(0, 12));
    expect(snap.warnings[0].message).toContain(rewritten.slice(0, 12));
    expect(snap.warnings[0].severity).toBe('warning');
    // Both commits are in the cache, so the old and new trees can still be compared.
    expect(await source.changedPaths(third, rewritten)).toEqual(['a.yaml']);
  });

  it('reads tags and commit ids, and names a missing ref', async () => {
    const repo = createRepo(server, 'tagged', { 'a.yaml': 'a: 1\n' });
    git(repo.work, 'tag', '-a', 'v1', '-m', 'v1');
    git(repo.work, 'push', '-q', 'origin', 'v1');
    const later = pushCommit(repo, { 'a.yaml': 'a: 2\n' });
    const source = await open(repo.url);
    expect((await source.snapshot('v1')).commit).toBe(repo.commit);
    expect((await source.snapshot(later)).commit).toBe(later);
    // An older commit that the shallow cache does not hold yet.
    expect((await (await open(repo.url, { dataDir: tempDir() })).snapshot(repo.commit)).commit).toBe(repo.commit);
    const err = await failure(source.snapshot('no-such-branch'));
    expect(err.code).toBe('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND');
    expect(err.message).toContain('no-such-branch');
    expect(err.message).toContain(repo.url);
  });

  it('takes credentials from the environment or the credentials file', async () => {
    const repo = createRepo(server, 'creds', { 'a.yaml': 'a: 1\n' });
    const viaEnv = await openSource(repo.url, { dataDir, env: { CAPSTAN_GIT_USERNAME: USER, CAPSTAN_GIT_PASSWORD: PASS } });
    expect((await viaEnv.snapshot()).commit).toBe(repo.commit);
    const fileDir = tempDir();
    writeFileSync(join(fileDir, 'git-credentials'), JSON.stringify({ username: USER, password: PASS }));
    const viaFile = await openSource(repo.url, { dataDir: fileDir, env: {} });
    expect((await viaFile.snapshot()).commit).toBe(repo.commit);
    rmSync(fileDir, { recursive: true, force: true });
  });

  it('fails once with AUTH on wrong or missing credentials, never showing them', async () => {
    const repo = createRepo(server, 'locked', { 'a.yaml': 'a: 1\n' });
    const before = server.requests.length;
    const wrong = await open(repo.url, { auth: { username: USER, password: 'wrong-password-xyz' } });
    const err = await failure(wrong.snapshot());
    expect(err.code).toBe('CAPSTAN_ERR_SOURCE_AUTH');
    expect(everything(err)).not.toContain('wrong-password-xyz');
    // One unauthenticated try and one with the credentials: no retry loop.
    expect(server.requests.slice(before)).toEqual([
      'GET /locked.git/info/refs?service=git-upload-pack 401',
      'GET /locked.git/info/refs?service=git-upload-pack 401',
    ]);

    const none = await openSource(repo.url, { dataDir, env: {} });
    expect((await failure(none.snapshot())).code).toBe('CAPSTAN_ERR_SOURCE_AUTH');

    // Credentials in the URL are used, and kept out of location and messages.
    const inUrl = server.urlWithAuth('locked', USER, 'wrong-in-url-secret');
    const viaUrl = await openSource(inUrl, { dataDir, env: {} });
    expect(viaUrl.location).not.toContain('wrong-in-url-secret');
    const urlErr = await failure(viaUrl.snapshot());
    expect(urlErr.code).toBe('CAPSTAN_ERR_SOURCE_AUTH');
    expect(everything(urlErr)).not.toContain('wrong-in-url-secret');
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }),
    });
    const good = await openSource(server.urlWithAuth('locked', USER, PASS), { dataDir, env: {}, logger });
    const snap = await good.snapshot();
    expect(snap.commit).toBe(repo.commit);
    expect(snap.location).not.toContain(PASS);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain(PASS);
    const missing = await failure(good.snapshot('nope'));
    expect(everything(missing)).not.toContain(PASS);
  });

  it('reports UNREACHABLE when nothing listens and TIMEOUT when the server never answers', async () => {
    const port = await freePort();
    const closed = await open(`http://127.0.0.1:${port}/app.git`);
    expect((await failure(closed.snapshot())).code).toBe('CAPSTAN_ERR_SOURCE_UNREACHABLE');

    const silent = await startSilentServer();
    try {
      const slow = await open(silent.url('app'), { timeoutMs: 300 });
      const err = await failure(slow.snapshot());
      expect(err.code).toBe('CAPSTAN_ERR_SOURCE_TIMEOUT');
      expect(err.message).toContain('300 ms');
    } finally {
      await silent.stop();
    }
  });
});
