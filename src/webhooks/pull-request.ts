// Pull-request payloads of GitHub (`pull_request`), GitLab (`Merge Request Hook`) and Gitea
// (`pull_request`) reduced to what a plan of the pull request needs: the repository, the
// number, the base branch, the head commit and the ref the forge keeps the head at. Only
// pull requests opened, updated with new commits or reopened are returned. Pure.
import { matchWatched, record, repositoryOf, type PushMatch, type WatchedRepository } from './payload.js';
import type { WebhookProvider } from './verify.js';

export interface PullRequestEvent {
  provider: WebhookProvider;
  /** Every URL the payload gives for the repository the pull request is opened on. */
  repositoryUrls: string[];
  /** The number (GitHub, Gitea) or iid (GitLab) the forge shows. */
  number: number;
  /** As the forge names it: `opened`, `synchronize`, `update`... */
  action: string;
  /** The branch the pull request would merge into. */
  baseBranch: string;
  /** The repository's default branch, when the payload says. */
  defaultBranch?: string;
  /** The head commit. */
  headSha: string;
  /** Where the forge keeps the head in the base repository: `refs/pull/N/head`, `refs/merge-requests/N/head`. */
  headRef: string;
  /** The source branch's name (possibly in a fork). */
  headBranch?: string;
  title?: string;
  /** The pull request's web page. */
  url?: string;
}

/** Actions that put new commits (or the first ones) up for review. */
const PLAN_ACTIONS: Readonly<Record<WebhookProvider, readonly string[]>> = {
  github: ['opened', 'synchronize', 'reopened'],
  gitea: ['opened', 'synchronized', 'synchronize', 'reopened'],
  gitlab: ['open', 'update', 'reopen'],
};

const SHA = /^[0-9a-f]{7,64}$/i;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Whether an event name is a pull-request event of its provider (whatever the action). */
export function isPullRequestEvent(provider: WebhookProvider, event: string): boolean {
  if (provider === 'gitlab') return event === 'Merge Request Hook';
  return event === 'pull_request' || (provider === 'gitea' && event === 'pull_request_sync');
}

/**
 * The pull request in a payload, or undefined when it is not one to plan: another event, an
 * action other than opened / new commits / reopened, or fields missing.
 */
export function parsePullRequest(provider: WebhookProvider, event: string, payload: unknown): PullRequestEvent | undefined {
  const body = record(payload);
  if (!body || !isPullRequestEvent(provider, event)) return undefined;
  let number: unknown;
  let action: string | undefined;
  let baseBranch: string | undefined;
  let headSha: string | undefined;
  let headBranch: string | undefined;
  let title: string | undefined;
  let url: string | undefined;
  if (provider === 'gitlab') {
    if (body.object_kind !== undefined && body.object_kind !== 'merge_request') return undefined;
    const mr = record(body.object_attributes);
    number = mr?.iid;
    action = text(mr?.action);
    baseBranch = text(mr?.target_branch);
    headSha = text(record(mr?.last_commit)?.id);
    headBranch = text(mr?.source_branch);
    title = text(mr?.title);
    url = text(mr?.url);
  } else {
    const pr = record(body.pull_request);
    number = pr?.number ?? body.number;
    action = text(body.action);
    baseBranch = text(record(pr?.base)?.ref);
    headSha = text(record(pr?.head)?.sha);
    headBranch = text(record(pr?.head)?.ref);
    title = text(pr?.title);
    url = text(pr?.html_url);
  }
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number <= 0) return undefined;
  if (!action || !PLAN_ACTIONS[provider].includes(action)) return undefined;
  if (!baseBranch || !headSha || !SHA.test(headSha)) return undefined;
  const { repositoryUrls, defaultBranch } = repositoryOf(provider, body);
  return {
    provider,
    repositoryUrls,
    number,
    action,
    baseBranch: baseBranch.replace(/^refs\/heads\//, ''),
    ...(defaultBranch !== undefined ? { defaultBranch } : {}),
    headSha: headSha.toLowerCase(),
    headRef: provider === 'gitlab' ? `refs/merge-requests/${number}/head` : `refs/pull/${number}/head`,
    ...(headBranch !== undefined ? { headBranch } : {}),
    ...(title !== undefined ? { title } : {}),
    ...(url !== undefined ? { url } : {}),
  };
}

/** Whether a pull request is opened on the configured repository against the followed branch; if not, why. */
export function matchPullRequest(pr: PullRequestEvent, watched: WatchedRepository): PushMatch {
  return matchWatched(`pull request #${pr.number}`, { repositoryUrls: pr.repositoryUrls, ref: `refs/heads/${pr.baseBranch}`, branch: pr.baseBranch, ...(pr.defaultBranch !== undefined ? { defaultBranch: pr.defaultBranch } : {}) }, watched);
}
