import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { gitBlobId, openSource } from '../../src/source/index.js';
import { git, tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
function folder(files: Record<string, string | Uint8Array>): string {
  const dir = tempDir('capstan-folder-');
  dirs.push(dir);
  writeFiles(dir, files);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCapstanError(err) ? err.code : `not a CapstanError: ${String(err)}`;
  }
}

describe('folder source', () => {
  it('lists yaml, yml and json files sorted, with git blob ids, skipping .git and node_modules', async () => {
    const dir = folder({
      'b/app.yml': 'b: 1\n',
      'a.yaml': 'a: 1\n',
      'c.json': '{}',
      'README.md': '# no',
      'node_modules/x/pkg.json': '{}',
      '.git/config.yaml': 'x: 1',
    });
    const source = await openSource(dir);
    expect(source.kind).toBe('folder');
    const snap = await source.snapshot();
    expect(snap.files.map((f) => f.path)).toEqual(['a.yaml', 'b/app.yml', 'c.json']);
    expect(snap.commit).toBeUndefined();
    expect(snap.diagnostics).toEqual([]);
    // Same id as `git hash-object` prints.
    const expected = git(dir, 'hash-object', 'a.yaml');
    expect(snap.files[0].blobId).toBe(expected);
    expect(gitBlobId(new TextEncoder().encode('a: 1\n'))).toBe(expected);
  });

  it('honours the ignore file and the paths option', async () => {
    const dir = folder({
      '.capstanignore': 'charts/\n*.tmp.yaml\n!keep.tmp.yaml\n',
      'apps/a.yaml': 'a: 1\n',
      'apps/x.tmp.yaml': 'x: 1\n',
      'apps/keep.tmp.yaml': 'k: 1\n',
      'charts/web/templates/d.yaml': '{{ nope }}',
      'other/o.yaml': 'o: 1\n',
    });
    const all = await (await openSource(dir)).snapshot();
    expect(all.files.map((f) => f.path)).toEqual(['apps/a.yaml', 'apps/keep.tmp.yaml', 'other/o.yaml']);
    const some = await (await openSource(dir, { paths: ['./apps/'] })).snapshot();
    expect(some.files.map((f) => f.path)).toEqual(['apps/a.yaml', 'apps/keep.tmp.yaml']);
    // listFiles is for chart folders: every file, ignore file or not.
    expect(await (await openSource(dir)).listFiles('charts/web')).toEqual(['charts/web/templates/d.yaml']);
    expect(await (await openSource(dir)).listFiles('missing')).toEqual([]);
  });

  it('skips hidden folders and other tools\' files by default, unless the ignore file re-includes them', async () => {
    const files = {
      '.github/workflows/ci.yml': 'on: push\n',
      '.gitlab-ci.yml': 'stages: []\n',
      'package.json': '{}',
      'tsconfig.json': '{}',
      'tsconfig.build.json': '{}',
      'docker-compose.prod.yml': 'services: {}\n',
      'apps/web.yaml': 'a: 1\n',
      'apps/.hidden/x.yaml': 'x: 1\n',
      'apps/package.json': '{}',
      '.deploy/d.yaml': 'd: 1\n',
    };
    const plain = folder(files);
    expect((await (await openSource(plain)).snapshot()).files.map((f) => f.path)).toEqual(['apps/web.yaml']);
    // A source path given on purpose is read even when it is hidden.
    expect((await (await openSource(plain, { paths: ['.deploy'] })).snapshot()).files.map((f) => f.path)).toEqual(['.deploy/d.yaml']);
    // readFiles (the changed paths of a commit) applies the same defaults.
    expect((await (await openSource(plain)).readFiles(['.github/workflows/ci.yml', 'package.json', 'apps/web.yaml'])).files.map((f) => f.path)).toEqual([
      'apps/web.yaml',
    ]);
    const reincluded = folder({ ...files, '.capstanignore': '!.github/\n!package.json\napps/web.yaml\n' });
    expect((await (await openSource(reincluded)).snapshot()).files.map((f) => f.path)).toEqual(['.github/workflows/ci.yml', 'apps/package.json', 'package.json']);
  });

  it('refuses paths that leave the folder and reports missing ones', async () => {
    const dir = folder({ 'a.yaml': 'a: 1\n' });
    expect(await codeOf(openSource(dir, { paths: ['../etc'] }))).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    expect(await codeOf(openSource(dir, { paths: ['/etc'] }))).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    const source = await openSource(dir, { paths: ['nope'] });
    expect(await codeOf(source.snapshot())).toBe('CAPSTAN_ERR_SOURCE_NOT_FOUND');
    expect(await codeOf(openSource(join(dir, 'absent')))).toBe('CAPSTAN_ERR_SOURCE_NOT_FOUND');
    const plain = await openSource(dir);
    expect(await codeOf(plain.readFile('../../etc/passwd'))).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
    expect(await plain.readFile('a.yaml')).toEqual(new TextEncoder().encode('a: 1\n'));
    expect(await plain.readFile('b.yaml')).toBeUndefined();
  });

  it('refuses a ref for a plain folder with a usage error', async () => {
    const source = await openSource(folder({ 'a.yaml': 'a: 1\n' }));
    const err = await source.snapshot('main').catch((e: unknown) => e);
    expect(isCapstanError(err, 'CAPSTAN_ERR_CLI_USAGE')).toBe(true);
    expect((err as Error).message).toMatch(/plain folder/);
  });

  it('follows symlinks inside the folder and refuses ones that lead out', async () => {
    const outside = folder({ 'secret.yaml': 'password: x\n', 'd/s.yaml': 's: 1\n' });
    const dir = folder({ 'real/a.yaml': 'a: 1\n' });
    symlinkSync(join(outside, 'secret.yaml'), join(dir, 'leak.yaml'));
    symlinkSync(join(outside, 'd'), join(dir, 'leakdir'));
    symlinkSync('real/a.yaml', join(dir, 'alias.yaml'));
    symlinkSync('real', join(dir, 'aliasdir'));
    symlinkSync('.', join(dir, 'real/loop'));
    const source = await openSource(dir);
    const snap = await source.snapshot();
    expect(snap.files.map((f) => f.path)).toEqual(['alias.yaml', 'aliasdir/a.yaml', 'real/a.yaml']);
    expect(snap.diagnostics.map((d) => [d.file, d.code])).toEqual([
      ['leak.yaml', 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE'],
      ['leakdir', 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE'],
    ]);
    expect(await codeOf(source.readFile('leak.yaml'))).toBe('CAPSTAN_ERR_SOURCE_PATH_ESCAPE');
  });

  it('reports binary, non-UTF-8 and oversized files as diagnostics and keeps the rest', async () => {
    const dir = folder({
      'ok.yaml': 'ok: 1\n',
      'nul.yaml': new Uint8Array([0x61, 0x3a, 0x0a, 0x62, 0x00]),
      'latin1.yaml': new Uint8Array([0x61, 0x3a, 0x20, 0x31, 0x0a, 0x6e, 0x3a, 0x20, 0xe9, 0x0a]),
      'big.yaml': `x: "${'y'.repeat(2000)}"\n`,
    });
    const snap = await (await openSource(dir, { limits: { maxFileBytes: 1000 } })).snapshot();
    expect(snap.files.map((f) => f.path)).toEqual(['ok.yaml']);
    const byFile = Object.fromEntries(snap.diagnostics.map((d) => [d.file, d]));
    expect(byFile['nul.yaml']).toMatchObject({ code: 'CAPSTAN_ERR_SOURCE_BINARY', line: 2, column: 2 });
    expect(byFile['latin1.yaml']).toMatchObject({ code: 'CAPSTAN_ERR_SOURCE_BINARY', line: 2, column: 4 });
    expect(byFile['big.yaml'].code).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
    expect(byFile['big.yaml'].message).toMatch(/2006 bytes.*1000/);
  });

  it('throws when there are more files or bytes than allowed', async () => {
    const dir = folder({ 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n', 'c.yaml': 'c: 1\n' });
    expect(await codeOf((await openSource(dir, { limits: { maxFiles: 2 } })).snapshot())).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
    expect(await codeOf((await openSource(dir, { limits: { maxTotalBytes: 10 } })).snapshot())).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
  });

  it('reads an empty folder as an empty snapshot', async () => {
    const dir = folder({});
    mkdirSync(join(dir, 'empty'));
    const snap = await (await openSource(dir)).snapshot();
    expect(snap).toMatchObject({ kind: 'folder', files: [], diagnostics: [], warnings: [] });
  });

  it('readFiles reads only the selected paths that exist', async () => {
    const dir = folder({ '.capstanignore': 'skip/\n', 'a.yaml': 'a: 1\n', 'skip/s.yaml': 's: 1\n', 'notes.txt': 'n' });
    writeFileSync(join(dir, 'bad.yaml'), new Uint8Array([0xff]));
    const source = await openSource(dir);
    const read = await source.readFiles(['a.yaml', 'skip/s.yaml', 'notes.txt', 'gone.yaml', 'bad.yaml']);
    expect(read.files.map((f) => f.path)).toEqual(['a.yaml']);
    expect(read.diagnostics.map((d) => d.file)).toEqual(['bad.yaml']);
  });
});
