// Remote repositories over smart HTTP(S), fetched into a bare cache repository at
// `<dataDir>/sources/<sha256 of the credential-free URL>` and then read like a local one.
//
// Fetch strategy: the first fetch of a ref is shallow (depth 1). Later fetches of that ref are
// incremental and not shallow: the last commit seen is sent as a "have", so the server sends
// only the new commits, and the history between the old and new commit is then local. That
// is what lets us tell a fast-forward from a force push (old commit not an ancestor of the new
// one), and lets `changedPaths(old, new)` diff both trees. After a force push the server has
// no common commit to stop at, so that one fetch brings the new branch's full history. When a
// commit asked for is still not in the cache, the cache is deepened to the full history of all
// branches once, then the commit must be there or the ref does not exist.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { CapstanError, diagnostic, redactUrl, type Diagnostic } from '../common/index.js';
import type { CompiledSourceOptions } from './collect.js';
import { GitTreeReader, gitRepo, resolveCommit, type GitRepo } from './git-tree.js';
import { findCredentials, splitUrlAuth, withRemote } from './remote-auth.js';
import type { CommitInfo, Source, SourceAuth, SourceSnapshot } from './types.js';

const FULL_SHA_RE = /^[0-9a-f]{40}$/i;
const SHA_RE = /^[0-9a-f]{4,40}$/i;
/** `git fetch --unshallow` asks for this depth. */
const UNSHALLOW_DEPTH = 2147483647;
const STATE_FILE = 'capstan-source.json';
const MAX_ANCESTRY_WALK = 100_000;

/** What the cache remembers between runs. */
interface CacheState {
  url: string;
  /** Last commit seen per fetched branch, to notice rewritten history. */
  branches: Record<string, string>;
  /** The remote's default branch as of the last fetch of HEAD. */
  defaultBranch?: string;
}

interface Fetched {
  commit: string;
  warnings: Diagnostic[];
}

export class RemoteGitSource implements Source {
  readonly kind = 'remote-git' as const;
  private readonly reader: GitTreeReader;
  private readonly repo: GitRepo;
  /** One fetch at a time per cache: isomorphic-git writes refs and packs without locking. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Commit each ref resolved to at its last fetch, for reads that name a ref. */
  private readonly lastFetch = new Map<string, string>();
  /** Warnings found by `resolve` that the next snapshot of the same ref reports. */
  private readonly pendingWarnings = new Map<string, Diagnostic[]>();

  private constructor(
    readonly location: string,
    private readonly url: string,
    private readonly urlAuth: SourceAuth | undefined,
    readonly cacheDir: string,
    private readonly opts: CompiledSourceOptions,
  ) {
    this.repo = gitRepo(cacheDir);
    this.reader = new GitTreeReader(this.repo, opts);
  }

  static async open(location: string, opts: CompiledSourceOptions): Promise<RemoteGitSource> {
    let split: ReturnType<typeof splitUrlAuth>;
    try {
      split = splitUrlAuth(location);
    } catch (cause) {
      throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `${redactUrl(location)} is not a valid URL`, { cause: new Error('invalid URL') });
    }
    const key = createHash('sha256').update(split.url).digest('hex');
    const cacheDir = join(opts.dataDir, 'sources', key);
    await fsp.mkdir(cacheDir, { recursive: true });
    const head = await fsp.stat(join(cacheDir, 'HEAD')).catch(() => undefined);
    if (!head) {
      await git.init({ fs: nodeFs, dir: cacheDir, bare: true, defaultBranch: 'capstan-none' });
      // fetch needs a refspec to name the remote-tracking refs it writes.
      await git.setConfig({ fs: nodeFs, gitdir: cacheDir, path: 'remote.origin.url', value: split.url });
      await git.setConfig({ fs: nodeFs, gitdir: cacheDir, path: 'remote.origin.fetch', value: '+refs/heads/*:refs/remotes/origin/*' });
    }
    return new RemoteGitSource(redactUrl(location), split.url, split.auth, cacheDir, opts);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async resolve(ref?: string): Promise<string> {
    const got = await this.locked(() => this.fetchRef(ref));
    if (got.warnings.length > 0) this.pendingWarnings.set(ref ?? 'HEAD', got.warnings);
    return got.commit;
  }

