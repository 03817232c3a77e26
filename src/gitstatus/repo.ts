// Where status commits go: a remote over smart HTTP (fetched into Capstan's own repository
// under the data dir, separate from the source cache) or a local repository written directly.
// Commits are built from Git objects (blob → trees → commit), so no work tree is checked out
// and a user's checkout is never touched. Branch updates are compare-and-swap: a push that is
// not a fast-forward, or a local ref that moved, is reported as `rejected`, never forced.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodeFs from 'node:fs';
import { join, resolve } from 'node:path';
import git from 'isomorphic-git';
import type { HttpClient, TreeEntry } from 'isomorphic-git';
import { CapstanError, isCapstanError, redactUrl, type Logger } from '../common/index.js';
// The source stage's credential lookup and error mapping, shared so both read Git the same way.
import { findCredentials, splitUrlAuth, withRemote, type OfferAuth } from '../source/remote-auth.js';
import type { SourceAuth } from '../source/types.js';

export interface CommitAuthor {
  name: string;
  email: string;
}

export type UpdateResult = 'ok' | 'rejected';

/** What the writer needs from a repository. */
export interface StatusRepo {
  /** Redacted location, for logs and errors. */
  readonly location: string;
  /** The branch's newest commit (fetching it first for a remote); undefined when it does not exist. */
  tip(branch: string): Promise<string | undefined>;
  readFile(commit: string, path: string): Promise<string | undefined>;
  /** Write `files` (path → text) over `base`'s tree; returns the new commit id. */
  commit(base: string, parents: string[], files: Map<string, string>, message: string, author: CommitAuthor, when: Date): Promise<string>;
  treeOf(commit: string): Promise<string>;
  isAncestor(ancestor: string, commit: string): Promise<boolean>;
  /** Move `branch` from `expected` (undefined: must not exist) to `commit`, fast-forward only. */
  update(branch: string, commit: string, expected: string | undefined): Promise<UpdateResult>;
}

export interface OpenStatusRepoOptions {
  repo: string;
  dataDir: string;
  auth?: SourceAuth;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  logger: Logger;
}

/** A repository kind the writer can write to, or why it cannot. */
export type OpenedRepo = { kind: 'remote' | 'bare' | 'worktree'; repo: StatusRepo; checkedOut?: string } | { kind: 'folder'; reason: string };

