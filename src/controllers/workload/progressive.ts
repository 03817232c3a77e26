// Canary and blue-green in the workload controller: the operator's override record (promote,
// abort, pause, analysis results) and the traffic records of the Services in front of the
// workload. Reading is one more consistent range per prefix; writing joins the pass's txn.
import { STORE_PREFIX, type TrafficPolicy } from '../../api/cluster.js';
import type { AnalysisPhase, ProgressiveState, RolloutDecision, StrategySpec } from '../../rollout/index.js';
import type { Compare, KV, TxnOp } from '../../store/index.js';
import { decodeJson, workloadKey, type WorkloadRef } from './keys.js';
import type { Stored, StoredWorkloadStatus } from './observed.js';
import type { ExperimentStatus } from './experiment.js';

/** `<Kind>/<ns>/<name>` → RolloutOverride. Not in STORE_PREFIX: only this controller and its control actions use it. */
export const OVERRIDES_PREFIX = '/capstan/overrides/';

export const overrideKeyOf = (ref: WorkloadRef): string => `${OVERRIDES_PREFIX}${workloadKey(ref)}`;

/**
 * What operators (and the analysis runner) asked of a rollout. It is state, not an event: the
 * controller acts on it on every pass and clears the parts it has used up.
 */
export interface RolloutOverride {
  /** Move one step, or skip every remaining step; applies to the revision `promoteHash`. */
  promote?: 'step' | 'full';
  promoteHash?: string;
  /** The template hash aborted; pinned (no traffic, no replicas) until the desired hash changes. */
  abortedHash?: string;
  /** Hold the rollout (any strategy) until resumed. */
  paused?: boolean;
  /** The hash a retry restarted, for the record. */
  retryOf?: string;
  /** Latest analysis result for a revision's step or promotion (`key`: `step-<i>`, `pre-promotion`). */
  analysis?: { hash: string; key: string; phase: AnalysisPhase; message?: string };
  /** Latest result of the canary's background analysis for revision `hash`. */
  backgroundAnalysis?: { hash: string; key: string; phase: AnalysisPhase; message?: string };
  /**
   * A live rollback (`capstan rollback --live`, src/rollback): serve the revision with this
   * template hash instead of Git's until Git changes the manifest or `capstan resume`.
   */
  liveRollbackTo?: string;
  liveRollbackRevision?: number;
  /** The desired record's commit when pinned; a desired record at another commit ends the pin. */
  liveRollbackCommit?: string;
  /** When the record was last written, ISO. */
  at: string;
}

/** The override fields of a live rollback's pin. */
export const LIVE_ROLLBACK_FIELDS = ['liveRollbackTo', 'liveRollbackRevision', 'liveRollbackCommit'] as const;

/**
 * The live rollback pin in force for a desired record at `commit`: `released` once Git moved
 * past the commit the pin was taken at (a pin taken without a commit lasts until resumed).
 */
export function livePinOf(ov: RolloutOverride | undefined, commit: string | undefined): { hash: string; revision?: number; released: boolean } | undefined {
  if (!ov || typeof ov.liveRollbackTo !== 'string' || ov.liveRollbackTo === '') return undefined;
  const released = ov.liveRollbackCommit !== undefined && ov.liveRollbackCommit !== commit;
  return { hash: ov.liveRollbackTo, ...(typeof ov.liveRollbackRevision === 'number' ? { revision: ov.liveRollbackRevision } : {}), released };
}

