// Repository-relative paths: every path that reaches the file system or a Git tree walk goes
// through here first, so nothing built from user input or Git content can leave the root.
import { posix } from 'node:path';
import { CapstanError } from '../common/index.js';

// `Kustomization` (no extension) is the third name kustomize looks for in a folder.
const MANIFEST_RE = /\.(ya?ml|json)$/i;
const BARE_KUSTOMIZATION_RE = /(^|\/)Kustomization$/;

/** Folders never read: Git's own data and installed packages. */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set(['.git', 'node_modules']);

export function isManifestPath(path: string): boolean {
  return MANIFEST_RE.test(path) || BARE_KUSTOMIZATION_RE.test(path);
}

/**
 * Normalise a repository-relative path given by a caller (`./a/b/`, `a//b` → `a/b`; the root is
 * `''`). Absolute paths and `..` that climbs out are refused with PATH_ESCAPE.
 */
export function normalizeRepoPath(input: string, what = 'path'): string {
  const slashed = input.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[a-zA-Z]:\//.test(slashed)) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${what} "${input}" is absolute; give it relative to the repository root`, {
      context: { path: input },
    });
  }
  const norm = posix.normalize(slashed === '' ? '.' : slashed).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${what} "${input}" leads outside the repository`, {
      context: { path: input },
    });
  }
  return norm === '.' ? '' : norm;
}

/** True when `path` is `dir` itself or below it (both normalised; `''` is the root). */
export function isUnder(path: string, dir: string): boolean {
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}

/** Join a normalised folder and a child name. */
export function joinRepoPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Git tree entry names come from the repository: refuse ones that could form a path trick. */
export function isSafeEntryName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