export async function openStatusRepo(o: OpenStatusRepoOptions): Promise<OpenedRepo> {
  if (/^https?:\/\//i.test(o.repo)) return { kind: 'remote', repo: await RemoteStatusRepo.open(o) };
  const path = resolve(o.repo);
  const exists = async (p: string): Promise<boolean> => (await fsp.stat(p).catch(() => undefined)) !== undefined;
  if ((await exists(join(path, 'HEAD'))) && (await exists(join(path, 'objects')))) return { kind: 'bare', repo: new LocalStatusRepo(path, path) };
  if (await exists(join(path, '.git', 'HEAD'))) {
    const gitdir = join(path, '.git');
    const head = await git.resolveRef({ fs: nodeFs, gitdir, ref: 'HEAD', depth: 1 }).catch(() => undefined);
    return { kind: 'worktree', repo: new LocalStatusRepo(path, gitdir), checkedOut: head?.replace(/^refs\/heads\//, '') };
  }
  return { kind: 'folder', reason: `${path} is a plain folder, not a Git repository` };
}

const TREE_MODE = '040000';
/** Folder listings kept for reads: enough for the folders of a few commits. */
const MAX_LISTINGS = 256;

/** Object-level reads and writes shared by both kinds. */
abstract class ObjectRepo implements StatusRepo {
  protected readonly cache = {};
  constructor(
    readonly location: string,
    protected readonly gitdir: string,
  ) {}

  abstract tip(branch: string): Promise<string | undefined>;
  abstract update(branch: string, commit: string, expected: string | undefined): Promise<UpdateResult>;

  /** Folder listings by tree id (trees never change under an id), the newest kept last. */
  private readonly listings = new Map<string, Map<string, TreeEntry>>();

  async readFile(commit: string, path: string): Promise<string | undefined> {
    try {
      // Walk the folders through the kept listings: a batch reads hundreds of files of one
      // commit, and resolving each path from the root would parse the root tree every time.
      let entry: TreeEntry | undefined = { mode: TREE_MODE, path: '', type: 'tree', oid: await this.treeOf(commit) };
      for (const part of path.split('/')) {
        if (entry?.type !== 'tree') return undefined;
        entry = (await this.listing(entry.oid)).get(part);
      }
      if (entry?.type !== 'blob') return undefined;
      const { blob } = await git.readBlob({ fs: nodeFs, gitdir: this.gitdir, oid: entry.oid, cache: this.cache });
      return new TextDecoder('utf-8', { fatal: true }).decode(blob);
    } catch {
      return undefined;
    }
  }

  private async listing(tree: string): Promise<Map<string, TreeEntry>> {
    let list = this.listings.get(tree);
    if (list !== undefined) {
      this.listings.delete(tree);
    } else {
      const entries: TreeEntry[] = (await git.readTree({ fs: nodeFs, gitdir: this.gitdir, oid: tree, cache: this.cache })).tree;
      list = new Map(entries.map((e) => [e.path, e]));
      if (this.listings.size >= MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    }
    this.listings.set(tree, list);
    return list;
  }

  /** Tree of each commit read lately (a commit's tree never changes). */
  private readonly trees = new Map<string, string>();

  async treeOf(commit: string): Promise<string> {
    let tree = this.trees.get(commit);
    if (tree === undefined) {
      tree = (await git.readCommit({ fs: nodeFs, gitdir: this.gitdir, oid: commit, cache: this.cache })).commit.tree;
      if (this.trees.size >= MAX_LISTINGS) this.trees.delete(this.trees.keys().next().value!);
      this.trees.set(commit, tree);
    }
    return tree;
  }

  async isAncestor(ancestor: string, commit: string): Promise<boolean> {
    if (ancestor === commit) return true;
    try {
      return await git.isDescendent({ fs: nodeFs, gitdir: this.gitdir, oid: commit, ancestor, depth: -1, cache: this.cache });
    } catch {
      return false; // the shallow edge: not known to be an ancestor
    }
  }

  async commit(base: string, parents: string[], files: Map<string, string>, message: string, author: CommitAuthor, when: Date): Promise<string> {
    const tree = await this.writeFiles(await this.treeOf(base), [...files].map(([p, t]) => [p.split('/'), t] as const));
    const person = { name: author.name, email: author.email, timestamp: Math.floor(when.getTime() / 1000), timezoneOffset: 0 };
    return git.writeCommit({ fs: nodeFs, gitdir: this.gitdir, commit: { message, tree, parent: parents, author: person, committer: person } });
  }

  /** A new tree: `tree` with each (path parts, text) written in, recursing per folder. */
  private async writeFiles(tree: string, files: (readonly [string[], string])[]): Promise<string> {
    const entries: TreeEntry[] = (await git.readTree({ fs: nodeFs, gitdir: this.gitdir, oid: tree, cache: this.cache })).tree;
    const byDir = new Map<string, (readonly [string[], string])[]>();
    for (const [parts, text] of files) {
      if (parts.length === 1) {
        const oid = await git.writeBlob({ fs: nodeFs, gitdir: this.gitdir, blob: new TextEncoder().encode(text) });
        const i = entries.findIndex((e) => e.path === parts[0]);
        const mode = i >= 0 ? entries[i]!.mode : '100644';
        const entry: TreeEntry = { mode, path: parts[0]!, oid, type: 'blob' };
        if (i >= 0) entries[i] = entry;
        else entries.push(entry);
      } else {
        const list = byDir.get(parts[0]!) ?? [];
        list.push([parts.slice(1), text]);
        byDir.set(parts[0]!, list);
      }
    }
    for (const [dir, list] of byDir) {
      const i = entries.findIndex((e) => e.path === dir && e.type === 'tree');
      if (i < 0) throw new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `${this.location}: folder ${dir} is not in the commit`);
      entries[i] = { mode: TREE_MODE, path: dir, type: 'tree', oid: await this.writeFiles(entries[i]!.oid, list) };
    }
    return git.writeTree({ fs: nodeFs, gitdir: this.gitdir, tree: entries });
  }
}

/** A local repository (bare, or the `.git` of a work tree): commits are written into it directly. */
class LocalStatusRepo extends ObjectRepo {
  constructor(path: string, gitdir: string) {
    super(path, gitdir);
  }

  async tip(branch: string): Promise<string | undefined> {
    return git.resolveRef({ fs: nodeFs, gitdir: this.gitdir, ref: `refs/heads/${branch}` }).catch(() => undefined);
  }

  async update(branch: string, commit: string, expected: string | undefined): Promise<UpdateResult> {
    // Compare, then swap: isomorphic-git has no ref transaction, so a concurrent writer inside the
    // short window between the two can still be overwritten; the ancestry check below keeps the
    // update a fast-forward of what was read.
    const now = await this.tip(branch);
    if (now !== expected) return 'rejected';
    if (expected !== undefined && !(await this.isAncestor(expected, commit))) return 'rejected';
    await git.writeRef({ fs: nodeFs, gitdir: this.gitdir, ref: `refs/heads/${branch}`, value: commit, force: true });
    return 'ok';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Push failures that a fetch and retry cannot fix. */
const FATAL_PUSH_CODES = new Set<string>(['CAPSTAN_ERR_SOURCE_AUTH', 'CAPSTAN_ERR_SOURCE_TIMEOUT', 'CAPSTAN_ERR_SOURCE_UNREACHABLE', 'CAPSTAN_ERR_SOURCE_NOT_FOUND']);

/** A remote: fetched into `<dataDir>/gitstatus/<sha256 of URL>`, updated by push. */
class RemoteStatusRepo extends ObjectRepo {
  private constructor(
    location: string,
    gitdir: string,
    private readonly url: string,
    private readonly urlAuth: SourceAuth | undefined,
    private readonly o: OpenStatusRepoOptions,
  ) {
    super(location, gitdir);
  }

  static async open(o: OpenStatusRepoOptions): Promise<RemoteStatusRepo> {
    let split: ReturnType<typeof splitUrlAuth>;
    try {
      split = splitUrlAuth(o.repo);
    } catch {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${redactUrl(o.repo)} is not a valid URL`);
    }
    const gitdir = join(o.dataDir, 'gitstatus', createHash('sha256').update(split.url).digest('hex'));
    await fsp.mkdir(gitdir, { recursive: true });
    if (!(await fsp.stat(join(gitdir, 'HEAD')).catch(() => undefined))) {
      await git.init({ fs: nodeFs, dir: gitdir, bare: true, defaultBranch: 'capstan-none' });
      // fetch needs a refspec to name the remote-tracking refs it writes.
      await git.setConfig({ fs: nodeFs, gitdir, path: 'remote.origin.url', value: split.url });
      await git.setConfig({ fs: nodeFs, gitdir, path: 'remote.origin.fetch', value: '+refs/heads/*:refs/remotes/origin/*' });
    }
    return new RemoteStatusRepo(redactUrl(o.repo), gitdir, split.url, split.auth, o);
  }

  async tip(branch: string): Promise<string | undefined> {
    const local = `refs/remotes/origin/${branch}`;
    const have = await git.resolveRef({ fs: nodeFs, gitdir: this.gitdir, ref: local }).catch(() => undefined);
    try {
      const r = await this.remote('fetch', branch, (http, onAuth) =>
        git.fetch({
          fs: nodeFs,
          http,
          gitdir: this.gitdir,
          url: this.url,
          remote: 'origin',
          ref: branch,
          remoteRef: branch,
          singleBranch: true,
          tags: false,
          // Shallow the first time; later fetches send what is here as "have".
          depth: have ? undefined : 1,
          cache: this.cache,
          onAuth,
          onAuthFailure: () => ({ cancel: true }),
        }),
      );
      if (!r.fetchHead) return undefined;
      await git.writeRef({ fs: nodeFs, gitdir: this.gitdir, ref: local, value: r.fetchHead, force: true });
      return r.fetchHead;
    } catch (err) {
      if (err instanceof CapstanError && err.code === 'CAPSTAN_ERR_SOURCE_REF_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async update(branch: string, commit: string, expected: string | undefined): Promise<UpdateResult> {
    const out = 'refs/capstan/status-out';
    await git.writeRef({ fs: nodeFs, gitdir: this.gitdir, ref: out, value: commit, force: true });
    try {
      const r = await this.remote('push', branch, (http, onAuth) =>
        git.push({
          fs: nodeFs,
          http,
          gitdir: this.gitdir,
          url: this.url,
          ref: out,
          remoteRef: `refs/heads/${branch}`,
          force: false,
          cache: this.cache,
          onAuth,
          onAuthFailure: () => ({ cancel: true }),
        }),
      );
      if (!r.ok) return 'rejected';
      await git.writeRef({ fs: nodeFs, gitdir: this.gitdir, ref: `refs/remotes/origin/${branch}`, value: commit, force: true });
      return 'ok';
    } catch (err) {
      if (err instanceof CapstanError && FATAL_PUSH_CODES.has(err.code)) throw err;
      // Not a fast-forward of the remote tip (checked by the client, or refused by the server).
      this.o.logger.debug({ location: this.location, branch, expected, code: (err as CapstanError).code }, 'push rejected');
      return 'rejected';
    }
  }

  /** One network operation under the timeout, credentials offered once and never retried. */
  private async remote<T>(what: 'fetch' | 'push', ref: string, run: (http: HttpClient, onAuth: OfferAuth) => Promise<T>): Promise<T> {
    const auth = await findCredentials(this.o.auth, this.urlAuth, this.o.env ?? process.env, this.o.dataDir);
    try {
      return await withRemote({ auth, location: this.location, ref, timeoutMs: this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS }, run);
    } catch (e) {
      if (what === 'push' && isCapstanError(e, 'CAPSTAN_ERR_SOURCE_GIT')) {
        // The cause keeps only the error's kind ("Name (code)"), never request details.
        const name = e.cause instanceof Error ? e.cause.message : 'error';
        throw new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `pushing to ${this.location} failed: ${name}`, { cause: e.cause, context: e.context });
      }
      throw e;
    }
  }
}