/** Fields the controller keeps in the status record for canary and blue-green. */
export interface ProgressiveStatusFields {
  stableRevision?: string;
  stepsHash?: string;
  pauseStartedAt?: string;
  previewReadyAt?: string;
  promotedAt?: string;
  /** Blue-green: the revision active before the promotion, while it can still be switched back to. */
  previousActive?: string;
  promoting?: 'step' | 'full';
  aborted?: boolean;
  /** The aborted template hash, pinned until Git changes. */
  pinnedHash?: string;
  /** The analysis the rollout waits for. */
  analysis?: { key: string; templates: string[] };
  /** The background analysis running now. */
  backgroundAnalysis?: { key: string; templates: string[] };
  /** This rollout returns to a recently healthy revision: steps and analysis are skipped. */
  fastTrack?: boolean;
  /** Blue-green: the post-promotion analysis passed (or an operator accepted it). */
  postPromotionDone?: boolean;
  /** A live rollback serves this revision number's template while Git is ahead. */
  liveRollback?: number;
  /** The experiment step running now (or decided this pass). */
  experiment?: ExperimentStatus;
}

export interface ServiceInfo {
  name: string;
  selector: Record<string, string>;
}

export interface ObservedProgressive {
  override?: Stored<RolloutOverride>;
  services: ServiceInfo[];
  traffic: Map<string, Stored<TrafficPolicy>>;
}

/** Reads the override record, the namespace's Services and their traffic records at `revision`. */
export async function observeProgressive(kv: KV, ref: WorkloadRef, revision: number): Promise<ObservedProgressive> {
  const at = { revision };
  const [ov, svcs, traffic] = await Promise.all([
    kv.range(overrideKeyOf(ref), { prefix: false, ...at }),
    kv.range(`${STORE_PREFIX.desired}Service/${ref.namespace}/`, { prefix: true, ...at }),
    kv.range(`${STORE_PREFIX.traffic}${ref.namespace}/`, { prefix: true, ...at }),
  ]);
  const out: ObservedProgressive = { services: [], traffic: new Map() };
  const o = ov.kvs[0];
  const value = decodeJson<RolloutOverride>(o);
  if (o && value && typeof value === 'object') out.override = { key: o.key, value, modRevision: o.modRevision };
  for (const item of svcs.kvs) {
    const rec = decodeJson<{ object?: { metadata?: { name?: string }; spec?: { selector?: Record<string, string> } } }>(item);
    const name = rec?.object?.metadata?.name;
    const selector = rec?.object?.spec?.selector;
    if (typeof name === 'string' && selector && typeof selector === 'object') out.services.push({ name, selector });
  }
  for (const item of traffic.kvs) {
    const t = decodeJson<TrafficPolicy>(item);
    if (t && typeof t.weights === 'object') out.traffic.set(item.key.slice(`${STORE_PREFIX.traffic}${ref.namespace}/`.length), { key: item.key, value: t, modRevision: item.modRevision });
  }
  return out;
}

const msOf = (t: string | undefined): number | undefined => {
  if (t === undefined) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
};

const isoOf = (t: number | null | undefined): string | undefined => (typeof t === 'number' ? new Date(t).toISOString() : undefined);

export interface ProgressiveInput {
  state: ProgressiveState;
  /** The operator's pause, on top of `spec.paused`. */
  paused: boolean;
  pauseStartedAt?: number | null;
}

/** The strategy's view of what earlier passes kept and what operators asked, for template `hash`. */
export function progressiveInput(p: ObservedProgressive, prev: (StoredWorkloadStatus & ProgressiveStatusFields) | undefined, sameRollout: boolean, hash: string): ProgressiveInput {
  const ov = p.override?.value;
  const state: ProgressiveState = {};
  if (prev?.stableRevision) state.stableRevision = prev.stableRevision;
  // A retried rollout (aborted before, not now) starts again at step 0.
  const retried = prev?.aborted === true && ov?.abortedHash !== hash;
  if (sameRollout && prev && !retried) {
    if (prev.stepsHash) state.stepsHash = prev.stepsHash;
    if (typeof prev.weight === 'number') state.weight = prev.weight;
    const ready = msOf(prev.previewReadyAt);
    if (ready !== undefined) state.previewReadyAt = ready;
    const promoted = msOf(prev.promotedAt);
    if (promoted !== undefined) state.promotedAt = promoted;
    if (prev.promoting) state.promote = prev.promoting;
    if (prev.previousActive) state.previousActive = prev.previousActive;
    if (prev.postPromotionDone) state.postPromotionDone = true;
  }
  if (ov?.promote && ov.promoteHash === hash) state.promote = ov.promote;
  if (ov?.abortedHash === hash) state.aborted = true;
  if (ov?.analysis && ov.analysis.hash === hash) {
    state.analysis = { key: ov.analysis.key, phase: ov.analysis.phase, ...(ov.analysis.message ? { message: ov.analysis.message } : {}) };
  }
  const bg = ov?.backgroundAnalysis;
  if (bg && bg.hash === hash) state.backgroundAnalysis = { phase: bg.phase, ...(bg.message ? { message: bg.message } : {}) };
  const pauseStartedAt = sameRollout && !retried ? (msOf(prev?.pauseStartedAt) ?? null) : null;
  return { state, paused: ov?.paused === true, pauseStartedAt };
}

