import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, git, gitAsync, pushCommit, tempDir } from '../helpers/git.js';

describe('test git server', () => {
  let server: GitServer;
  let authServer: GitServer;
  const dirs: string[] = [];
  beforeAll(async () => {
    server = await startGitServer();
    authServer = await startGitServer({ auth: { username: 'alice', password: 's3cret' } });
  });
  afterAll(async () => {
    await server.stop();
    await authServer.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('serves clones and accepts pushes over HTTP', async () => {
    const repo = createRepo(server, 'app', { 'a.yaml': 'a: 1\n' });
    const clone = tempDir();
    dirs.push(clone);
    await gitAsync(clone, 'clone', '-q', repo.url, 'c');
    expect(git(`${clone}/c`, 'rev-parse', 'HEAD')).toBe(repo.commit);
    git(`${clone}/c`, 'commit', '-q', '--allow-empty', '-m', 'over http');
    await gitAsync(`${clone}/c`, 'push', '-q', 'origin', 'main');
    expect(git(repo.bare, 'log', '-1', '--format=%s', 'main')).toBe('over http');
    git(repo.work, 'pull', '-q', '--ff-only', 'origin', 'main');
    const next = pushCommit(repo, { 'b.yaml': 'b: 1\n' });
    expect(git(repo.bare, 'rev-parse', 'main')).toBe(next);
  });

  it('asks for Basic credentials when configured', async () => {
    const repo = createRepo(authServer, 'private', { 'a.yaml': 'a: 1\n' });
    const clone = tempDir();
    dirs.push(clone);
    await expect(gitAsync(clone, '-c', 'credential.helper=', 'clone', '-q', repo.url, 'x')).rejects.toThrow();
    await gitAsync(clone, 'clone', '-q', authServer.urlWithAuth('private', 'alice', 's3cret'), 'y');
    expect(git(`${clone}/y`, 'rev-parse', 'HEAD')).toBe(repo.commit);
    expect(authServer.requests.some((r) => r.endsWith(' 401'))).toBe(true);
  });
});
