// Git input is bounded before it is inflated: a blob's size comes from its object header, and
// a blob over the per-file limit is refused without being read, however well it compresses.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createDeflate, deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { ObjectReader } from '../../src/source/objects.js';
import { commitFiles, git, initWorkTree } from '../helpers/git.js';

const GIB = 1024 * 1024 * 1024;

/** Writes a loose blob of `size` bytes of YAML-looking text without holding it: returns its id. */
async function writeHugeLooseBlob(gitdir: string, size: number): Promise<string> {
  const line = Buffer.from('key: a value that repeats and compresses very well\n');
  const chunk = Buffer.alloc(16 * 1024 * 1024);
  for (let o = 0; o < chunk.length; o += line.length) line.copy(chunk, o);
  const header = Buffer.from(`blob ${size}\0`, 'latin1');
  const sha = createHash('sha1').update(header);
  const tmp = join(gitdir, 'objects', 'huge.tmp');
  const out = createWriteStream(tmp);
  const deflate = createDeflate({ level: 9 });
  deflate.pipe(out);
  const write = async (b: Buffer) => {
    sha.update(b);
    if (!deflate.write(b)) await once(deflate, 'drain');
  };
  await write(Buffer.from(header));
  for (let left = size; left > 0; left -= chunk.length) await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
  deflate.end();
  await once(out, 'close');
  const oid = sha.digest('hex');
  mkdirSync(join(gitdir, 'objects', oid.slice(0, 2)), { recursive: true });
  execFileSync('mv', [tmp, join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2))]);
  return oid;
}

/** A commit on main adding `path` → blob `oid` (which git need not have read) to the tree. */
function commitBlob(work: string, path: string, oid: string): string {
  const entries = git(work, 'ls-tree', 'HEAD');
  const tree = execFileSync('git', ['mktree', '--missing'], { cwd: work, input: `${entries}\n100644 blob ${oid}\t${path}\n`, encoding: 'utf8' }).trim();
  const commit = execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', 'commit-tree', tree, '-p', 'HEAD', '-m', `add ${path}`], {
    cwd: work,
    encoding: 'utf8',
  }).trim();
  git(work, 'update-ref', 'refs/heads/main', commit);
  return commit;
}

describe('Git input bounded before it is read', () => {
  let work: string;
  beforeAll(() => {
    work = initWorkTree({ 'apps/ok.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n' });
    commitFiles(work, {}, 'first');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('refuses a 1.5 GB blob that compresses to a few MB from its header: memory stays low and the event loop keeps turning', async () => {
    const gitdir = join(work, '.git');
    const oid = await writeHugeLooseBlob(gitdir, 1.5 * GIB);
    const compressed = Number(execFileSync('stat', ['-c', '%s', join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2))], { encoding: 'utf8' }));
    expect(compressed).toBeLessThan(10 * 1024 * 1024);
    commitBlob(work, 'huge.yaml', oid);

    let peakRss = process.memoryUsage.rss();
    let longestGap = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 5);
    try {
      const source = await openSource(work);
      const snap = await source.snapshot('main');
      expect(snap.files.map((f) => f.path)).toEqual(['apps/ok.yaml']);
      expect(snap.diagnostics).toMatchObject([{ file: 'huge.yaml', code: 'CAPSTAN_ERR_SOURCE_TOO_LARGE' }]);
      expect(snap.diagnostics[0]!.message).toContain(`${1.5 * GIB} bytes`);
      // Reading it by path (charts, values files) is refused the same way.
      const err = await source.readFile('huge.yaml', 'main').catch((e: unknown) => e);
      expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
    } finally {
      clearInterval(timer);
    }
    expect(peakRss).toBeLessThan(300 * 1024 * 1024);
    expect(longestGap).toBeLessThan(1000);
  }, 120_000);

  it('refuses a packed blob over the limit from its pack entry header, and reads packed deltas below it', async () => {
    const dir = initWorkTree({ 'a.yaml': 'a: 1\n' });
    try {
      commitFiles(dir, { 'big.yaml': Buffer.alloc(8 * 1024 * 1024, 'x') }, 'big');
      const base = Array.from({ length: 2000 }, (_, i) => `k${i}: ${i}\n`).join('');
      commitFiles(dir, { 'delta.yaml': base }, 'base');
      commitFiles(dir, { 'delta.yaml': `${base}extra: 1\n` }, 'changed');
      git(dir, 'gc', '-q', '--aggressive');
      const reader = new ObjectReader(join(dir, '.git'), {});
      const bigOid = git(dir, 'rev-parse', 'main:big.yaml');
      expect(await reader.header(bigOid)).toEqual({ type: 'blob', size: 8 * 1024 * 1024 });
      const err = await reader.readBlob(bigOid, 1024 * 1024).catch((e: unknown) => e);
      expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
      const deltaOid = git(dir, 'rev-parse', 'main:delta.yaml');
      expect(Buffer.from(await reader.readBlob(deltaOid)).toString()).toBe(`${base}extra: 1\n`);
      expect((await reader.header(deltaOid)).size).toBe(base.length + 'extra: 1\n'.length);
      const snap = await (await openSource(dir, { limits: { maxFileBytes: 1024 * 1024 } })).snapshot('main');
      expect(snap.diagnostics).toMatchObject([{ file: 'big.yaml', code: 'CAPSTAN_ERR_SOURCE_TOO_LARGE' }]);
      expect(snap.files.map((f) => f.path)).toEqual(['a.yaml', 'delta.yaml']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an object that inflates to more than its header states', async () => {
    const dir = initWorkTree({ 'a.yaml': 'a: 1\n' });
    try {
      const gitdir = join(dir, '.git');
      const oid = 'ab'.repeat(20);
      mkdirSync(join(gitdir, 'objects', 'ab'), { recursive: true });
      writeFileSync(join(gitdir, 'objects', 'ab', oid.slice(2)), deflateSync(Buffer.concat([Buffer.from('blob 10\0'), Buffer.alloc(1024 * 1024, 'y')])));
      const err = await new ObjectReader(gitdir, {}).readBlob(oid).catch((e: unknown) => e);
      expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_SOURCE_TOO_LARGE');
      expect(String((err as Error).message)).toMatch(/more than its header states/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports running out of file descriptors as such, not as a missing ref', async () => {
    const emfile = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    const failing = {
      readFile: () => Promise.reject(emfile),
      readdir: () => Promise.reject(emfile),
      open: () => Promise.reject(emfile),
    } as unknown as ConstructorParameters<typeof ObjectReader>[2];
    const reader = new ObjectReader(join(work, '.git'), {}, failing);
    const err = await reader.read(git(work, 'rev-parse', 'main')).catch((e: unknown) => e);
    expect(isCapstanError(err) && err.code).toBe('CAPSTAN_ERR_SOURCE_RESOURCE_EXHAUSTED');
    expect(String((err as Error).message)).toMatch(/out of file descriptors \(EMFILE\)/);
  });
});
