// Pushes to the served repository. --max-push-size: a push whose receive-pack body is over the
// limit is refused while it streams (chunked, no Content-Length), git prints why, and the
// served repository keeps its ref and stores nothing of it. A force push is accepted, and
// reported: which ref, the old and new tips, and how many commits left its history.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGitHttpHandler, ensureServedRepo, runGit, type GitHttpHandler, type HistoryRewrite } from '../../src/gitserve/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, gitAsync, tempDir, writeFiles } from '../helpers/git.js';

const MANIFEST = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  A: "1"\n';

describe('pushes to the served repository', () => {
  let dataDir: string;
  let seed: string;
  let work: string;
  let api: TestApi;
  let repo: string;
  let handler: GitHttpHandler | undefined;
  const pushes: string[] = [];
  const rewrites: HistoryRewrite[] = [];

  beforeAll(async () => {
    dataDir = tempDir('capstan-pushsize-data-');
    seed = tempDir('capstan-pushsize-seed-');
    work = tempDir('capstan-pushsize-work-');
    writeFiles(seed, { 'config/app.yaml': MANIFEST });
    const served = await ensureServedRepo({ dataDir, seedFolder: seed });
    repo = served.path;
    api = await startApi({ gitHttp: (req, res) => handler!(req, res) });
    handler = createGitHttpHandler({
      repoPath: repo,
      kv: api.kv,
      maxPushBytes: 1024 * 1024,
      onPush: async (user) => void pushes.push(user),
      onHistoryRewritten: async (r) => void rewrites.push(r),
    });
  });
  afterAll(async () => {
    await api.close();
    for (const d of [dataDir, seed, work]) rmSync(d, { recursive: true, force: true });
  });

  const remote = (): string => `http://x:${api.tokens.deployer}@${new URL(api.url).host}/git/repo.git`;

  it('refuses a push over the limit with a reason git prints, and keeps the ref', async () => {
    await gitAsync(work, 'clone', '--quiet', remote(), 'clone');
    const clone = join(work, 'clone');
    const before = await runGit(['--git-dir', repo, 'rev-parse', 'main']);
    const objectsBefore = readdirSync(join(repo, 'objects')).sort();
    commitFiles(clone, { 'blob.bin': randomBytes(4 * 1024 * 1024) }, 'a big incompressible file');
    const err = await gitAsync(clone, 'push', remote(), 'HEAD:main').then(() => undefined, (e: { stderr?: string }) => e);
    expect(err, 'the push should have failed').toBeDefined();
    const stderr = String(err!.stderr);
    expect(stderr).toMatch(/\[remote rejected\] HEAD -> main \(push refused: the request is over 1 MiB \(--max-push-size\)/);
    expect(stderr).toContain('CAPSTAN_ERR_SOURCE_PUSH_TOO_LARGE');
    expect(await runGit(['--git-dir', repo, 'rev-parse', 'main'])).toBe(before);
    // Nothing of the refused push is kept (no quarantine folder, no new pack).
    await new Promise((r) => setTimeout(r, 200));
    expect(readdirSync(join(repo, 'objects')).sort()).toEqual(objectsBefore);
    expect(pushes).toEqual([]);
  });

  it('accepts a push under the limit', async () => {
    const clone = join(work, 'clone');
    await gitAsync(clone, 'reset', '--quiet', '--hard', 'HEAD~1');
    const commit = commitFiles(clone, { 'blob.bin': randomBytes(200 * 1024) }, 'a small file');
    await gitAsync(clone, 'push', '--quiet', remote(), 'HEAD:main');
    expect(await runGit(['--git-dir', repo, 'rev-parse', 'main'])).toBe(commit);
    // The push is reported once git's answer has gone out; a fast-forward is no rewrite.
    await vi.waitFor(() => expect(pushes).toHaveLength(1));
    expect(rewrites).toEqual([]);
  });

  it('accepts a force push and reports the commits it dropped', async () => {
    const clone = join(work, 'clone');
    const base = await runGit(['--git-dir', repo, 'rev-parse', 'main~1']);
    const second = commitFiles(clone, { 'config/c.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n' }, 'c');
    await gitAsync(clone, 'push', '--quiet', remote(), 'HEAD:main');
    await vi.waitFor(() => expect(pushes).toHaveLength(2));

    await gitAsync(clone, 'reset', '--quiet', '--hard', base);
    const replaced = commitFiles(clone, { 'config/d.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n' }, 'd');
    await gitAsync(clone, 'push', '--quiet', '--force', remote(), 'HEAD:main');
    expect(await runGit(['--git-dir', repo, 'rev-parse', 'main'])).toBe(replaced);
    await vi.waitFor(() => expect(pushes).toHaveLength(3));
    expect(rewrites).toEqual([{ ref: 'refs/heads/main', old: second, new: replaced, dropped: 2, pusher: 'deployer' }]);
  });
});
