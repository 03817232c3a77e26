// What every kind of source shares: compiled options, the ignore file, and the builder that
// applies limits and text checks while files are added to a snapshot.
import { resolve as resolvePath } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { CapstanError, diagnostic, silentLogger, type Diagnostic, type Logger } from '../common/index.js';
import { checkText, gitBlobId } from './content.js';
import { isManifestPath, isUnder, normalizeRepoPath, SKIPPED_DIRS } from './paths.js';
import { DEFAULT_SOURCE_LIMITS, type SourceAuth, type SourceFile, type SourceLimits, type SourceOptions } from './types.js';

export interface CompiledSourceOptions {
  dataDir: string;
  /** Normalised, without overlaps; `['']` means the whole tree. */
  paths: string[];
  ignoreFile: string;
  limits: SourceLimits;
  auth?: SourceAuth;
  timeoutMs: number;
  folder: boolean;
  env: Record<string, string | undefined>;
  logger: Logger;
  concurrency: number;
}

export function compileSourceOptions(options: SourceOptions = {}): CompiledSourceOptions {
  const paths = [...new Set((options.paths?.length ? options.paths : ['']).map((p) => normalizeRepoPath(p, 'source path')))].sort();
  // `a` already covers `a/b`: read each file once.
  const roots = paths.filter((p) => !paths.some((q) => q !== p && isUnder(p, q)));
  const limits = { ...DEFAULT_SOURCE_LIMITS, ...(options.limits ?? {}) };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isFinite(v) || v < 0) {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `source limit ${k} must be a non-negative number`, { context: { [k]: v } });
    }
  }
  return {
    dataDir: resolvePath(options.dataDir ?? '.capstan'),
    paths: roots,
    ignoreFile: normalizeRepoPath(options.ignoreFile ?? '.capstanignore', 'ignore file'),
    limits,
    auth: options.auth,
    timeoutMs: options.timeoutMs ?? 30_000,
    folder: options.folder ?? false,
    env: options.env ?? process.env,
    logger: options.logger ?? silentLogger(),
    concurrency: Math.max(1, options.concurrency ?? 16),
  };
}

/**
 * Paths that are not manifests in most repositories, skipped unless the ignore file
 * re-includes them (`!.github/`): hidden files and folders (CI workflows, editor and tool
 * settings) and the configuration files of package managers, compilers, CI services and
 * other tools that happen to be YAML or JSON. Matched below each source path, so a source
 * path given on purpose (`--path .deploy`) is still read.
 */
export const DEFAULT_IGNORES: readonly string[] = Object.freeze([
  '.*',
  'package.json',
  'package-lock.json',
  'npm-shrinkwrap.json',
  'pnpm-lock.yaml',
  'pnpm-workspace.yaml',
  'tsconfig.json',
  'tsconfig.*.json',
  'jsconfig.json',
  'composer.json',
  'renovate.json',
  'lerna.json',
  'nx.json',
  'turbo.json',
  'deno.json',
  'bower.json',
  'docker-compose*.yml',
  'docker-compose*.yaml',
  'compose.yml',
  'compose.yaml',
  'mkdocs.yml',
  'mkdocs.yaml',
  'codecov.yml',
  'codecov.yaml',
  'skaffold.yaml',
  'devfile.yaml',
  'catalog-info.yaml',
  'azure-pipelines.yml',
  'bitbucket-pipelines.yml',
  'appveyor.yml',
  'cloudbuild.yaml',
  'buildspec.yml',
  '_config.yml',
]);

export type IgnoreTest = (path: string, isDir: boolean) => boolean;

/**
 * A matcher for the ignore file's text (gitignore syntax) over the default ignores; folders
 * are tested as `dir/`. The file is read first: what it ignores is ignored, what it
 * re-includes with `!` is kept, and only then do the defaults apply, to paths below one of
 * the source paths (`roots`).
 */