/** Status fields to keep for the next pass. */
export function progressiveStatus(decision: RolloutDecision, hash: string, aborted: boolean): ProgressiveStatusFields {
  const s = decision.state;
  if (!s) return {};
  const out: ProgressiveStatusFields = {};
  if (s.stableRevision) out.stableRevision = s.stableRevision;
  if (s.stepsHash) out.stepsHash = s.stepsHash;
  const pause = isoOf(decision.pauseStartedAt);
  if (pause) out.pauseStartedAt = pause;
  const ready = isoOf(s.previewReadyAt);
  if (ready) out.previewReadyAt = ready;
  const promoted = isoOf(s.promotedAt);
  if (promoted) out.promotedAt = promoted;
  if (s.previousActive) out.previousActive = s.previousActive;
  if (s.postPromotionDone) out.postPromotionDone = true;
  if (s.promote && !decision.promoteConsumed) out.promoting = s.promote;
  if (aborted) {
    out.aborted = true;
    out.pinnedHash = hash;
  }
  if (decision.analysis) out.analysis = { key: decision.analysis.key, templates: decision.analysis.templates };
  if (decision.backgroundAnalysis) out.backgroundAnalysis = { key: decision.backgroundAnalysis.key, templates: decision.backgroundAnalysis.templates };
  return out;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

function weightsOf(decision: RolloutDecision): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of decision.traffic ?? []) if (t.weight > 0) out[t.revision] = (out[t.revision] ?? 0) + t.weight;
  return out;
}

/** Traffic record per Service name, for the strategy's roles. */
export function trafficRecords(
  strategy: StrategySpec,
  decision: RolloutDecision,
  services: readonly ServiceInfo[],
  labels: Record<string, string>,
): Map<string, TrafficPolicy> {
  const out = new Map<string, TrafficPolicy>();
  const roles = decision.roles;
  if (!roles) return out;
  const only = (rev: string | undefined): TrafficPolicy | undefined => (rev ? { weights: { [rev]: 100 } } : undefined);
  if (strategy.type === 'BlueGreen') {
    const bg = strategy.blueGreen ?? {};
    const active = only(roles.active);
    const preview = only(roles.preview);
    if (typeof bg.activeService === 'string' && active) out.set(bg.activeService, { ...active, stableRevision: roles.active! });
    if (typeof bg.previewService === 'string' && preview) out.set(bg.previewService, { ...preview, canaryRevision: roles.preview! });
    return out;
  }
  if (strategy.type !== 'Canary') return out;
  const c = strategy.canary ?? {};
  const stableSvc = typeof c.stableService === 'string' ? c.stableService : undefined;
  const canarySvc = typeof c.canaryService === 'string' ? c.canaryService : undefined;
  const weights = weightsOf(decision);
  const headerRoutes = (decision.headerRoutes ?? []).flatMap((r) =>
    r.match.map((m) => ({ name: r.name, match: { header: { name: m.headerName, ...m.headerValue } }, revision: roles.canary! })),
  );
  const mirrorRoutes = (decision.mirrorRoutes ?? []).map((r) => ({
    name: r.name,
    ...(r.percentage !== undefined ? { percentage: r.percentage } : {}),
    match: r.match,
    revision: roles.canary!,
  }));
  const split: TrafficPolicy = {
    weights,
    ...(roles.stable ? { stableRevision: roles.stable } : {}),
    ...(roles.canary && roles.canary !== roles.stable ? { canaryRevision: roles.canary } : {}),
    ...(headerRoutes.length > 0 ? { headerRoutes } : {}),
    ...(mirrorRoutes.length > 0 && roles.canary && roles.canary !== roles.stable ? { mirrorRoutes } : {}),
  };
  for (const s of services) {
    if (s.name === stableSvc || s.name === canarySvc) continue;
    if (selects(s.selector, labels)) out.set(s.name, split);
  }
  if (stableSvc && roles.stable) out.set(stableSvc, { weights: { [roles.stable]: 100 }, stableRevision: roles.stable });
  if (canarySvc && roles.canary) out.set(canarySvc, { weights: { [roles.canary]: 100 }, canaryRevision: roles.canary });
  return out;
}

