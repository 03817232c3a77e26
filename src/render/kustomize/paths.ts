// Paths named in a kustomization: relative to its folder, POSIX, never leaving the repository,
// never remote.

/** Names kustomize reads as a folder's kustomization, in the order it tries them. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** True for what kustomize would fetch: URLs, `github.com/org/repo//path?ref=`, `git@host:...`. */
export function isRemote(entry: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ||
    /^git(@|::)/.test(entry) ||
    /^(github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com)\//i.test(entry) ||
    /\?(ref|version|timeout|submodules)=/.test(entry)
  );
}

export type Resolved = { ok: true; path: string } | { ok: false; reason: string };

/** `entry` relative to the folder `dir` ('' is the repository root), normalized. */
export function resolvePath(dir: string, entry: string): Resolved {
  if (isRemote(entry)) return { ok: false, reason: `${entry} is a remote base: Capstan does not fetch remote bases; vendor it into the repository` };
  if (entry.startsWith('/')) return { ok: false, reason: `${entry} is an absolute path; paths in a kustomization are relative to its folder` };
  const parts = dir === '' ? [] : dir.split('/');
  for (const seg of entry.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return { ok: false, reason: `${entry} leads outside the repository` };
      parts.pop();
    } else parts.push(seg);
  }
  return { ok: true, path: parts.join('/') };
}

export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
