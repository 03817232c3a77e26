// File system errors while reading a source. A missing file is an answer (the object is
// elsewhere, the ref does not exist); running out of descriptors or memory is not, and must
// not be reported as one: `ref "main" does not exist` for an EMFILE sends a user hunting the
// wrong problem.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../common/index.js';

const EXHAUSTED = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOSPC', 'EAGAIN']);

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

export function isMissing(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function isExhausted(err: unknown): boolean {
  return EXHAUSTED.has(codeOf(err) ?? '');
}

/**
 * CAPSTAN_ERR_SOURCE_RESOURCE_EXHAUSTED for an out-of-descriptors or out-of-memory error,
 * naming the system error and what was being done; any other error is returned as it is.
 */
export function resourceError(err: unknown, doing: string): unknown {
  if (!isExhausted(err)) return err;
  const code = codeOf(err)!;
  const what = code === 'EMFILE' || code === 'ENFILE' ? 'out of file descriptors' : code === 'ENOSPC' ? 'out of disk space' : 'out of memory';
  return new CapstanError('CAPSTAN_ERR_SOURCE_RESOURCE_EXHAUSTED', `${doing}: the system is ${what} (${code}); the source was not read, nothing was changed`, {
    cause: err,
    context: { errno: code },
  });
}

/**
 * isomorphic-git reports any failed read as "not found". Before trusting a not-found, open a
 * file that must exist (the gitdir's HEAD): if that fails for want of a resource, say so.
 */
export async function checkResources(gitdir: string, doing: string): Promise<void> {
  let fh;
  try {
    fh = await open(join(gitdir, 'HEAD'), 'r');
  } catch (err) {
    if (isExhausted(err)) throw resourceError(err, doing);
    return;
  }
  await fh.close();
}
