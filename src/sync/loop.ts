// The sync loop: source → render → validate → plan → apply, on a schedule and on demand.
// Runs never overlap; a run that finds errors applies nothing and says why in the sync state.

import type { AdmissionLimits } from '../api/index.js';
import { schedule as cronSchedule, validate as cronValid, type ScheduledTask } from 'node-cron';
import { STORE_PREFIX } from '../api/cluster.js';
import { CapstanError, formatDiagnostic, isCapstanError, type Logger } from '../common/index.js';
import { toProblem, type PlanProblem } from '../plan/index.js';
import { DesiredTracker } from '../render/index.js';
import type { CommitInfo, Source } from '../source/types.js';
import type { KV } from '../store/types.js';
import type { Plan } from '../plan/index.js';
import { applyPlan, planAgainstStore, pruneHeldReason, readDesired } from './apply.js';
import { buildPlanRecord, parseSyncPlanKey, planRecordsToDelete, syncPlanKey, syncPlanPrefix } from './plan-record.js';

export type SyncPhase = 'Synced' | 'Invalid' | 'PruneHeld' | 'Conflict' | 'Failed';

/** The record of the last sync of a source, kept at `/capstan/sync/<id>`. */
export interface SyncState {
  id: string;
  location: string;
  ref?: string;
  phase: SyncPhase;
  /** The commit the store's desired objects come from (last one applied). */
  syncedCommit?: string;
  /** The commit the last run looked at (may differ when it was not applied). */
  seenCommit?: string;
  message: string;
  errors: PlanProblem[];
  summary?: { create: number; update: number; delete: number; unchanged: number };
  /** Set when the applied commit does not contain the one synced before it (a force push). */
  historyRewritten?: { from: string; to: string };
  trigger: string;
  at: string;
}

