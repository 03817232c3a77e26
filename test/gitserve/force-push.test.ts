// A force push to the served repository is accepted, and reported: which ref, the old and new
// tips, and how many commits left its history. A fast-forward push reports nothing.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGitHttpHandler, ensureServedRepo, runGit, type GitHttpHandler, type HistoryRewrite } from '../../src/gitserve/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, gitAsync, tempDir, writeFiles } from '../helpers/git.js';

describe('force push to the served repository', () => {
  let dataDir: string;
  let seed: string;
  let work: string;
  let api: TestApi;
  let repo: string;
  let handler: GitHttpHandler | undefined;
  const rewrites: HistoryRewrite[] = [];
  const pushes: string[] = [];

  beforeAll(async () => {
    dataDir = tempDir('capstan-forcepush-data-');
    seed = tempDir('capstan-forcepush-seed-');
    work = tempDir('capstan-forcepush-work-');
    writeFiles(seed, { 'config/app.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  A: "1"\n' });
    repo = (await ensureServedRepo({ dataDir, seedFolder: seed })).path;
    api = await startApi({ gitHttp: (req, res) => handler!(req, res) });
    handler = createGitHttpHandler({
      repoPath: repo,
      kv: api.kv,
      onPush: async (user) => void pushes.push(user),
      onHistoryRewritten: async (r) => void rewrites.push(r),
    });
  });
  afterAll(async () => {
    await api.close();
    for (const d of [dataDir, seed, work]) rmSync(d, { recursive: true, force: true });
  });

  const remote = (): string => `http://x:${api.tokens.deployer}@${new URL(api.url).host}/git/repo.git`;

  it('reports nothing for a fast-forward, and the dropped commits of a force push', async () => {
    await gitAsync(work, 'clone', '--quiet', remote(), 'clone');
    const clone = join(work, 'clone');
    const base = await runGit(['--git-dir', repo, 'rev-parse', 'main']);
    commitFiles(clone, { 'config/b.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n' }, 'b');
    const second = commitFiles(clone, { 'config/c.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n' }, 'c');
    await gitAsync(clone, 'push', '--quiet', remote(), 'HEAD:main');
    // The push is reported once git's answer has gone out.
    await vi.waitFor(() => expect(pushes).toHaveLength(1));
    expect(rewrites).toEqual([]);

    await gitAsync(clone, 'reset', '--quiet', '--hard', base);
    const replaced = commitFiles(clone, { 'config/d.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n' }, 'd');
    await gitAsync(clone, 'push', '--quiet', '--force', remote(), 'HEAD:main');
    expect(await runGit(['--git-dir', repo, 'rev-parse', 'main'])).toBe(replaced);
    await vi.waitFor(() => expect(pushes).toHaveLength(2));
    expect(rewrites).toEqual([{ ref: 'refs/heads/main', old: second, new: replaced, dropped: 2, pusher: 'deployer' }]);
  });
});