  async snapshot(ref?: string): Promise<SourceSnapshot> {
    const got = await this.locked(() => this.fetchRef(ref));
    const key = ref ?? 'HEAD';
    const warnings = [...(this.pendingWarnings.get(key) ?? []), ...got.warnings];
    this.pendingWarnings.delete(key);
    const read = await this.reader.snapshot(got.commit, this.location);
    return { kind: this.kind, location: this.location, ref: key, commit: got.commit, ...read, warnings: [...read.warnings, ...warnings] };
  }

  async readFiles(paths: string[], ref?: string): Promise<Pick<SourceSnapshot, 'files' | 'diagnostics' | 'commit'>> {
    const commit = await this.commitFor(ref);
    const { files, diagnostics } = await this.reader.readFiles(commit, paths, this.location);
    return { files, diagnostics, commit };
  }

  async readFile(path: string, ref?: string): Promise<Uint8Array | undefined> {
    return this.reader.readFile(await this.commitFor(ref), path);
  }

  async listFiles(dir: string, ref?: string): Promise<string[]> {
    return this.reader.listFiles(await this.commitFor(ref), dir);
  }

  async describeCommit(commit: string): Promise<CommitInfo> {
    return this.reader.describeCommit(await this.commitFor(commit));
  }

  async changedPaths(fromCommit: string, toCommit: string): Promise<string[]> {
    const [from, to] = [await this.commitFor(fromCommit), await this.commitFor(toCommit)];
    return this.reader.changedPaths(from, to);
  }

  /**
   * The commit for a read: a commit already in the cache as is; a ref fetched earlier by this
   * source at the commit that fetch found (so a chart's many reads do not fetch each time);
   * anything else is fetched.
   */
  private async commitFor(ref: string | undefined): Promise<string> {
    const key = ref ?? 'HEAD';
    if (ref !== undefined && SHA_RE.test(ref)) {
      const local = await this.localCommit(ref);
      if (local) return local;
    }
    const seen = this.lastFetch.get(key);
    if (seen) return seen;
    return (await this.locked(() => this.fetchRef(ref))).commit;
  }

  private async localCommit(ref: string): Promise<string | undefined> {
    try {
      return await resolveCommit(this.repo, ref, this.location);
    } catch {
      return undefined;
    }
  }