/** Puts for the traffic records that changed and the override's used-up parts, each guarded. */
export function planProgressiveWrites(
  ref: WorkloadRef,
  p: ObservedProgressive,
  records: Map<string, TrafficPolicy>,
  decision: RolloutDecision,
  hash: string,
  now: string,
  options: { releaseLivePin?: boolean } = {},
): { compare: Compare[]; ops: TxnOp[] } {
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  for (const [service, policy] of records) {
    const old = p.traffic.get(service);
    if (old && JSON.stringify(old.value) === JSON.stringify(policy)) continue;
    const key = `${STORE_PREFIX.traffic}${ref.namespace}/${service}`;
    compare.push({ key, target: 'modRevision', op: '==', value: old?.modRevision ?? 0 });
    ops.push({ type: 'put', key, value: JSON.stringify(policy) });
  }
  const ov = p.override;
  // An abort decided by the strategy itself (a failed analysis) pins the revision as an operator's abort does.
  if (decision.reason === 'RolloutAborted' && ov?.value.abortedHash !== hash) {
    const key = `${OVERRIDES_PREFIX}${workloadKey(ref)}`;
    compare.push({ key, target: 'modRevision', op: '==', value: ov?.modRevision ?? 0 });
    const next: RolloutOverride = { ...(ov?.value ?? { at: now }), abortedHash: hash, at: now };
    delete next.promote;
    delete next.promoteHash;
    if (options.releaseLivePin) for (const k of LIVE_ROLLBACK_FIELDS) delete next[k];
    ops.push({ type: 'put', key, value: JSON.stringify(next) });
    return { compare, ops };
  }
  if (ov) {
    const next: RolloutOverride = { ...ov.value };
    // A promote is used once; one for another revision is stale. An abort of an older template is over: Git changed.
    if (next.promote && (decision.promoteConsumed || next.promoteHash !== hash)) {
      delete next.promote;
      delete next.promoteHash;
    }
    if (next.abortedHash !== undefined && next.abortedHash !== hash) delete next.abortedHash;
    if (next.analysis && next.analysis.hash !== hash) delete next.analysis;
    if (next.backgroundAnalysis && next.backgroundAnalysis.hash !== hash) delete next.backgroundAnalysis;
    // Git changed the manifest since the live rollback: Git is the record again.
    if (options.releaseLivePin) for (const k of LIVE_ROLLBACK_FIELDS) delete next[k];
    if (JSON.stringify(next) !== JSON.stringify(ov.value)) {
      compare.push({ key: ov.key, target: 'modRevision', op: '==', value: ov.modRevision });
      // Other writers keep their own fields here (a live rollback's pin): delete only a record with nothing left.
      const empty = Object.keys(next).every((k) => k === 'at' || k === 'retryOf' || (k === 'paused' && next.paused !== true));
      ops.push(empty ? { type: 'delete', key: ov.key } : { type: 'put', key: ov.key, value: JSON.stringify({ ...next, at: now }) });
    }
  }
  return { compare, ops };
}
