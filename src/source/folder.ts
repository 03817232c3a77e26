// Plain folders: what is on disk, walked with lstat so symlinks are seen before they are followed.
import { promises as fsp, type Dirent } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { CapstanError } from '../common/index.js';
import { ignoreMatcher, isSelected, mapLimit, SnapshotBuilder, type CompiledSourceOptions } from './collect.js';
import { isManifestPath, joinRepoPath, normalizeRepoPath, SKIPPED_DIRS } from './paths.js';
import type { Source, SourceSnapshot } from './types.js';

interface Candidate {
  path: string;
  /** Real path on disk (the target when `path` is a symlink inside the root). */
  abs: string;
}

interface WalkResult {
  files: Candidate[];
  /** Symlinks that were refused: [repo path, message]. */
  refused: Array<[string, string]>;
}

/** Folder reading shared by the folder source and Git work trees read without a ref. */
export class FolderReader {
  private constructor(
    /** Real path of the root (symlinks resolved), so containment checks compare like with like. */
    readonly root: string,
    private readonly opts: CompiledSourceOptions,
  ) {}

  static async open(dir: string, opts: CompiledSourceOptions): Promise<FolderReader> {
    let root: string;
    try {
      root = await fsp.realpath(dir);
      if (!(await fsp.stat(root)).isDirectory()) throw new Error('not a directory');
    } catch (cause) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `source folder ${dir} does not exist or is not a folder`, {
        cause,
        context: { location: dir },
      });
    }
    return new FolderReader(root, opts);
  }

  async snapshot(location: string): Promise<SourceSnapshot> {
    const ignored = ignoreMatcher(await this.readText(this.opts.ignoreFile), this.opts.paths);
    const walk: WalkResult = { files: [], refused: [] };
    for (const start of this.opts.paths) {
      const abs = await this.realStart(start);
      const st = abs === undefined ? undefined : await fsp.lstat(abs).catch(() => undefined);
      if (!st || abs === undefined) {
        throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `path "${start}" does not exist in ${location}`, {
          context: { path: start, location },
        });
      }
      await this.walk(start, abs, st, { ignored, manifestsOnly: true }, walk, new Set());
    }
    return { kind: 'folder', location, ...(await this.read(walk, location)) };
  }

  /** The given manifest paths only, filtered like `snapshot` (paths option, ignore file). */
  async readFiles(paths: string[], location: string): Promise<ReturnType<SnapshotBuilder['finish']>> {
    const ignored = ignoreMatcher(await this.readText(this.opts.ignoreFile), this.opts.paths);
    const walk: WalkResult = { files: [], refused: [] };
    for (const p of new Set(paths.map((x) => normalizeRepoPath(x)))) {
      if (!isSelected(p, this.opts.paths, ignored)) continue;
      const abs = await this.realStart(p);
      const st = abs === undefined ? undefined : await fsp.lstat(abs).catch(() => undefined);
      if (st && abs !== undefined && !st.isDirectory()) await this.walk(p, abs, st, { ignored, manifestsOnly: true }, walk, new Set());
    }
    return this.read(walk, location);
  }

  private async read(walk: WalkResult, location: string): Promise<ReturnType<SnapshotBuilder['finish']>> {
    const b = new SnapshotBuilder(this.opts.limits, location);
    for (const [path, message] of walk.refused) b.refuse(path, 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE', message);
    b.checkCount(walk.files.length);
    const limits = this.opts.limits;
    // Stat first so an oversized file is never read; the length is checked again after reading.
    const contents = await mapLimit(walk.files, this.opts.concurrency, async (c) => {
      const fh = await fsp.open(c.abs, 'r');
      try {
        const st = await fh.stat();
        if (st.size > limits.maxFileBytes) return st.size;
        return new Uint8Array(await fh.readFile());
      } finally {
        await fh.close();
      }
    });
    walk.files.forEach((c, i) => {
      const content = contents[i];
      if (typeof content === 'number') b.acceptSize(c.path, content);
      else b.add(c.path, content);
    });
    return b.finish();
  }

  async readFile(path: string): Promise<Uint8Array | undefined> {
    const rel = normalizeRepoPath(path);
    const real = await fsp.realpath(join(this.root, rel)).catch(() => undefined);
    if (real === undefined) return undefined;
    if (!this.inside(real)) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${rel} leads outside the source folder`, { context: { path: rel } });
    }
    const st = await fsp.stat(real);
    if (!st.isFile()) return undefined;
    if (st.size > this.opts.limits.maxFileBytes) {
      throw new CapstanError(
        'CAPSTAN_ERR_SOURCE_TOO_LARGE',
        `${rel} is ${st.size} bytes, over the limit of ${this.opts.limits.maxFileBytes} bytes per file`,
        { location: { file: rel } },
      );
    }
    return new Uint8Array(await fsp.readFile(real));
  }

  async listFiles(dir: string): Promise<string[]> {
    const start = normalizeRepoPath(dir);
    const abs = await this.realStart(start);
    const st = abs === undefined ? undefined : await fsp.lstat(abs).catch(() => undefined);
    if (!st || abs === undefined) return [];
    const walk: WalkResult = { files: [], refused: [] };
    await this.walk(start, abs, st, { ignored: () => false, manifestsOnly: false }, walk, new Set());
    return walk.files.map((f) => f.path).sort();
  }

  private async readText(rel: string): Promise<string | undefined> {
    const bytes = await this.readFile(rel).catch(() => undefined);
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
  }

  /**
   * `<real parent folder>/<name>` for a walk's starting path: the parent is resolved once so the
   * walk can build real paths by joining names; the entry itself is left for lstat to see.
   * undefined when the parent is missing or leads outside the root.
   */
  private async realStart(rel: string): Promise<string | undefined> {
    if (rel === '') return this.root;
    const abs = join(this.root, rel);
    const parent = await fsp.realpath(dirname(abs)).catch(() => undefined);
    if (parent === undefined || !this.inside(parent)) return undefined;
    return join(parent, basename(abs));
  }

  private inside(real: string): boolean {
    return real === this.root || real.startsWith(this.root + sep);
  }

  private async walk(
    path: string,
    abs: string,
    st: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean },
    how: { ignored: (p: string, isDir: boolean) => boolean; manifestsOnly: boolean },
    out: WalkResult,
    ancestors: ReadonlySet<string>,
  ): Promise<void> {
    let real = abs;
    let isDir = st.isDirectory();
    let isFile = st.isFile();
    if (st.isSymbolicLink()) {
      const target = await fsp.realpath(abs).catch(() => undefined);
      const tst = target === undefined ? undefined : await fsp.stat(target).catch(() => undefined);
      const wanted = tst?.isDirectory() || !how.manifestsOnly || isManifestPath(path);
      if (target === undefined || tst === undefined) {
        if (wanted && how.manifestsOnly) out.refused.push([path, `${path} is a symlink whose target does not exist`]);
        return;
      }
      if (!this.inside(target)) {
        if (wanted && how.manifestsOnly) {
          const link = await fsp.readlink(abs).catch(() => '?');
          out.refused.push([path, `${path} is a symlink to ${link}, which is outside the source folder; it was not read`]);
        }
        return;
      }
      real = target;
      isDir = tst.isDirectory();
      isFile = tst.isFile();
    }
    if (isFile) {
      if (path !== '' && how.ignored(path, false)) return;
      if (!how.manifestsOnly || isManifestPath(path)) out.files.push({ path, abs: real });
      return;
    }
    if (!isDir || (path !== '' && how.ignored(path, true))) return;
    // A symlinked folder can point back up at a folder being walked: stop the loop there.
    // `abs` has real folders all the way down (see realStart), so `real` needs no realpath call.
    if (ancestors.has(real)) return;
    const below = new Set(ancestors).add(real);
    const entries: Dirent[] = await fsp.readdir(real, { withFileTypes: true });
    for (const e of entries) {
      if (SKIPPED_DIRS.has(e.name)) continue;
      await this.walk(joinRepoPath(path, e.name), join(real, e.name), e, how, out, below);
    }
  }
}

/** A plain folder (or a Git work tree read as it is on disk). */
export class FolderSource implements Source {
  readonly kind = 'folder' as const;

  constructor(
    private readonly reader: FolderReader,
    readonly location: string,
  ) {}

  async resolve(ref?: string): Promise<string | undefined> {
    refuseRef(ref, this.location);
    return undefined;
  }

  async snapshot(ref?: string): Promise<SourceSnapshot> {
    refuseRef(ref, this.location);
    return this.reader.snapshot(this.location);
  }

  async readFiles(paths: string[], ref?: string): Promise<Pick<SourceSnapshot, 'files' | 'diagnostics' | 'commit'>> {
    refuseRef(ref, this.location);
    const { files, diagnostics } = await this.reader.readFiles(paths, this.location);
    return { files, diagnostics };
  }

  async readFile(path: string, ref?: string): Promise<Uint8Array | undefined> {
    refuseRef(ref, this.location);
    return this.reader.readFile(path);
  }

  async listFiles(dir: string, ref?: string): Promise<string[]> {
    refuseRef(ref, this.location);
    return this.reader.listFiles(dir);
  }

  async changedPaths(): Promise<string[]> {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `${this.location} is a plain folder, not a Git repository: it has no commits to compare`);
  }
}

function refuseRef(ref: string | undefined, location: string): void {
  if (ref === undefined) return;
  throw new CapstanError(
    'CAPSTAN_ERR_CLI_USAGE',
    `a ref ("${ref}") was given but ${location} is a plain folder, not a Git repository; leave out the ref or point at a repository`,
    { context: { ref, location } },
  );
}

/** For messages: a path relative to the current folder when that is shorter. */
export function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel !== '' && rel.length < abs.length ? rel : abs;
}
