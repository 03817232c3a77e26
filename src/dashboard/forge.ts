// Links from a file:line in a source to the page that shows it on the forge hosting the
// repository (GitHub, GitLab, Gitea/Forgejo/Codeberg, Bitbucket). Pure: a location string
// in, a URL or undefined out. A source with no web view (a folder, a bare repository, an
// unknown host) has no link, and the dashboard shows the path:line:col instead.

type ForgeKind = 'github' | 'gitlab' | 'gitea' | 'bitbucket';

export interface ForgeRepo {
  kind: ForgeKind;
  /** https://host/owner/repo, without credentials or `.git`. */
  web: string;
}

function kindOf(host: string): ForgeKind | undefined {
  const h = host.toLowerCase();
  if (h === 'github.com' || h.startsWith('github.')) return 'github';
  if (h === 'gitlab.com' || h.startsWith('gitlab.')) return 'gitlab';
  if (h === 'codeberg.org' || h.startsWith('gitea.') || h.startsWith('forgejo.')) return 'gitea';
  if (h === 'bitbucket.org') return 'bitbucket';
  return undefined;
}

/** The forge and web address of a clone URL (https or scp-like ssh), if it is a known forge. */
export function forgeRepo(location: string): ForgeRepo | undefined {
  let host: string;
  let path: string;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(location);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return undefined;
    }
    if (!['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol)) return undefined;
    host = url.hostname;
    path = url.pathname;
  } else if (scp) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    return undefined;
  }
  const kind = kindOf(host);
  if (!kind) return undefined;
  const repoPath = path.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/, '');
  if (repoPath.split('/').filter(Boolean).length < 2) return undefined;
  return { kind, web: `https://${host.toLowerCase()}/${repoPath}` };
}

const encodePath = (file: string): string => file.split('/').map(encodeURIComponent).join('/');

/** The forge page of `file` at `commit`, scrolled to `line`; undefined without a forge or commit. */
export function forgeFileLink(location: string, commit: string | null | undefined, file: string, line?: number): string | undefined {
  const repo = forgeRepo(location);
  if (!repo || !commit || !file) return undefined;
  const f = encodePath(file.replace(/^\/+/, ''));
  const c = encodeURIComponent(commit);
  switch (repo.kind) {
    case 'github':
      return `${repo.web}/blob/${c}/${f}${line ? `#L${line}` : ''}`;
    case 'gitlab':
      return `${repo.web}/-/blob/${c}/${f}${line ? `#L${line}` : ''}`;
    case 'gitea':
      return `${repo.web}/src/commit/${c}/${f}${line ? `#L${line}` : ''}`;
    case 'bitbucket':
      return `${repo.web}/src/${c}/${f}${line ? `#lines-${line}` : ''}`;
  }
}

/** The forge page of a commit; undefined without a forge. */
export function forgeCommitLink(location: string, commit: string | null | undefined): string | undefined {
  const repo = forgeRepo(location);
  if (!repo || !commit) return undefined;
  const c = encodeURIComponent(commit);
  switch (repo.kind) {
    case 'github':
      return `${repo.web}/commit/${c}`;
    case 'gitlab':
      return `${repo.web}/-/commit/${c}`;
    case 'gitea':
      return `${repo.web}/commit/${c}`;
    case 'bitbucket':
      return `${repo.web}/commits/${c}`;
  }
}
