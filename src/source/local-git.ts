// Local repositories (bare or with a work tree), read at a ref straight from the object database.
// A work tree read without a ref is read as it is on disk, uncommitted edits included.
import type { CompiledSourceOptions } from './collect.js';
import type { FolderReader } from './folder.js';
import { GitTreeReader, resolveCommit, type GitRepo } from './git-tree.js';
import type { CommitInfo, Source, SourceSnapshot } from './types.js';

export class LocalGitSource implements Source {
  readonly kind = 'local-git' as const;
  private readonly reader: GitTreeReader;

  constructor(
    repo: GitRepo,
    readonly location: string,
    opts: CompiledSourceOptions,
    /** Set for a work tree: what `ref === undefined` reads. */
    private readonly worktree?: FolderReader,
  ) {
    this.reader = new GitTreeReader(repo, opts);
  }

  private commit(ref: string | undefined): Promise<string> {
    return resolveCommit(this.reader.repo, ref ?? 'HEAD', this.location);
  }

  private onDisk(ref: string | undefined): FolderReader | undefined {
    return ref === undefined ? this.worktree : undefined;
  }

  async resolve(ref?: string): Promise<string | undefined> {
    if (this.onDisk(ref)) return undefined;
    return this.commit(ref);
  }

  async snapshot(ref?: string): Promise<SourceSnapshot> {
    const disk = this.onDisk(ref);
    if (disk) return disk.snapshot(this.location);
    const commit = await this.commit(ref);
    const read = await this.reader.snapshot(commit, this.location);
    return { kind: this.kind, location: this.location, ref: ref ?? 'HEAD', commit, ...read };
  }

  async readFiles(paths: string[], ref?: string): Promise<Pick<SourceSnapshot, 'files' | 'diagnostics' | 'commit'>> {
    const disk = this.onDisk(ref);
    if (disk) {
      const { files, diagnostics } = await disk.readFiles(paths, this.location);
      return { files, diagnostics };
    }
    const commit = await this.commit(ref);
    const { files, diagnostics } = await this.reader.readFiles(commit, paths, this.location);
    return { files, diagnostics, commit };
  }

  async readFile(path: string, ref?: string): Promise<Uint8Array | undefined> {
    const disk = this.onDisk(ref);
    if (disk) return disk.readFile(path);
    return this.reader.readFile(await this.commit(ref), path);
  }

  async listFiles(dir: string, ref?: string): Promise<string[]> {
    const disk = this.onDisk(ref);
    if (disk) return disk.listFiles(dir);
    return this.reader.listFiles(await this.commit(ref), dir);
  }

  async describeCommit(commit: string): Promise<CommitInfo> {
    return this.reader.describeCommit(await this.commit(commit));
  }

  async isAncestor(ancestor: string, commit: string): Promise<boolean> {
    return this.reader.isAncestor(ancestor, commit);
  }

  async changedPaths(fromCommit: string, toCommit: string): Promise<string[]> {
    const [from, to] = await Promise.all([this.commit(fromCommit), this.commit(toCommit)]);
    return this.reader.changedPaths(from, to);
  }
}
