// Reading commits and trees straight from a Git object database (no checkout): trees with
// `readTree`, level by level with bounded concurrency, and blobs with `readBlob`, all sharing one
// isomorphic-git `cache` so packfile indexes are loaded once per repository.
import * as nodeFs from 'node:fs';
import git from 'isomorphic-git';
import { CapstanError } from '../common/index.js';
import { ignoreMatcher, isSelected, mapLimit, SnapshotBuilder, type CompiledSourceOptions } from './collect.js';
import { ObjectReader, type RawTreeEntry } from './objects.js';
import { checkResources, isExhausted, resourceError } from './resource.js';
import { isManifestPath, isSafeEntryName, joinRepoPath, normalizeRepoPath, SKIPPED_DIRS } from './paths.js';
import type { CommitInfo } from './types.js';

const MODE_SYMLINK = '120000';
const SHA_RE = /^[0-9a-f]{4,40}$/i;

export interface GitRepo {
  fs: typeof nodeFs;
  gitdir: string;
  /** isomorphic-git's cache object: keep one per repository for its lifetime. */
  cache: object;
  /** Fast reads of trees, blobs and commits (see objects.ts). */
  objects: ObjectReader;
}

export function gitRepo(gitdir: string): GitRepo {
  const cache = {};
  return { fs: nodeFs, gitdir, cache, objects: new ObjectReader(gitdir, cache) };
}

type Ignored = (path: string, isDir: boolean) => boolean;
interface BlobCandidate {
  path: string;
  oid: string;
}
type Built = ReturnType<SnapshotBuilder['finish']>;

/** Resolve a branch, tag (annotated or not), full or short sha to a commit id. */
export async function resolveCommit(repo: GitRepo, ref: string, location: string): Promise<string> {
  const notFound = (cause?: unknown, why = 'does not exist') =>
    new CapstanError('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', `ref "${ref}" ${why} in ${location}`, {
      cause,
      context: { ref, location },
    });
  let oid: string | undefined;
  try {
    oid = await git.resolveRef({ fs: repo.fs, gitdir: repo.gitdir, ref });
  } catch (err) {
    if (isExhausted(err)) throw resourceError(err, `resolving ref "${ref}" in ${location}`);
    oid = undefined;
  }
  // isomorphic-git reads a ref it could not open as missing: rule out a resource shortage first.
  if (oid === undefined) await checkResources(repo.gitdir, `resolving ref "${ref}" in ${location}`);
  if (oid === undefined && SHA_RE.test(ref)) {
    try {
      oid = await git.expandOid({ fs: repo.fs, gitdir: repo.gitdir, oid: ref.toLowerCase(), cache: repo.cache });
    } catch (cause) {
      throw notFound(cause);
    }
  }
  if (oid === undefined) throw notFound();
  // Annotated tags point at a tag object; follow them to the commit.
  for (let hops = 0; hops < 8; hops++) {
    let obj: Awaited<ReturnType<ObjectReader['read']>>;
    try {
      obj = await repo.objects.read(oid);
    } catch (cause) {
      if (cause instanceof CapstanError) throw cause;
      throw notFound(cause);
    }
    if (obj.type === 'commit') return oid;
    if (obj.type !== 'tag') throw notFound(undefined, `points at a ${obj.type}, not a commit,`);
    // A tag object starts with "object <40 hex>\n".
    oid = obj.content.subarray(7, 47).toString('latin1');
  }
  throw notFound(undefined, 'is a chain of tags too long to follow');
}

/** Reads manifests out of one repository's trees, applying the source options. */
export class GitTreeReader {
  constructor(
    readonly repo: GitRepo,
    private readonly opts: CompiledSourceOptions,
  ) {}

  private async tree(oid: string): Promise<RawTreeEntry[]> {
    return (await this.repo.objects.readTree(oid)).filter((e) => isSafeEntryName(e.path));
  }

  /** A blob, refused from its header (before it is inflated) when over maxFileBytes. */
  private async blob(oid: string): Promise<Uint8Array> {
    return this.repo.objects.readBlob(oid, this.opts.limits.maxFileBytes);
  }