export interface SyncLoopOptions {
  id?: string;
  source: Source;
  ref?: string;
  kv: KV;
  logger: Logger;
  now?: () => Date;
  /** node-cron expression for polling (default every minute). */
  schedule?: string;
  allowMassPrune?: boolean;
  /**
   * Where the loop records events: a force push between two syncs, a commit refused
   * (InvalidCommit), held (PruneHeld) or not readable (SyncFailed), and the recovery (Synced).
   */
  events?: { record(e: { namespace: string; object: string; type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void> };
  /**
   * Called once when a run's outcome is news: a commit refused, held or unreadable that the
   * previous run did not already report, or the first good sync after one. The server prints it.
   */
  onChange?: (state: SyncState, previous: SyncState | undefined) => void;
  /** Limits every commit must meet before it is applied (`--max-replicas`). */
  admission?: Partial<AdmissionLimits>;
  /** `--allow-unknown-fields`: a field no Kubernetes object has warns instead of refusing the commit. */
  allowUnknownFields?: boolean;
}

const MAX_ERRORS_KEPT = 50;

export function syncStateKey(id: string): string {
  return `${STORE_PREFIX.sync}${id}`;
}

const NEWS_REASON: Partial<Record<SyncPhase, string>> = { Invalid: 'InvalidCommit', PruneHeld: 'PruneHeld', Failed: 'SyncFailed', Synced: 'Synced' };

function shortCommit(commit: string | undefined): string {
  return commit ? commit.slice(0, 12) : 'the source';
}

/**
 * True when a run's outcome should be told: a problem (refused, held, failed) with a commit or
 * message the previous run did not report, or a good sync right after a problem. Conflict is a
 * retry, never news; so is the same refusal seen again on the next poll.
 */
export function isNews(state: SyncState, previous: SyncState | undefined): boolean {
  if (state.phase === 'Conflict') return false;
  if (state.phase === 'Synced') return previous !== undefined && previous.phase !== 'Synced' && previous.phase !== 'Conflict';
  return previous === undefined || previous.phase !== state.phase || previous.seenCommit !== state.seenCommit || (state.phase === 'Failed' && previous.message !== state.message);
}

export class SyncLoop {
  readonly id: string;
  private readonly tracker: DesiredTracker;
  private readonly now: () => Date;
  private readonly log: Logger;
  private running: Promise<SyncState> | undefined;
  private task: ScheduledTask | undefined;

  constructor(private readonly options: SyncLoopOptions) {
    this.id = options.id ?? 'default';
    this.tracker = new DesiredTracker(options.source, {
      ...(options.admission ? { admission: options.admission } : {}),
      ...(options.allowUnknownFields ? { allowUnknownFields: true } : {}),
    });
    this.now = options.now ?? (() => new Date());
    this.log = options.logger.child({ component: 'sync', source: options.source.location });
  }

  /** Start polling on the cron schedule. */
  start(): void {
    const expr = this.options.schedule ?? '* * * * *';
    if (!cronValid(expr)) throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `sync schedule "${expr}" is not a valid cron expression`);
    this.task = cronSchedule(expr, () => {
      this.sync('poll').catch((err: unknown) => this.log.error({ err }, 'scheduled sync failed'));
    });
  }

  async stop(): Promise<void> {
    await this.task?.stop();
    this.task = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Sync now; a call while a run is in progress waits for it and then runs again. */
  private async historyRewritten(from: string | undefined, to: string | undefined): Promise<{ from: string; to: string } | undefined> {
    const isAncestor = this.options.source.isAncestor?.bind(this.options.source);
    if (!from || !to || from === to || !isAncestor) return undefined;
    return (await isAncestor(from, to)) ? undefined : { from, to };
  }

  async sync(trigger = 'manual', options: { allowMassPrune?: boolean } = {}): Promise<SyncState> {
    const previous = this.running?.catch(() => undefined);
    const run = (async () => {
      await previous;
      const before = await this.readState();
      const state = await this.runOnce(trigger, options.allowMassPrune ?? this.options.allowMassPrune ?? false, before);
      await this.announce(state, before);
      return state;
    })();
    this.running = run;
    return run;
  }

  /** One run; `previous` is the state the last run left (read once by sync()). */
  private async runOnce(trigger: string, allowMassPrune: boolean, previous: SyncState | undefined): Promise<SyncState> {
    const at = this.now();
    const base = { id: this.id, location: this.options.source.location, ref: this.options.ref, trigger, at: at.toISOString() };
    let state: SyncState;
    try {
      const desired = await this.tracker.update(this.options.ref);
      const commit = desired.snapshot.commit;
      if (desired.errors.length > 0) {
        state = {
          ...base,
          phase: 'Invalid',
          syncedCommit: previous?.syncedCommit,
          seenCommit: commit,
          message: `${desired.errors.length} error(s) in ${commit ? commit.slice(0, 12) : 'the source'}; nothing was applied: ${formatDiagnostic(desired.errors[0]!)}`,
          errors: desired.errors.slice(0, MAX_ERRORS_KEPT).map(toProblem),
        };
        await this.writeState(state);
        this.log.warn({ commit, errors: desired.errors.length }, 'sync refused: invalid manifests');
        return state;
      }
      const current = await readDesired(this.options.kv);
      const plan = planAgainstStore(desired.objects, current, { location: base.location, ref: desired.snapshot.ref, commit });
      // Errors only the store can show (an immutable ConfigMap or Secret changed): refused whole.
      if (plan.errors.length > 0) {
        const first = plan.errors[0]!;
        const where = `${first.file}${first.line !== undefined ? `:${first.line}:${first.column ?? 1}` : ''}`;
        state = {
          ...base,
          phase: 'Invalid',
          syncedCommit: previous?.syncedCommit,
          seenCommit: commit,
          message: `${plan.errors.length} error(s) in ${commit ? commit.slice(0, 12) : 'the source'}; nothing was applied: ${where}: ${first.message} [${first.code}]`,
          errors: plan.errors.slice(0, MAX_ERRORS_KEPT),
        };
        await this.writeState(state);
        this.log.warn({ commit, errors: plan.errors.length }, 'sync refused: changes the store does not allow');
        return state;
      }
      const held = pruneHeldReason(plan, current.records.size, { allowMassPrune });
      if (held) {
        state = { ...base, phase: 'PruneHeld', syncedCommit: previous?.syncedCommit, seenCommit: commit, message: held, errors: [], summary: plan.summary };
        await this.writeState(state);
        this.log.warn({ commit, deletes: plan.summary.delete }, 'sync held: mass prune');
        return state;
      }
      const rewritten = await this.historyRewritten(previous?.syncedCommit, commit);
      state = {
        ...base,
        ...(rewritten ? { historyRewritten: rewritten } : {}),
        phase: 'Synced',
        syncedCommit: commit,
        seenCommit: commit,
        message: `${plan.summary.create} created, ${plan.summary.update} updated, ${plan.summary.delete} deleted`,
        errors: [],
        summary: plan.summary,
      };
      // A new commit, or the same one changing the store again, keeps what it applied.
      const keepPlan = commit !== undefined && (commit !== previous?.syncedCommit || plan.changes.length > 0);
      const commitInfo = commit && (keepPlan || plan.changes.length > 0) ? await this.describe(commit) : undefined;
      const planRecord = keepPlan ? await this.planRecordOps(commit!, plan, previous?.syncedCommit, commitInfo, at, this.options.ref) : undefined;
      const applied = await applyPlan({
        kv: this.options.kv,
        desired: desired.objects,
        current,
        plan,
        commit,
        ...(commitInfo && plan.changes.length > 0 ? { commitInfo } : {}),
        now: at,
        alsoPut: [{ key: syncStateKey(this.id), value: JSON.stringify(state) }, ...(planRecord ? [planRecord.put] : [])],
        ...(planRecord && planRecord.deletes.length > 0 ? { alsoDelete: planRecord.deletes } : {}),
      });
      if (!applied.applied) {
        state = { ...state, phase: 'Conflict', syncedCommit: previous?.syncedCommit, message: 'desired objects changed while syncing; will retry' };
        await this.writeState(state);
        return state;
      }
      if (plan.changes.length > 0) this.log.info({ commit, ...plan.summary }, 'synced');
      if (rewritten) {
        const message = `history of ${this.options.ref ?? 'the branch'} was rewritten (force push): synced ${rewritten.to.slice(0, 12)}, which does not contain the previously synced ${rewritten.from.slice(0, 12)}`;
        this.log.warn({ ...rewritten }, message);
        await this.options.events?.record({ namespace: 'default', object: `Source/${this.id}`, type: 'Warning', reason: 'HistoryRewritten', message });
      }
      return state;
    } catch (err) {
      const message = isCapstanError(err) ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err);
      state = { ...base, phase: 'Failed', syncedCommit: previous?.syncedCommit, message, errors: [] };
      await this.writeState(state).catch(() => undefined);
      this.log.error({ err: message }, 'sync failed');
      return state;
    }
  }

  /** An event and the onChange call when the outcome differs from what the last run said. */
  private async announce(state: SyncState, previous: SyncState | undefined): Promise<void> {
    if (!isNews(state, previous)) return;
    const reason = NEWS_REASON[state.phase];
    if (reason) {
      const type = state.phase === 'Synced' ? 'Normal' : 'Warning';
      const message = state.phase === 'Synced' ? `synced ${shortCommit(state.syncedCommit)} after ${previous?.phase}: ${state.message}` : state.message;
      await this.options.events?.record({ namespace: 'default', object: `Source/${this.id}`, type, reason, message }).catch((err: unknown) => this.log.debug({ err }, 'sync event not recorded'));
    }
    try {
      this.options.onChange?.(state, previous);
    } catch (err) {
      this.log.debug({ err }, 'sync change listener failed');
    }
  }

  async readState(): Promise<SyncState | undefined> {
    const kv = await this.options.kv.get(syncStateKey(this.id));
    return kv ? (JSON.parse(new TextDecoder().decode(kv.value)) as SyncState) : undefined;
  }

  /**
   * The commit's plan record for the dashboard and the older records of this source to delete,
   * written with the apply so that the newest PLAN_RECORDS_KEPT remain.
   */
  private async planRecordOps(commit: string, plan: Plan, previousCommit: string | undefined, info: CommitInfo | undefined, at: Date, ref: string | undefined): Promise<{ put: { key: string; value: string }; deletes: string[] }> {
    const key = syncPlanKey(this.id, commit);
    const record = buildPlanRecord({
      sourceId: this.id,
      location: this.options.source.location,
      ...(ref !== undefined ? { ref } : {}),
      commit,
      ...(previousCommit !== undefined ? { previousCommit } : {}),
      ...(info ? { author: info.author, message: info.summary } : {}),
      at,
      plan,
    });
    const existing = await this.options.kv.range(syncPlanPrefix(this.id), { prefix: true, keysOnly: true });
    const mine = existing.kvs.filter((kv) => parseSyncPlanKey(kv.key)?.sourceId === this.id).map((kv) => ({ key: kv.key, modRevision: kv.modRevision }));
    return { put: { key, value: JSON.stringify(record) }, deletes: planRecordsToDelete(mine, key) };
  }

  /** Author and summary of a commit for history entries; nothing when the source cannot tell. */
  private async describe(commit: string): Promise<CommitInfo | undefined> {
    try {
      return await this.options.source.describeCommit?.(commit);
    } catch (err) {
      this.log.debug({ commit, err }, 'commit author and message not readable');
      return undefined;
    }
  }

  private async writeState(state: SyncState): Promise<void> {
    await this.options.kv.put(syncStateKey(this.id), JSON.stringify(state));
  }
}
