// Delivery of a pull request's plan to the Notifications that list the `plan` trigger: a forge
// sink of the pull request's own forge gets the one plan comment on it (created, then updated),
// a webhook or Slack sink the Markdown as the message body. Credentials, retries with jittered
// back-off, the bounded attempts and the NotificationSent / NotificationFailed events are the
// notify controller's; no credential reaches a log line, an event or an error.
import type { NotificationSink } from '../api/index.js';
import { isCapstanError, silentLogger, type Logger } from '../common/index.js';
import { EventRecorder, systemClock, type Clock } from '../controllers/index.js';
import type { KV } from '../store/index.js';
import { DEFAULT_DELIVERY_RETRY, JitteredBackoff, type DeliveryRetryOptions } from './backoff.js';
import { REASON_FAILED, REASON_SENT } from './controller.js';
import { PLAN_COMMENT_MARKER, planCommentBody, upsertPlanComment, type CommentAction } from './plan-comment.js';
import { appliedNotifications, deliveredKey } from './records.js';
import { scrub, sinkCredentials, sinkType, type SinkCredentials } from './secrets.js';
import { notificationWants, occurrenceFields, type AppliedNotification } from './select.js';
import { sendToSink, type FetchLike, type SendFailure } from './sinks.js';
import { renderText } from './template.js';
import type { Occurrence } from './triggers.js';

/** The pull request a plan is about (webhooks' PullRequestEvent has these fields). */
export interface PullRequestRef {
  provider: 'github' | 'gitlab' | 'gitea';
  number: number;
  headSha: string;
  /** `refs/pull/N/head`, `refs/merge-requests/N/head`. */
  headRef: string;
  baseBranch: string;
  title?: string;
  url?: string;
}

export const DEFAULT_PLAN_TITLE = 'Capstan plan for pull request #{{ pullRequest }}';

export interface PlanDeliveryOptions {
  kv: KV;
  logger?: Logger;
  clock?: Clock;
  events?: EventRecorder;
  /** Injected for tests; default the global fetch. */
  fetch?: FetchLike;
  retry?: DeliveryRetryOptions;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Waits between attempts (default a timer). */
  sleep?: (ms: number) => Promise<void>;
}

export interface PlanDeliveryInput {
  occurrence: Occurrence;
  markdown: string;
  pullRequest: PullRequestRef;
}

type Outcome = { ok: true; action?: CommentAction } | SendFailure;

/** Forge sinks comment only on pull requests of their own forge (the number means nothing elsewhere). */
export function planSinkApplies(sink: NotificationSink, pr: Pick<PullRequestRef, 'provider'>): boolean {
  const type = sinkType(sink);
  if (type === 'github' || type === 'gitlab' || type === 'gitea') return type === pr.provider;
  return type !== undefined;
}