export function ignoreMatcher(text: string | undefined, roots: readonly string[] = ['']): IgnoreTest {
  const user: Ignore | undefined = text === undefined ? undefined : ignore().add(text);
  const defaults: Ignore = ignore().add([...DEFAULT_IGNORES]);
  return (path, isDir) => {
    if (path === '') return false;
    const key = isDir ? `${path}/` : path;
    if (user) {
      const verdict = user.test(key);
      if (verdict.ignored) return true;
      if (verdict.unignored) return false;
    }
    const root = roots.find((r) => isUnder(path, r));
    if (root === undefined) return false;
    if (path === root) return false;
    // Every default is a name pattern: test the last segment alone, so a folder the ignore
    // file re-includes (`!.github/`) has its files read.
    const name = path.slice(path.lastIndexOf('/') + 1);
    return defaults.ignores(isDir ? `${name}/` : name);
  };
}

/**
 * Whether a single path would be part of a snapshot: a manifest, under one of the roots, and
 * neither it nor a folder above it ignored.
 */
export function isSelected(path: string, roots: string[], ignored: (path: string, isDir: boolean) => boolean): boolean {
  if (!isManifestPath(path) || !roots.some((r) => isUnder(path, r))) return false;
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    if (parts[i - 1] !== undefined && SKIPPED_DIRS.has(parts[i - 1])) return false;
    if (ignored(dir, true)) return false;
  }
  return !ignored(path, false);
}

/** Collects files and diagnostics for one snapshot, enforcing the limits as it goes. */
export class SnapshotBuilder {
  readonly files: SourceFile[] = [];
  readonly diagnostics: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  private totalBytes = 0;

  constructor(
    private readonly limits: SourceLimits,
    private readonly location: string,
  ) {}

  /** Throws when a listing already holds more manifests than allowed (before any is read). */
  checkCount(count: number): void {
    if (count > this.limits.maxFiles) {
      throw new CapstanError(
        'CAPSTAN_ERR_SOURCE_TOO_LARGE',
        `${this.location} has ${count} manifest files, over the limit of ${this.limits.maxFiles}`,
        { context: { files: count, maxFiles: this.limits.maxFiles } },
      );
    }
  }

  /** Throws when the manifests add up to more than maxTotalBytes (callers that know sizes check before reading). */
  checkTotal(bytes: number): void {
    if (bytes > this.limits.maxTotalBytes) {
      throw new CapstanError(
        'CAPSTAN_ERR_SOURCE_TOO_LARGE',
        `the manifests of ${this.location} add up to more than ${this.limits.maxTotalBytes} bytes`,
        { context: { maxTotalBytes: this.limits.maxTotalBytes } },
      );
    }
  }

  /** False (with a diagnostic) when a file is over maxFileBytes: the caller skips reading it. */
  acceptSize(path: string, size: number): boolean {
    if (size <= this.limits.maxFileBytes) return true;
    this.diagnostics.push(
      diagnostic(
        'error',
        'CAPSTAN_ERR_SOURCE_TOO_LARGE',
        `${path} is ${size} bytes, over the limit of ${this.limits.maxFileBytes} bytes per file; it was not read`,
        { file: path },
      ),
    );
    return false;
  }

  refuse(path: string, code: Diagnostic['code'], message: string): void {
    this.diagnostics.push(diagnostic('error', code, message, { file: path }));
  }

  /** Check and keep one file's bytes. */
  add(path: string, content: Uint8Array, blobId?: string): void {
    if (!this.acceptSize(path, content.byteLength)) return;
    this.totalBytes += content.byteLength;
    this.checkTotal(this.totalBytes);
    const problem = checkText(content);
    if (problem) {
      const what = problem.reason === 'nul' ? 'holds a NUL byte (binary file)' : 'is not valid UTF-8';
      this.diagnostics.push(
        diagnostic('error', 'CAPSTAN_ERR_SOURCE_BINARY', `${path} ${what}; manifests must be UTF-8 text`, {
          file: path,
          line: problem.line,
          column: problem.column,
        }),
      );
      return;
    }
    this.files.push({ path, content, blobId: blobId ?? gitBlobId(content) });
  }

  /** Files sorted by path, diagnostics by file. */
  finish(): { files: SourceFile[]; diagnostics: Diagnostic[]; warnings: Diagnostic[] } {
    const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    this.files.sort(byPath);
    this.diagnostics.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    return { files: this.files, diagnostics: this.diagnostics, warnings: this.warnings };
  }
}

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
