// The plan of a pull request as one comment on it, created once and updated after: GitHub
// (issue comments, through @octokit/rest), GitLab (merge request notes) and Gitea (issue
// comments). The comment is found again by the hidden marker line at the top of its body.
// Effects (fetch, timeout) injected; results carry the HTTP status and never a credential.
import type { GiteaSink, GitHubSink, GitLabSink, NotificationSink } from '../api/index.js';
import type { SinkCredentials } from './secrets.js';
import { failed, octokitFailure, octokitFor, requestJson, trimSlash, type SendFailure, type SinkDeps } from './sinks.js';

export const PLAN_COMMENT_MARKER = '<!-- capstan-plan -->';
/** Below GitHub's 65,536-character limit on a comment, with room for the marker. */
export const PLAN_COMMENT_MAX_CHARS = 60_000;
/** Pages of 100 comments looked through for the marker (GitHub, GitLab). */
const MAX_PAGES = 50;

export type CommentAction = 'created' | 'updated' | 'unchanged';
export type CommentResult = SendFailure | { ok: true; action: CommentAction; id: number };

/** The comment's body: the marker line, then the plan's Markdown (cut at the limit, saying so). */
export function planCommentBody(markdown: string, maxChars = PLAN_COMMENT_MAX_CHARS): string {
  let text = markdown.trimEnd();
  if (text.length > maxChars) {
    const cut = text.slice(0, maxChars);
    text = `${cut.slice(0, cut.lastIndexOf('\n') > 0 ? cut.lastIndexOf('\n') : maxChars)}\n\n_The plan is longer than a comment can hold; it was cut here. Run \`capstan plan --base\` for all of it._`;
  }
  return `${PLAN_COMMENT_MARKER}\n${text}\n`;
}

/** Whether a comment is the plan comment: the marker on its first line. */
export function isPlanComment(body: unknown): boolean {
  return typeof body === 'string' && body.trimStart().startsWith(PLAN_COMMENT_MARKER);
}

interface Found {
  id: number;
  body: string;
}

/** The first plan comment in a list of forge comments ({id, body}); GitLab's system notes are not. */
function findIn(items: unknown): Found | undefined {
  if (!Array.isArray(items)) return undefined;
  for (const c of items as Array<{ id?: unknown; body?: unknown; system?: unknown }>) {
    if (typeof c?.id === 'number' && c.system !== true && isPlanComment(c.body)) return { id: c.id, body: c.body as string };
  }
  return undefined;
}

const idOf = (data: unknown): number => {
  const id = (data as { id?: unknown } | undefined)?.id;
  return typeof id === 'number' ? id : 0;
};

async function github(g: GitHubSink, creds: SinkCredentials, number: number, body: string, deps: SinkDeps): Promise<CommentResult> {
  const octokit = octokitFor(g, creds, deps);
  const where = { owner: g.owner, repo: g.repo };
  try {
    let found: Found | undefined;
    for (let page = 1; page <= MAX_PAGES && !found; page++) {
      const r = await octokit.rest.issues.listComments({ ...where, issue_number: number, per_page: 100, page });
      found = findIn(r.data);
      if (r.data.length < 100) break;
    }
    if (found && found.body === body) return { ok: true, action: 'unchanged', id: found.id };
    if (found) {
      await octokit.rest.issues.updateComment({ ...where, comment_id: found.id, body });
      return { ok: true, action: 'updated', id: found.id };
    }
    const created = await octokit.rest.issues.createComment({ ...where, issue_number: number, body });
    return { ok: true, action: 'created', id: created.data.id };
  } catch (err) {
    return octokitFailure(err);
  }
}

/** GitLab and Gitea: list (paged or not), then PUT/PATCH the one found or POST a new one. */
async function rest(
  deps: SinkDeps,
  headers: Record<string, string>,
  urls: { list: (page: number) => string; paged: boolean; create: string; update: (id: number) => string; updateMethod: 'PUT' | 'PATCH' },
  body: string,
): Promise<CommentResult> {
  let found: Found | undefined;
  for (let page = 1; page <= (urls.paged ? MAX_PAGES : 1) && !found; page++) {
    const r = await requestJson(deps, 'GET', urls.list(page), undefined, headers);
    if (!r.result.ok) return r.result;
    if (!Array.isArray(r.data)) return failed(undefined, 'the comment list is not a JSON array');
    found = findIn(r.data);
    if (r.data.length < 100) break;
  }
  const payload = JSON.stringify({ body });
  if (found && found.body === body) return { ok: true, action: 'unchanged', id: found.id };
  if (found) {
    const r = await requestJson(deps, urls.updateMethod, urls.update(found.id), payload, headers);
    return r.result.ok ? { ok: true, action: 'updated', id: found.id } : r.result;
  }
  const r = await requestJson(deps, 'POST', urls.create, payload, headers);
  return r.result.ok ? { ok: true, action: 'created', id: idOf(r.data) } : r.result;
}

function gitlab(g: GitLabSink, creds: SinkCredentials, number: number, body: string, deps: SinkDeps): Promise<CommentResult> {
  const notes = `${trimSlash(g.baseUrl ?? 'https://gitlab.com')}/api/v4/projects/${encodeURIComponent(g.project)}/merge_requests/${number}/notes`;
  return rest(
    deps,
    { 'private-token': creds.token! },
    { list: (page) => `${notes}?sort=asc&order_by=created_at&per_page=100&page=${page}`, paged: true, create: notes, update: (id) => `${notes}/${id}`, updateMethod: 'PUT' },
    body,
  );
}

function gitea(g: GiteaSink, creds: SinkCredentials, number: number, body: string, deps: SinkDeps): Promise<CommentResult> {
  const repo = `${trimSlash(g.baseUrl)}/api/v1/repos/${encodeURIComponent(g.owner)}/${encodeURIComponent(g.repo)}/issues`;
  return rest(
    deps,
    { authorization: `token ${creds.token!}` },
    { list: () => `${repo}/${number}/comments`, paged: false, create: `${repo}/${number}/comments`, update: (id) => `${repo}/comments/${id}`, updateMethod: 'PATCH' },
    body,
  );
}

/** Creates the plan comment on pull request `number`, or updates the one there (by its marker). */
export async function upsertPlanComment(sink: NotificationSink, creds: SinkCredentials, number: number, body: string, deps: SinkDeps): Promise<CommentResult> {
  if (sink.github) return github(sink.github, creds, number, body, deps);
  if (sink.gitlab) return gitlab(sink.gitlab, creds, number, body, deps);
  if (sink.gitea) return gitea(sink.gitea, creds, number, body, deps);
  return { ok: false, detail: 'not a forge sink', permanent: true };
}
