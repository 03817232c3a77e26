import { posix } from 'node:path';
import { CapstanError } from '../../common/index.js';

/**
 * A repo-relative path in canonical form ('' is the root). Absolute paths and paths that climb
 * out of the root are refused: chart paths come from Git content and must stay inside.
 */
export function normalizeRepoPath(input: string, what = 'path'): string {
  const raw = input.replace(/\\/g, '/');
  if (raw.startsWith('/') || /^[a-zA-Z]:\//.test(raw)) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${what} ${input} must be relative to the repository`, {
      context: { path: input },
    });
  }
  const norm = posix.normalize(raw === '' ? '.' : raw).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_PATH_ESCAPE', `${what} ${input} leads outside the repository`, {
      context: { path: input },
    });
  }
  return norm === '.' ? '' : norm;
}

export function joinRepoPath(dir: string, rel: string, what = 'path'): string {
  return normalizeRepoPath(dir === '' ? rel : `${dir}/${rel}`, what);
}
