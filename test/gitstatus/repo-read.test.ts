// Reading manifest files of a commit through the status repository: nested folders, the root,
// paths that are not files, and two commits whose trees share folders (listings are kept by
// tree id, so a newer commit never reads an older commit's file).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openStatusRepo, type StatusRepo } from '../../src/gitstatus/index.js';
import { commitFiles, git, initWorkTree, tempDir } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(files: Record<string, string>): Promise<{ repo: StatusRepo; work: string }> {
  const work = initWorkTree(files);
  commitFiles(work, {}, 'initial');
  const dataDir = tempDir('capstan-repo-read-');
  dirs.push(work, dataDir);
  const opened = await openStatusRepo({ repo: work, dataDir, logger: silentLogger() });
  if (opened.kind === 'folder') throw new Error(opened.reason);
  return { repo: opened.repo, work };
}

describe('StatusRepo.readFile', () => {
  it('reads files at any depth of a commit and nothing that is not a file', async () => {
    const { repo, work } = await open({ 'root.yaml': 'a: 1\n', 'apps/web/deploy.yaml': 'b: 2\n', 'apps/api.yaml': 'c: 3\n' });
    const first = git(work, 'rev-parse', 'HEAD');
    expect(await repo.readFile(first, 'root.yaml')).toBe('a: 1\n');
    expect(await repo.readFile(first, 'apps/web/deploy.yaml')).toBe('b: 2\n');
    expect(await repo.readFile(first, 'apps/api.yaml')).toBe('c: 3\n');
    for (const missing of ['apps', 'apps/web', 'apps/none.yaml', 'root.yaml/x', 'nope/deploy.yaml', '']) {
      expect(await repo.readFile(first, missing), missing).toBeUndefined();
    }

    // A second commit changes one nested file: each commit reads its own version.
    commitFiles(work, { 'apps/web/deploy.yaml': 'b: 20\n' }, 'second');
    const second = git(work, 'rev-parse', 'HEAD');
    expect(await repo.readFile(second, 'apps/web/deploy.yaml')).toBe('b: 20\n');
    expect(await repo.readFile(first, 'apps/web/deploy.yaml')).toBe('b: 2\n');
    expect(await repo.readFile(second, 'apps/api.yaml')).toBe('c: 3\n');

    // A commit the status writer made itself, read back.
    const third = await repo.commit(second, [second], new Map([['apps/api.yaml', 'c: 30\n']]), 'status', { name: 't', email: 't@example.invalid' }, new Date(0));
    expect(await repo.readFile(third, 'apps/api.yaml')).toBe('c: 30\n');
    expect(await repo.readFile(third, 'apps/web/deploy.yaml')).toBe('b: 20\n');
  });
});