/** Delivers a plan to every sink that wants it; resolves with how many deliveries succeeded and failed for good. */
export async function deliverPlan(options: PlanDeliveryOptions, input: PlanDeliveryInput): Promise<{ sent: number; failed: number }> {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: 'notify-controller', clock, logger: log });
  const maxAttempts = Math.max(1, options.retry?.maxAttempts ?? DEFAULT_DELIVERY_RETRY.maxAttempts);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deps = { fetch: options.fetch ?? ((url: string, init?: RequestInit) => fetch(url, init)), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) };
  const { occurrence: o, markdown, pullRequest: pr } = input;
  const about = `plan of pull request #${pr.number}`;
  const comment = planCommentBody(markdown);
  const prInfo = { provider: pr.provider, number: pr.number, headRef: pr.headRef, baseBranch: pr.baseBranch, ...(pr.url ? { url: pr.url } : {}) };

  async function attempt(n: AppliedNotification, sink: NotificationSink, creds: SinkCredentials, deliveryId: string): Promise<Outcome> {
    if (sink.github || sink.gitlab || sink.gitea) return upsertPlanComment(sink, creds, pr.number, comment, deps);
    const meta = n.notification.metadata;
    const vars = { ...occurrenceFields(o), notification: meta.name, pullRequest: pr.number, headRef: pr.headRef, baseBranch: pr.baseBranch, title: pr.title ?? null, url: pr.url ?? null };
    const title = (await renderText(n.notification.spec.template?.title ?? DEFAULT_PLAN_TITLE, vars)).trim();
    // Slack shows an HTML comment as text: the marker is for forges and webhook receivers.
    const body = sink.slack ? markdown.split('\n').filter((l) => l.trim() !== PLAN_COMMENT_MARKER).join('\n').trimEnd() : markdown;
    return sendToSink(sink, creds, { notification: { namespace: meta.namespace ?? 'default', name: meta.name }, occurrence: o, message: { title, body }, deliveryId, pullRequest: prInfo }, deps);
  }

  async function toSink(n: AppliedNotification, sink: NotificationSink, i: number): Promise<boolean> {
    const meta = n.notification.metadata;
    const namespace = meta.namespace ?? 'default';
    const type = sinkType(sink)!;
    const key = deliveredKey(namespace, meta.name, o.id);
    const deliveryId = `${key.slice(key.lastIndexOf('/') + 1)}-${i}`;
    const limiter = new JitteredBackoff(options.retry ?? {});
    const object = `Notification/${meta.name}`;
    const fields = { notification: `${namespace}/${meta.name}`, sink: type, trigger: o.trigger, pullRequest: pr.number };
    let creds: SinkCredentials = {};
    let result: Outcome = { ok: false, detail: 'not tried', permanent: true };
    let tries = 0;
    for (tries = 1; tries <= maxAttempts; tries++) {
      try {
        creds = await sinkCredentials(kv, namespace, sink);
        result = await attempt(n, sink, creds, deliveryId);
      } catch (err) {
        if (!isCapstanError(err)) throw err;
        result = { ok: false, detail: `${err.message} [${err.code}]`, permanent: true };
      }
      if (result.ok || result.permanent || tries === maxAttempts) break;
      log.warn({ ...fields, attempt: tries, ...(result.status !== undefined ? { status: result.status } : {}), detail: scrub(result.detail, [creds.url, creds.token, creds.hmacKey]) }, 'plan not delivered; retrying');
      await sleep(limiter.when(deliveryId));
    }
    if (result.ok) {
      const how = result.action ? `${result.action === 'created' ? 'commented on' : result.action === 'updated' ? 'comment updated on' : 'comment already current on'} ${type}` : `sent to ${type}`;
      log.info({ ...fields, attempt: tries, ...(result.action ? { comment: result.action } : {}) }, 'plan delivered');
      await events.record({ namespace, object, type: 'Normal', reason: REASON_SENT, message: `${about} ${how} (spec.sinks[${i}])` });
      return true;
    }
    const detail = scrub(result.detail, [creds.url, creds.token, creds.hmacKey]);
    log.warn({ ...fields, attempt: tries, ...(result.status !== undefined ? { status: result.status } : {}), detail }, 'plan not delivered');
    await events.record({
      namespace,
      object,
      type: 'Warning',
      reason: REASON_FAILED,
      message: `${type} sink (spec.sinks[${i}]): ${about} not delivered after ${tries} attempt${tries === 1 ? '' : 's'}: ${detail}`,
    });
    return false;
  }

  const wanted = (await appliedNotifications(kv)).filter((n) => notificationWants(n, o, {}));
  const jobs: Promise<boolean>[] = [];
  for (const n of wanted) n.notification.spec.sinks.forEach((sink, i) => planSinkApplies(sink, pr) && jobs.push(toSink(n, sink, i)));
  const results = await Promise.all(jobs);
  return { sent: results.filter(Boolean).length, failed: results.filter((r) => !r).length };
}
