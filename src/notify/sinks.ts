// One delivery to one sink: the generic webhook (signed JSON), a Slack incoming webhook, or a
// commit status on GitHub (@octokit/rest), GitLab or Gitea. Effects (fetch, timeout) injected;
// results carry the HTTP status and never a URL or credential.
import { Octokit } from '@octokit/rest';
import type { GitHubSink, NotificationSink, SinkType } from '../api/index.js';
import type { SinkCredentials } from './secrets.js';
import { SIGNATURE_HEADER, signBody } from './signature.js';
import type { RenderedMessage } from './template.js';
import { statusContext, statusDescription, statusState, type Occurrence } from './triggers.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface SinkDeps {
  fetch: FetchLike;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
}

export type SendResult = { ok: true } | SendFailure;
export type SendFailure = { ok: false; status?: number; detail: string; permanent: boolean };

/** What a delivery carries besides the sink. */
export interface DeliveryInput {
  notification: { namespace: string; name: string };
  occurrence: Occurrence;
  message: RenderedMessage;
  /** A stable id of this delivery (same on every retry), sent as X-Capstan-Delivery. */
  deliveryId: string;
  /** For a `plan`: the pull request planned (added to the webhook's JSON). */
  pullRequest?: { provider: string; number: number; headRef: string; baseBranch: string; url?: string };
}

/** Forge sinks set commit statuses: only occurrences that name a commit. */
export function sinkApplies(type: SinkType, o: Occurrence): boolean {
  if (type === 'github' || type === 'gitlab' || type === 'gitea') return o.commit !== undefined && /^[0-9a-f]{7,64}$/i.test(o.commit);
  return true;
}

/** The generic webhook's JSON body. */
export function webhookPayload(d: DeliveryInput): Record<string, unknown> {
  const o = d.occurrence;
  return {
    notification: d.notification,
    trigger: o.trigger,
    kind: o.kind,
    namespace: o.namespace ?? null,
    name: o.name,
    reason: o.reason ?? null,
    revision: o.revision ?? null,
    commit: o.commit ?? null,
    message: o.message,
    at: o.at,
    title: d.message.title,
    body: d.message.body,
    ...(d.pullRequest ? { pullRequest: d.pullRequest } : {}),
  };
}

/** The Slack incoming-webhook body: `text` (the fallback) and one mrkdwn section. */
export function slackPayload(m: RenderedMessage): { text: string; blocks: unknown[] } {
  const text = m.title ? `*${m.title}*\n${m.body}` : m.body;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } }] };
}

const retryable = (status: number): boolean => status >= 500 || status === 408 || status === 429;

export function failed(status: number | undefined, detail: string): SendFailure {
  return { ok: false, ...(status !== undefined ? { status } : {}), detail, permanent: status !== undefined && !retryable(status) };
}

/** One JSON request under the timeout; `data` is the parsed answer of a success (undefined when not JSON). */
export async function requestJson(deps: SinkDeps, method: string, url: string, body: string | undefined, headers: Record<string, string>): Promise<{ result: SendResult; data?: unknown }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), deps.timeoutMs ?? 10_000);
  try {
    const res = await deps.fetch(url, {
      method,
      ...(body !== undefined ? { body } : {}),
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), accept: 'application/json', 'user-agent': 'capstan-notify', ...headers },
      signal: abort.signal,
      redirect: 'error',
    });
    const text = await res.text().catch(() => '');
    if (!res.ok) return { result: failed(res.status, `HTTP ${res.status}`) };
    let data: unknown;
    try {
      data = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      data = undefined;
    }
    return { result: { ok: true }, data };
  } catch (err) {
    return { result: failed(undefined, abort.signal.aborted ? 'no answer in time' : networkDetail(err)) };
  } finally {
    clearTimeout(timer);
  }
}

async function post(deps: SinkDeps, url: string, body: string, headers: Record<string, string>): Promise<SendResult> {
  return (await requestJson(deps, 'POST', url, body, headers)).result;
}

/** A network error's code only (ECONNREFUSED…): its message may name the URL. */
export function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code ? `not reachable (${code})` : 'not reachable';
}

const silentLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export const trimSlash = (u: string): string => u.replace(/\/+$/, '');

/** An Octokit for a GitHub sink: its base URL, the token, the injected fetch and timeout, no logging. */
export function octokitFor(g: GitHubSink, creds: SinkCredentials, deps: SinkDeps): Octokit {
  return new Octokit({
    auth: creds.token,
    baseUrl: trimSlash(g.baseUrl ?? 'https://api.github.com'),
    userAgent: 'capstan-notify',
    log: silentLog,
    request: { fetch: deps.fetch, timeout: deps.timeoutMs ?? 10_000 },
  });
}

/** An Octokit error as a result: its HTTP status, or the network error's code. */
export function octokitFailure(err: unknown): SendFailure {
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status > 0 ? failed(status, `HTTP ${status}`) : failed(undefined, networkDetail(err));
}

export async function sendToSink(sink: NotificationSink, creds: SinkCredentials, d: DeliveryInput, deps: SinkDeps): Promise<SendResult> {
  const o = d.occurrence;
  if (sink.webhook) {
    const body = JSON.stringify(webhookPayload(d));
    const headers: Record<string, string> = { 'x-capstan-event': o.trigger, 'x-capstan-delivery': d.deliveryId };
    if (creds.hmacKey) headers[SIGNATURE_HEADER.toLowerCase()] = signBody(creds.hmacKey, body);
    return post(deps, creds.url!, body, headers);
  }
  if (sink.slack) return post(deps, creds.url!, JSON.stringify(slackPayload(d.message)), {});
  const state = statusState(o.trigger);
  const context = statusContext(o);
  const description = statusDescription(o);
  const sha = o.commit!;
  if (sink.github) {
    const g = sink.github;
    try {
      await octokitFor(g, creds, deps).rest.repos.createCommitStatus({ owner: g.owner, repo: g.repo, sha, state, context, description });
      return { ok: true };
    } catch (err) {
      return octokitFailure(err);
    }
  }
  if (sink.gitlab) {
    const g = sink.gitlab;
    const url = `${trimSlash(g.baseUrl ?? 'https://gitlab.com')}/api/v4/projects/${encodeURIComponent(g.project)}/statuses/${sha}`;
    const glState = state === 'failure' ? 'failed' : state === 'pending' ? (o.trigger === 'paused' ? 'pending' : 'running') : 'success';
    return post(deps, url, JSON.stringify({ state: glState, name: context, description }), { 'private-token': creds.token! });
  }
  if (sink.gitea) {
    const g = sink.gitea;
    const url = `${trimSlash(g.baseUrl)}/api/v1/repos/${encodeURIComponent(g.owner)}/${encodeURIComponent(g.repo)}/statuses/${sha}`;
    return post(deps, url, JSON.stringify({ state, context, description }), { authorization: `token ${creds.token!}` });
  }
  return { ok: false, detail: 'no sink type set', permanent: true };
}
