// The plan of a pull request: its head (fetched from the ref the forge keeps it at) against the
// branch it would merge into, rendered as Markdown, with every error at file:line:col — what a
// reviewer needs before merging. `pullRequestPlanner` runs one plan at a time per pull request
// (a newer head waiting replaces an older one) and hands each to the plan deliverer.
import type { SourcedObject } from '../api/types.js';
import { isCapstanError, silentLogger, type Diagnostic, type Logger } from '../common/index.js';
import { computePlan, renderMarkdown, type Plan } from '../plan/index.js';
import { loadDesiredFrom, type DesiredOptions, type DesiredState } from '../render/index.js';
import type { Source } from '../source/index.js';
import { deliverPlan, type PlanDeliveryOptions, type PullRequestRef } from './plan-delivery.js';
import { scrub } from './secrets.js';
import type { Occurrence } from './triggers.js';

export interface PullRequestPlan {
  /** Undefined when the head or the base could not be read (`markdown` says why). */
  plan?: Plan;
  markdown: string;
  /** The head commit planned (the payload's when the head could not be read). */
  commit: string;
  /** One line: the counts, or the first error. */
  summary: string;
  firstError?: string;
}

const where = (d: Pick<Diagnostic, 'file' | 'line' | 'column'>): string => `${d.file}${d.line !== undefined ? `:${d.line}:${d.column ?? 1}` : ''}`;

/** A read of the head or base that failed, said in the comment (the message names no credential); other errors are thrown. */
function unreadable(pr: PullRequestRef, what: string, err: unknown): PullRequestPlan {
  if (!isCapstanError(err)) throw err;
  const message = scrub(`${err.message} [${err.code}]`, []);
  const markdown = `### Capstan plan: pull request #${pr.number}\n\n:x: Capstan could not read ${what}: ${message.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'))}\n`;
  return { markdown, commit: pr.headSha, summary: `pull request #${pr.number}: could not read ${what}` };
}

async function loadHead(source: Source, pr: PullRequestRef, options: DesiredOptions): Promise<DesiredState> {
  try {
    return await loadDesiredFrom(source, { ...options, ref: pr.headRef });
  } catch (err) {
    // A local repository has no forge refs unless someone pushed them: the commit itself, then.
    if (source.kind === 'local-git' && isCapstanError(err) && err.code === 'CAPSTAN_ERR_SOURCE_REF_NOT_FOUND') return loadDesiredFrom(source, { ...options, ref: pr.headSha });
    throw err;
  }
}

/**
 * Plans `pr`'s head against its base branch, as `capstan plan --base <branch>` would. A source
 * that is a plain folder has no refs: undefined (nothing to plan).
 */
export async function planPullRequest(source: Source, pr: PullRequestRef, options: DesiredOptions = {}): Promise<PullRequestPlan | undefined> {
  if (source.kind === 'folder') return undefined;
  let head: DesiredState;
  try {
    head = await loadHead(source, pr, options);
  } catch (err) {
    return unreadable(pr, `${pr.headRef} of ${source.location}`, err);
  }
  let before: DesiredState;
  try {
    before = await loadDesiredFrom(source, { ...options, ref: pr.baseBranch });
  } catch (err) {
    return unreadable(pr, `the base branch ${pr.baseBranch} of ${source.location}`, err);
  }
  // A force push to a pull request is how it is updated, not news.
  const rewritten = `history of ${pr.headRef} was rewritten`;
  const warnings: Diagnostic[] = head.warnings.filter((w) => !w.message.startsWith(rewritten));
  if (before.errors.length > 0) {
    warnings.push({
      severity: 'warning',
      code: 'CAPSTAN_ERR_PLAN_FAILED',
      file: before.errors[0]!.file,
      line: before.errors[0]!.line,
      message: `the base ${pr.baseBranch} itself has ${before.errors.length} error(s); its valid objects were compared`,
    });
  }
  const current: SourcedObject[] = before.objects;
  const commit = head.snapshot.commit ?? pr.headSha;
  const plan = computePlan({
    source: { location: head.snapshot.location, ref: pr.headRef, commit },
    desired: head.objects,
    errors: head.errors,
    warnings,
    base: { kind: 'ref', location: before.snapshot.location, ref: pr.baseBranch, commit: before.snapshot.commit ?? null },
    current,
  });
  const s = plan.summary;
  const first = plan.errors[0];
  const firstError = first ? `${where(first)}: ${first.message}` : undefined;
  const summary = firstError
    ? `pull request #${pr.number}: ${plan.errors.length} error(s), the first at ${firstError}`
    : `pull request #${pr.number}: ${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged`;
  return { plan, markdown: renderMarkdown(plan), commit, summary, ...(firstError ? { firstError } : {}) };
}