  /** The tree entry at `path` ('' is the root tree of the commit). */
  private async entryAt(commit: string, path: string): Promise<Pick<RawTreeEntry, 'mode' | 'oid' | 'type'> | undefined> {
    const c = await this.repo.objects.readCommit(commit);
    let entry: Pick<RawTreeEntry, 'mode' | 'oid' | 'type'> = { mode: '040000', oid: c.tree, type: 'tree' };
    if (path === '') return entry;
    for (const part of path.split('/')) {
      if (entry.type !== 'tree') return undefined;
      const next = (await this.tree(entry.oid)).find((e) => e.path === part);
      if (!next) return undefined;
      entry = next;
    }
    return entry;
  }

  private async ignoreAt(commit: string): Promise<Ignored> {
    const e = await this.entryAt(commit, this.opts.ignoreFile);
    if (!e || e.type !== 'blob' || e.mode === MODE_SYMLINK) return ignoreMatcher(undefined, this.opts.paths);
    return ignoreMatcher(Buffer.from(await this.blob(e.oid)).toString('utf8'), this.opts.paths);
  }

  /**
   * Every blob under `start`, level by level: each level's trees are read concurrently.
   * `ignored` prunes folders and files; symlinks are reported, never followed.
   */
  private async walk(
    start: string,
    startEntry: Pick<RawTreeEntry, 'mode' | 'oid' | 'type'>,
    keep: (path: string) => boolean,
    ignored: Ignored,
  ): Promise<{ blobs: BlobCandidate[]; links: string[] }> {
    const blobs: BlobCandidate[] = [];
    const links: string[] = [];
    const visitLeaf = (path: string, e: Pick<RawTreeEntry, 'mode' | 'oid' | 'type'>) => {
      if (e.type !== 'blob' || ignored(path, false) || !keep(path)) return;
      if (e.mode === MODE_SYMLINK) links.push(path);
      else blobs.push({ path, oid: e.oid });
    };
    if (startEntry.type !== 'tree') {
      visitLeaf(start, startEntry);
      return { blobs, links };
    }
    let level: Array<[string, string]> = [[start, startEntry.oid]];
    while (level.length > 0) {
      const trees = await mapLimit(level, this.opts.concurrency, ([, oid]) => this.tree(oid));
      const next: Array<[string, string]> = [];
      level.forEach(([dir], i) => {
        for (const e of trees[i]) {
          const path = joinRepoPath(dir, e.path);
          if (e.type === 'tree') {
            if (!SKIPPED_DIRS.has(e.path) && !ignored(path, true)) next.push([path, e.oid]);
          } else visitLeaf(path, e);
        }
      });
      level = next;
    }
    return { blobs, links };
  }

  async describeCommit(commit: string): Promise<CommitInfo> {
    const c = await this.repo.objects.readCommit(commit);
    return { author: c.author, summary: c.summary };
  }

