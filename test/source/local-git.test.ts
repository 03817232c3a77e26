import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { gitBlobId, openSource } from '../../src/source/index.js';
import { commitFiles, git, initWorkTree, tempDir, writeFiles } from '../helpers/git.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCapstanError(err) ? err.code : `not a CapstanError: ${String(err)}`;
  }
}
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

describe('local Git repository', () => {
  let work: string;
  let bareParent: string;
  let first: string;
  let second: string;

  beforeAll(() => {
    work = initWorkTree({
      'apps/a.yaml': 'a: 1\n',
      'apps/b.yaml': 'b: 1\n',
      'deep/x/y/z.yaml': 'z: 1\n',
      'charts/web/values.yaml': 'v: 1\n',
      'charts/web/templates/t.tpl': 't',
    });
    first = commitFiles(work, {}, 'first');
    git(work, 'tag', 'v1');
    git(work, 'tag', '-a', 'v1-annotated', '-m', 'annotated');
    symlinkSync('apps/a.yaml', join(work, 'link.yaml'));
    second = commitFiles(work, { 'apps/a.yaml': 'a: 2\n', 'apps/b.yaml': null, 'apps/c.json': '{"c":1}' }, 'second');
    git(work, 'branch', 'old', first);
    // Uncommitted edit: visible only when the work tree is read without a ref.
    writeFiles(work, { 'apps/dirty.yaml': 'd: 1\n' });
    bareParent = tempDir();
    git(bareParent, 'clone', '-q', '--bare', work, 'repo.git');
  });
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(bareParent, { recursive: true, force: true });
  });

  it('reads a branch, tags, full and short commit ids without checkout', async () => {
    const source = await openSource(work);
    expect(source.kind).toBe('local-git');
    const head = await source.snapshot('main');
    expect(head).toMatchObject({ kind: 'local-git', ref: 'main', commit: second });
    expect(head.files.map((f) => f.path)).toEqual(['apps/a.yaml', 'apps/c.json', 'charts/web/values.yaml', 'deep/x/y/z.yaml']);
    expect(text(head.files[0].content)).toBe('a: 2\n');
    expect(head.files[0].blobId).toBe(git(work, 'rev-parse', 'main:apps/a.yaml'));
    // The committed symlink is refused, with the reason.
    expect(head.diagnostics).toMatchObject([{ file: 'link.yaml', code: 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE' }]);
    expect(head.diagnostics[0].message).toMatch(/symlink/);

    for (const ref of ['old', 'v1', 'v1-annotated', first, first.slice(0, 8), 'refs/heads/old']) {
      const snap = await source.snapshot(ref);
      expect(snap.commit, ref).toBe(first);
      expect(snap.files.map((f) => f.path)).toContain('apps/b.yaml');
    }
    expect(await source.resolve('v1-annotated')).toBe(first);
  });

  it('reads the work tree as it is on disk when no ref is given', async () => {
    const source = await openSource(work);
    const disk = await source.snapshot();
    expect(disk.kind).toBe('folder');
    expect(disk.commit).toBeUndefined();
    expect(disk.files.map((f) => f.path)).toContain('apps/dirty.yaml');
    expect(await source.resolve()).toBeUndefined();
    const asFolder = await openSource(work, { folder: true });
    expect(asFolder.kind).toBe('folder');
  });

  it('reads a bare repository at HEAD by default', async () => {
    const source = await openSource(join(bareParent, 'repo.git'));
    expect(source.kind).toBe('local-git');
    const snap = await source.snapshot();
    expect(snap.commit).toBe(second);
    expect(snap.ref).toBe('HEAD');
    expect(snap.files.map((f) => f.path)).not.toContain('apps/dirty.yaml');
    expect(text(await source.readFile('charts/web/values.yaml'))).toBe('v: 1\n');
    expect(await source.readFile('nope.yaml')).toBeUndefined();
    expect(await source.listFiles('charts/web')).toEqual(['charts/web/templates/t.tpl', 'charts/web/values.yaml']);
    expect(await codeOf(source.readFile('../x'))).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
  });

  it('names the ref and the source when a ref does not exist', async () => {
    const source = await openSource(work);
    const err = await source.snapshot('no-such-branch').catch((e: unknown) => e);
    expect(isCapstanError(err, 'CAPSTAN_ERR_SOURCE_REF_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('no-such-branch');
    expect((err as Error).message).toContain(work);
    expect(await codeOf(source.snapshot('0123456789012345678901234567890123456789'))).toBe('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND');
    expect(await codeOf(source.snapshot('deadbeef'))).toBe('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND');
    expect(await codeOf((await openSource(work, { paths: ['nope'] })).snapshot('main'))).toBe('CAPSTAN_ERR_SOURCE_NOT_FOUND');
  });

  it('lists changed paths between two commits', async () => {
    const source = await openSource(work);
    expect(await source.changedPaths(first, second)).toEqual(['apps/a.yaml', 'apps/b.yaml', 'apps/c.json', 'link.yaml']);
    expect(await source.changedPaths(second, second)).toEqual([]);
    const read = await source.readFiles(['apps/a.yaml', 'apps/b.yaml', 'link.yaml'], second);
    expect(read.commit).toBe(second);
    expect(read.files.map((f) => f.path)).toEqual(['apps/a.yaml']);
    expect(read.diagnostics.map((d) => d.file)).toEqual(['link.yaml']);
  });

  it('skips hidden folders and package files in Git trees by default', async () => {
    const dir = initWorkTree({ '.github/workflows/ci.yml': 'on: push\n', 'package-lock.json': '{}', 'k8s/app.yaml': 'a: 1\n' });
    const c = commitFiles(dir, {}, 'c');
    try {
      expect((await (await openSource(dir)).snapshot(c)).files.map((f) => f.path)).toEqual(['k8s/app.yaml']);
      const again = commitFiles(dir, { '.capstanignore': '!.github/\n' }, 're-include');
      expect((await (await openSource(dir)).snapshot(again)).files.map((f) => f.path)).toEqual(['.github/workflows/ci.yml', 'k8s/app.yaml']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies limits and the ignore file to Git trees', async () => {
    const dir = initWorkTree({ '.capstanignore': 'skip/\n', 'skip/s.yaml': 's: 1\n', 'big.yaml': 'x'.repeat(300), 'bin.json': '\0' });
    const c = commitFiles(dir, {}, 'c');
    try {
      const snap = await (await openSource(dir, { limits: { maxFileBytes: 100 } })).snapshot(c);
      expect(snap.files).toEqual([]);
      expect(snap.diagnostics.map((d) => [d.file, d.code])).toEqual([
        ['big.yaml', 'CAPSTAN_ERR_SOURCE_TOO_LARGE'],
        ['bin.json', 'CAPSTAN_ERR_SOURCE_BINARY'],
      ]);
      expect(await codeOf((await openSource(dir, { limits: { maxFiles: 1 } })).snapshot('main'))).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('packed repositories', () => {
  it('reads objects stored as deltas in a pack exactly as git does', async () => {
    const dir = initWorkTree();
    const commits: string[] = [];
    const lines = Array.from({ length: 400 }, (_, i) => `key${i}: value ${i}`);
    try {
      for (let round = 0; round < 6; round++) {
        lines[round * 50] = `key${round * 50}: changed in round ${round}`;
        commits.push(commitFiles(dir, { 'big.yaml': `${lines.join('\n')}\n`, [`r${round}.yaml`]: `r: ${round}\n` }, `round ${round}`));
      }
      git(dir, 'gc', '-q', '--aggressive');
      const source = await openSource(dir);
      for (const c of commits) {
        const snap = await source.snapshot(c);
        const big = snap.files.find((f) => f.path === 'big.yaml')!;
        expect(Buffer.from(big.content).toString('utf8')).toBe(git(dir, 'show', `${c}:big.yaml`) + '\n');
        expect(gitBlobId(big.content)).toBe(big.blobId);
      }
      expect(await source.changedPaths(commits[0], commits[2])).toEqual(['big.yaml', 'r1.yaml', 'r2.yaml']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
