// Push payloads of GitHub, GitLab and Gitea reduced to what a sync needs: the repository's
// URLs, the branch and the commit; and whether that push concerns the configured source.
import type { WebhookProvider } from './verify.js';

export interface PushEvent {
  provider: WebhookProvider;
  /** Every URL the payload gives for the repository (clone, web, ssh). */
  repositoryUrls: string[];
  /** `refs/heads/main` → `main`; undefined for tags and other refs. */
  branch?: string;
  ref: string;
  /** The repository's default branch, when the payload says. */
  defaultBranch?: string;
  /** The commit after the push. */
  after?: string;
}

export function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function strings(obj: Record<string, unknown> | undefined, keys: string[]): string[] {
  if (!obj) return [];
  return keys.map((k) => obj[k]).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** The push in a payload, or undefined when the payload is not a push (ping, issue...). */
export function parsePush(provider: WebhookProvider, payload: unknown): PushEvent | undefined {
  const body = record(payload);
  if (!body || typeof body.ref !== 'string') return undefined;
  const ref = body.ref;
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
  const after = typeof body.after === 'string' ? body.after : typeof body.checkout_sha === 'string' ? body.checkout_sha : undefined;
  const { repositoryUrls, defaultBranch } = repositoryOf(provider, body);
  return {
    provider,
    repositoryUrls,
    ref,
    ...(branch !== undefined ? { branch } : {}),
    ...(defaultBranch !== undefined ? { defaultBranch } : {}),
    ...(after !== undefined ? { after } : {}),
  };
}

/** The repository a payload is about (push, merge request...): its URLs and default branch. */
export function repositoryOf(provider: WebhookProvider, body: Record<string, unknown>): { repositoryUrls: string[]; defaultBranch?: string } {
  let urls: string[];
  let defaultBranch: unknown;
  if (provider === 'gitlab') {
    const project = record(body.project);
    const repository = record(body.repository);
    urls = [
      ...strings(project, ['git_http_url', 'http_url', 'web_url', 'git_ssh_url', 'ssh_url']),
      ...strings(repository, ['git_http_url', 'homepage', 'url', 'git_ssh_url']),
    ];
    defaultBranch = project?.default_branch;
  } else {
    const repository = record(body.repository);
    urls = strings(repository, ['clone_url', 'html_url', 'url', 'git_url', 'ssh_url']);
    defaultBranch = repository?.default_branch;
  }
  return { repositoryUrls: [...new Set(urls)], ...(typeof defaultBranch === 'string' && defaultBranch ? { defaultBranch } : {}) };
}

/**
 * A comparable form of a repository URL: host and path, lower-cased, without scheme,
 * credentials, port, `.git` or trailing slash. `git@host:owner/repo.git` and
 * `https://user@host/owner/repo` both become `host/owner/repo`.
 */
export function normalizeRepoUrl(url: string): string {
  let s = url.trim();
  const scp = /^[^/@\s]+@([^:/\s]+):(.+)$/.exec(s);
  if (scp) s = `${scp[1]}/${scp[2]}`;
  else {
    s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    s = s.replace(/^[^@/]*@/, '');
    s = s.replace(/^([^/:]+):\d+(?=\/|$)/, '$1');
  }
  s = s.replace(/[?#].*$/, '').replace(/\/+$/, '').replace(/\.git$/i, '').replace(/\/+$/, '');
  return s.toLowerCase();
}

export interface WatchedRepository {
  /** URLs the configured source is known by (its location, plus any aliases). */
  urls: string[];
  /** The configured branch; undefined means the repository's default branch. */
  branch?: string;
}

export type PushMatch = { matched: true } | { matched: false; reason: string };

/** What a push or a pull request targets: a repository, a ref and the branch it names. */
export type WatchTarget = Pick<PushEvent, 'repositoryUrls' | 'ref' | 'branch' | 'defaultBranch'>;

/**
 * Whether a target is the configured repository and branch; if not, why. `what` starts the
 * reason (`push`, `pull request #7`).
 */
export function matchWatched(what: string, target: WatchTarget, watched: WatchedRepository): PushMatch {
  const mine = new Set(watched.urls.map(normalizeRepoUrl));
  if (!target.repositoryUrls.some((u) => mine.has(normalizeRepoUrl(u)))) {
    return { matched: false, reason: `${what} to another repository (${target.repositoryUrls[0] ?? 'no URL in the payload'})` };
  }
  if (target.branch === undefined) return { matched: false, reason: `${what} to ${target.ref}, which is not a branch` };
  const wanted = watched.branch ?? target.defaultBranch;
  if (wanted === undefined) return { matched: false, reason: 'no branch is configured and the payload does not name the default branch' };
  if (target.branch !== wanted) return { matched: false, reason: `${what} to branch ${target.branch}; the source follows ${wanted}` };
  return { matched: true };
}

/** Whether a push is to the configured repository and branch; if not, why. */
export function matchPush(push: PushEvent, watched: WatchedRepository): PushMatch {
  return matchWatched('push', push, watched);
}