/** The occurrence a plan is delivered as: trigger `plan`, on the source, at the head commit. */
export function planOccurrence(sourceName: string, pr: PullRequestRef, planned: PullRequestPlan, at: string): Occurrence {
  return {
    id: `plan:${sourceName}/${pr.provider}/${pr.number}/${planned.commit}`,
    trigger: 'plan',
    kind: 'Source',
    name: sourceName,
    message: planned.summary,
    reason: planned.plan ? (planned.plan.errors.length > 0 ? 'Invalid' : 'Planned') : 'Unreadable',
    commit: planned.commit,
    ...(planned.firstError ? { firstError: planned.firstError } : {}),
    at,
  };
}

export interface PullRequestPlannerOptions extends PlanDeliveryOptions {
  source: Source;
  /** The sync loop's source name (default `default`). */
  sourceName?: string;
  /** What the sync loop reads with (admission limits, unknown fields), so the plan's errors are a sync's. */
  desired?: DesiredOptions;
}

export interface PullRequestPlanner {
  /** Plans and delivers `pr`; resolves once a plan covering it (this head or a newer one) is delivered. */
  plan(pr: PullRequestRef): Promise<void>;
}

interface Lane {
  running: boolean;
  next?: PullRequestRef;
  waiting: (() => void)[];
}

export function pullRequestPlanner(options: PullRequestPlannerOptions): PullRequestPlanner {
  const log = (options.logger ?? silentLogger()).child({ component: 'pr-plan' });
  const now = options.clock ? () => options.clock!.now() : Date.now;
  const lanes = new Map<string, Lane>();

  async function once(pr: PullRequestRef): Promise<void> {
    const planned = await planPullRequest(options.source, pr, options.desired ?? {});
    if (!planned) {
      log.info({ pullRequest: pr.number }, 'pull request not planned: the source is a plain folder, which has no refs');
      return;
    }
    const occurrence = planOccurrence(options.sourceName ?? 'default', pr, planned, new Date(now()).toISOString());
    const r = await deliverPlan({ ...options, logger: log }, { occurrence, markdown: planned.markdown, pullRequest: pr });
    log.info({ provider: pr.provider, pullRequest: pr.number, commit: planned.commit, sent: r.sent, failed: r.failed }, 'pull request planned');
  }

  async function drain(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.next) {
      const pr = lane.next;
      delete lane.next;
      const waiting = lane.waiting.splice(0);
      await once(pr).catch((err: unknown) => log.error({ err, pullRequest: pr.number }, 'plan of a pull request failed'));
      for (const w of waiting) w();
    }
    lanes.delete(key);
  }

  return {
    plan(pr) {
      return new Promise<void>((resolve) => {
        const key = `${pr.provider}/${pr.number}`;
        let lane = lanes.get(key);
        if (!lane) {
          lane = { running: false, waiting: [] };
          lanes.set(key, lane);
        }
        lane.next = pr;
        lane.waiting.push(resolve);
        if (!lane.running) void drain(key, lane);
      });
    },
  };
}
