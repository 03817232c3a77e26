import type { Diagnostic, Logger } from '../common/index.js';

/** One manifest file as read from a source: a repository-relative POSIX path and its bytes. */
export interface SourceFile {
  path: string;
  content: Uint8Array;
  /**
   * Git blob id (sha1 of `blob <len>\0<content>`), also computed for plain folders, so caches
   * keyed by it work for every kind of source.
   */
  blobId: string;
}

export interface SourceLimits {
  /** Largest manifest file accepted (default 4 MiB). */
  maxFileBytes: number;
  /** Most manifest files in one snapshot (default 50,000). */
  maxFiles: number;
  /** Most bytes across all files of one snapshot (default 512 MiB). */
  maxTotalBytes: number;
}

export const DEFAULT_SOURCE_LIMITS: SourceLimits = {
  maxFileBytes: 4 * 1024 * 1024,
  maxFiles: 50_000,
  maxTotalBytes: 512 * 1024 * 1024,
};

export interface SourceAuth {
  username?: string;
  password?: string;
  token?: string;
}

export interface SourceOptions {
  /** Where remote repositories are cached (`<dataDir>/sources/<hash>`). */
  dataDir?: string;
  /** Folders (repository-relative) to read manifests from; default: the whole tree. */
  paths?: string[];
  /** gitignore-style file at the root listing paths to skip (default `.capstanignore`). */
  ignoreFile?: string;
  limits?: Partial<SourceLimits>;
  /** Credentials for remotes; by default from CAPSTAN_GIT_USERNAME / _PASSWORD / _TOKEN or a file. */
  auth?: SourceAuth;
  /** Network timeout for one remote operation (default 30 s). */
  timeoutMs?: number;
  /** Read a Git work tree as a plain folder (what is on disk), even when a ref is given. */
  folder?: boolean;
  /** Where credentials are looked up (default `process.env`); tests pass their own. */
  env?: Record<string, string | undefined>;
  /** Injected logger; nothing is logged when absent. Credentials are never logged. */
  logger?: Logger;
  /** How many files or trees are read at once (default 16). */
  concurrency?: number;
}

export type SourceKind = 'folder' | 'local-git' | 'remote-git';

/** What one read of a source at one ref produced. */
export interface SourceSnapshot {
  kind: SourceKind;
  /** The location as the user gave it, with any credentials removed. */
  location: string;
  /** The ref asked for (branch, tag or commit); undefined for plain folders. */
  ref?: string;
  /** The commit the ref resolved to; undefined for plain folders. */
  commit?: string;
  /** Manifest files (`*.yaml`, `*.yml`, `*.json`), sorted by path. */
  files: SourceFile[];
  /**
   * Files that were refused (too large, binary, escaping symlink...): one diagnostic each,
   * naming the file, so a caller can report every problem at once.
   */
  diagnostics: Diagnostic[];
  /** Notes that are not errors, e.g. "history of main was rewritten (force push)". */
  warnings: Diagnostic[];
}

/** Who made a commit and its first message line, for history entries. */
export interface CommitInfo {
  /** `Name <email>` as Git records it. */
  author: string;
  /** The first line of the commit message. */
  summary: string;
}

export interface Source {
  readonly kind: SourceKind;
  /** Credential-free description for logs and output. */
  readonly location: string;
  /** The commit a ref points at (fetching first for remotes); undefined for folders. */
  resolve(ref?: string): Promise<string | undefined>;
  /** Read every manifest at a ref (default: HEAD, or the remote's default branch). */
  snapshot(ref?: string): Promise<SourceSnapshot>;
  /**
   * Read only these manifest paths at a ref, with the same checks as `snapshot` (limits,
   * binary, symlinks). Paths that do not exist at the ref are left out. A re-plan after a
   * commit reads just `changedPaths(previous, next)` through this.
   */
  readFiles(paths: string[], ref?: string): Promise<Pick<SourceSnapshot, 'files' | 'diagnostics' | 'commit'>>;
  /** Read a single file (any path, e.g. a chart's values file) at a commit; undefined if absent. */
  readFile(path: string, ref?: string): Promise<Uint8Array | undefined>;
  /**
   * Every file path (any extension, repo-relative, sorted) under a folder at a ref; used for
   * chart folders, whose templates and partials are not all manifests.
   */
  listFiles(dir: string, ref?: string): Promise<string[]>;
  /** Paths that differ between two commits (added, modified or deleted). */
  changedPaths(fromCommit: string, toCommit: string): Promise<string[]>;
  /** Author and summary of a commit (Git sources only). */
  describeCommit?(commit: string): Promise<CommitInfo>;
  /** Whether `commit` contains `ancestor` in its history (Git sources only; false when unknown). */
  isAncestor?(ancestor: string, commit: string): Promise<boolean>;
}