  async snapshot(commit: string, location: string): Promise<Built> {
    const ignored = await this.ignoreAt(commit);
    const blobs: BlobCandidate[] = [];
    const links: string[] = [];
    for (const start of this.opts.paths) {
      const entry = await this.entryAt(commit, start);
      if (!entry) {
        throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `path "${start}" does not exist in ${location} at ${commit.slice(0, 12)}`, {
          context: { path: start, location, commit },
        });
      }
      const found = await this.walk(start, entry, isManifestPath, ignored);
      blobs.push(...found.blobs);
      links.push(...found.links);
    }
    return this.read(blobs, links, location);
  }

  async readFiles(commit: string, paths: string[], location: string): Promise<Built> {
    const ignored = await this.ignoreAt(commit);
    const blobs: BlobCandidate[] = [];
    const links: string[] = [];
    for (const p of new Set(paths.map((x) => normalizeRepoPath(x)))) {
      if (!isSelected(p, this.opts.paths, ignored)) continue;
      const e = await this.entryAt(commit, p);
      if (!e || e.type !== 'blob') continue;
      if (e.mode === MODE_SYMLINK) links.push(p);
      else blobs.push({ path: p, oid: e.oid });
    }
    return this.read(blobs, links, location);
  }

  private async read(blobs: BlobCandidate[], links: string[], location: string): Promise<Built> {
    const b = new SnapshotBuilder(this.opts.limits, location);
    for (const path of links) {
      b.refuse(
        path,
        'CAPSTAN_ERR_SOURCE_PATH_ESCAPE',
        `${path} is a symlink; manifests in Git are read from the tree without a checkout, so symlinked manifests are refused (commit the file itself)`,
      );
    }
    b.checkCount(blobs.length);
    // Git trees do not record sizes: each blob's size comes from its object header, read
    // without inflating the body, and a blob over maxFileBytes is never inflated.
    const sizes = await mapLimit(blobs, this.opts.concurrency, async (c) => (await this.repo.objects.header(c.oid)).size);
    let total = 0;
    const wanted = blobs.filter((c, i) => {
      if (!b.acceptSize(c.path, sizes[i]!)) return false;
      total += sizes[i]!;
      return true;
    });
    b.checkTotal(total);
    const contents = await mapLimit(wanted, this.opts.concurrency, (c) => this.blob(c.oid));
    wanted.forEach((c, i) => b.add(c.path, contents[i]!, c.oid));
    return b.finish();
  }

  async readFile(commit: string, path: string): Promise<Uint8Array | undefined> {
    const rel = normalizeRepoPath(path);
    const e = await this.entryAt(commit, rel);
    if (!e || e.type !== 'blob') return undefined;
    if (e.mode === MODE_SYMLINK) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${rel} is a symlink; files in Git sources are not read through symlinks`, {
        location: { file: rel },
      });
    }
    const { size } = await this.repo.objects.header(e.oid);
    if (size > this.opts.limits.maxFileBytes) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_TOO_LARGE', `${rel} is ${size} bytes, over the limit of ${this.opts.limits.maxFileBytes} bytes per file`, {
        location: { file: rel },
      });
    }
    return this.blob(e.oid);
  }

  async listFiles(commit: string, dir: string): Promise<string[]> {
    const start = normalizeRepoPath(dir);
    const entry = await this.entryAt(commit, start);
    if (!entry) return [];
    const { blobs } = await this.walk(start, entry, () => true, () => false);
    return blobs.map((b) => b.path).sort();
  }

  /**
   * Paths that differ between two commits. Subtrees with equal ids are skipped without being
   * read, so the cost follows the size of the change, not of the repository.
   */
  /** Whether `commit` has `ancestor` in its history; false when it cannot tell (a shallow edge, a missing object). */
  async isAncestor(ancestor: string, commit: string): Promise<boolean> {
    if (ancestor === commit) return true;
    try {
      return await git.isDescendent({ fs: this.repo.fs, gitdir: this.repo.gitdir, oid: commit, ancestor, depth: -1, cache: this.repo.cache });
    } catch {
      return false;
    }
  }

  async changedPaths(from: string, to: string): Promise<string[]> {
    const out: string[] = [];
    const rootOf = async (oid: string) => (await this.repo.objects.readCommit(oid)).tree;
    const diff = async (a: string | undefined, b: string | undefined, prefix: string): Promise<void> => {
      if (a === b) return;
      const [ta, tb] = await Promise.all([a ? this.tree(a) : [], b ? this.tree(b) : []]);
      const byName = new Map<string, [RawTreeEntry | undefined, RawTreeEntry | undefined]>();
      for (const e of ta) byName.set(e.path, [e, undefined]);
      for (const e of tb) byName.set(e.path, [byName.get(e.path)?.[0], e]);
      const sub: Array<Promise<void>> = [];
      for (const [name, [ea, eb]] of byName) {
        if (ea && eb && ea.oid === eb.oid && ea.mode === eb.mode) continue;
        const path = joinRepoPath(prefix, name);
        const treeA = ea?.type === 'tree' ? ea.oid : undefined;
        const treeB = eb?.type === 'tree' ? eb.oid : undefined;
        if (treeA || treeB) sub.push(diff(treeA, treeB, path));
        // A file on either side (including a file that became a folder) is itself a change.
        if ((ea && ea.type !== 'tree') || (eb && eb.type !== 'tree')) out.push(path);
      }
      await Promise.all(sub);
    };
    await diff(await rootOf(from), await rootOf(to), '');
    return out.sort();
  }
}