  private async fetchRef(ref: string | undefined): Promise<Fetched> {
    const key = ref ?? 'HEAD';
    if (ref !== undefined && FULL_SHA_RE.test(ref)) {
      const local = await this.localCommit(ref);
      if (local) return { commit: local, warnings: [] };
    }
    const state = await this.readState();
    const localName = ref ?? state.defaultBranch;
    const previous = localName ? state.branches[localName] : undefined;
    let result: Awaited<ReturnType<typeof git.fetch>>;
    try {
      result = await this.fetch({
        ref: localName ?? 'HEAD',
        remoteRef: key,
        singleBranch: true,
        // Shallow only the first time; later fetches are incremental (see the file comment).
        depth: previous && (await this.localCommit(previous)) ? undefined : 1,
      }, key);
    } catch (err) {
      if (!(err instanceof CapstanError && err.code === 'CAPSTAN_ERR_SOURCE_REF_NOT_FOUND' && ref !== undefined && SHA_RE.test(ref))) throw err;
      // Not a branch or tag: maybe a commit id somewhere in the history of a branch.
      await this.fetch({ singleBranch: false, depth: UNSHALLOW_DEPTH, tags: true }, key);
      const local = await this.localCommit(ref);
      if (!local) throw err;
      this.lastFetch.set(key, local);
      return { commit: local, warnings: [] };
    }
    if (!result.fetchHead) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', `${this.location} is an empty repository: ref "${key}" does not exist`, {
        context: { location: this.location, ref: key },
      });
    }
    const isTag = result.fetchHeadDescription?.startsWith('tag') ?? false;
    const name = ref ?? result.defaultBranch?.replace(/^refs\/heads\//, '') ?? 'HEAD';
    // Keep a local ref so the next fetch can offer it as a "have".
    await git.writeRef({
      fs: nodeFs,
      gitdir: this.repo.gitdir,
      ref: isTag ? `refs/tags/${name}` : `refs/heads/${name}`,
      value: result.fetchHead,
      force: true,
    });
    const commit = await resolveCommit(this.repo, result.fetchHead, this.location);
    const warnings: Diagnostic[] = [];
    if (!isTag) {
      const before = state.branches[name];
      if (before && before !== commit && (await this.localCommit(before)) && !(await this.isAncestor(before, commit))) {
        warnings.push(
          diagnostic(
            'warning',
            'CAPSTAN_ERR_SOURCE_GIT',
            `history of ${name} was rewritten (force push): ${before.slice(0, 12)} is not an ancestor of the new commit ${commit.slice(0, 12)}`,
            { file: this.location },
          ),
        );
        this.opts.logger.warn({ location: this.location, branch: name, previous: before, commit }, 'branch history was rewritten');
      }
      state.branches[name] = commit;
      if (ref === undefined && result.defaultBranch) state.defaultBranch = name;
      await this.writeState(state);
    }
    this.lastFetch.set(key, commit);
    this.opts.logger.debug({ location: this.location, ref: key, commit }, 'fetched');
    return { commit, warnings };
  }

  /** One `git.fetch` under the timeout, with credentials offered once and never retried. */
  private async fetch(args: Partial<Parameters<typeof git.fetch>[0]>, ref: string): Promise<Awaited<ReturnType<typeof git.fetch>>> {
    const auth = await findCredentials(this.opts.auth, this.urlAuth, this.opts.env, this.opts.dataDir);
    return withRemote({ auth, location: this.location, ref, timeoutMs: this.opts.timeoutMs }, (http, onAuth) =>
      git.fetch({
        fs: nodeFs,
        http,
        gitdir: this.repo.gitdir,
        url: this.url,
        remote: 'origin',
        cache: this.repo.cache,
        tags: false,
        ...args,
        onAuth,
        // A second 401 means the credentials are wrong: stop instead of asking again.
        onAuthFailure: () => ({ cancel: true }),
      }),
    );
  }

  /** Whether `ancestor` is reachable from `oid` through parents that are in the cache. */
  async isAncestor(ancestor: string, oid: string): Promise<boolean> {
    const seen = new Set<string>([oid]);
    let queue = [oid];
    while (queue.length > 0 && seen.size < MAX_ANCESTRY_WALK) {
      const next: string[] = [];
      for (const c of queue) {
        if (c === ancestor) return true;
        let parents: string[];
        try {
          parents = (await this.repo.objects.readCommit(c)).parents;
        } catch {
          continue; // the shallow edge of the cache
        }
        for (const p of parents) {
          if (!seen.has(p)) {
            seen.add(p);
            next.push(p);
          }
        }
      }
      queue = next;
    }
    return false;
  }

  private async readState(): Promise<CacheState> {
    const text = await fsp.readFile(join(this.cacheDir, STATE_FILE), 'utf8').catch(() => undefined);
    const fresh: CacheState = { url: this.location, branches: {} };
    if (text === undefined) return fresh;
    try {
      const s = JSON.parse(text) as Partial<CacheState>;
      return { ...fresh, ...s, branches: { ...(s.branches ?? {}) } };
    } catch {
      return fresh;
    }
  }

  private async writeState(state: CacheState): Promise<void> {
    const file = join(this.cacheDir, STATE_FILE);
    await fsp.writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
    await fsp.rename(`${file}.tmp`, file);
  }
}
