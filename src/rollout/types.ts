// Rollout math works on a summary of what exists: the revision being rolled out, the older
// revisions still holding pods, and counts of their pods. One strategy = one pure function
// `(RolloutInput) => RolloutDecision`; the controller applies `scale` and stores the rest.

/** An absolute count or a percentage string such as "25%". */
export type IntOrPercent = number | string;

export interface RollingUpdateParams {
  /** Defaults to "25%"; percentages round up. */
  maxSurge?: IntOrPercent;
  /** Defaults to "25%"; percentages round down. */
  maxUnavailable?: IntOrPercent;
}

/** The strategy types Capstan knows; the registry decides which have an implementation. */
export type StrategyType = 'RollingUpdate' | 'Recreate' | 'Canary' | 'BlueGreen';

export type StrategySpec =
  | { type: 'RollingUpdate'; rollingUpdate?: RollingUpdateParams }
  | { type: 'Recreate' }
  | { type: 'Canary'; canary?: Record<string, unknown> }
  | { type: 'BlueGreen'; blueGreen?: Record<string, unknown> };

/** Pod counts of one revision. `total` excludes terminating pods, which are counted apart. */
export interface PodCounts {
  total: number;
  ready: number;
  /** Ready for at least minReadySeconds (see `summarizePods`). */
  available: number;
  terminating: number;
}

export interface RevisionState {
  /** Name of the revision (its template hash). */
  name: string;
  /** Increasing number, 1 for the first revision; older revisions are scaled down first. */
  revisionNumber: number;
  /** Desired replicas of this revision, as last scaled. */
  replicas: number;
  pods: PodCounts;
}

/** Deployment-level counts, as Kubernetes' DeploymentStatus. */
export interface RolloutStatus {
  /** Non-terminating pods of every revision. */
  replicas: number;
  /** Non-terminating pods of the new revision. */
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** Desired replicas of every revision (after this pass's scaling) minus available, at least 0. */
  unavailableReplicas: number;
}

export interface RolloutInput {
  strategy: StrategySpec;
  /** Desired replicas of the deployment. */
  replicas: number;
  minReadySeconds: number;
  /** Infinity (or 2^31 - 1, as Kubernetes) disables the deadline. */
  progressDeadlineSeconds: number;
  paused: boolean;
  /** Current time, ms since the epoch; never read from a clock here. */
  now: number;
  /** When progress was last seen, ms; set it to the start time when a new revision is created. */
  lastProgressAt: number;
  newRevision: RevisionState;
  oldRevisions: RevisionState[];
  /** Status from the previous pass: pods becoming ready or available since then count as progress. */
  previousStatus?: RolloutStatus;
  /** Step-based strategies (canary): the current step and when its pause began, ms. */
  stepIndex?: number;
  pauseStartedAt?: number | null;
  /** Canary and blue-green: what the controller kept between passes and asked for since. */
  progressive?: ProgressiveState;
}

/** Outcome of an analysis run, as the analysis engine reports it. */
export type AnalysisPhase = 'Running' | 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/**
 * State of a canary or blue-green rollout carried between passes (in the status record) plus
 * the operator's requests (promote, abort). Times are ms since the epoch.
 */
export interface ProgressiveState {
  /** Hash of the revision taking the stable (canary) or active (blue-green) traffic. */
  stableRevision?: string;
  /** Hash of the step list the step index belongs to; another list restarts at step 0. */
  stepsHash?: string;
  /** Traffic weight of the new revision set by the last pass. */
  weight?: number;
  /** Operator asked to move one step, or to skip every remaining step. Consumed by one pass. */
  promote?: 'step' | 'full';
  /** The new revision was aborted: all traffic to stable, new revision scaled to 0. */
  aborted?: boolean;
  /** Blue-green: when the preview became ready. */
  previewReadyAt?: number | null;
  /** Blue-green: when the active service switched to the new revision. */
  promotedAt?: number | null;
  /**
   * Blue-green: the revision that was active before the promotion, kept while it waits out
   * scaleDownDelaySeconds, so an abort can switch the active service back to it.
   */
  previousActive?: string;
  /** Result of the analysis the current step (or promotion) waits for, when one ran. */
  analysis?: { key?: string; phase: AnalysisPhase; message?: string };
  /** Result of the experiment the current step waits for (`key`: `step-<i>`), when one ended. */
  experiment?: { key: string; phase: AnalysisPhase; message?: string };
  /** Result of the canary's background analysis (`strategy.canary.analysis`), when one ended. */
  backgroundAnalysis?: { phase: AnalysisPhase; message?: string };
  /**
   * A return to a recently healthy revision (a rollback, within the rollback window): canary
   * steps, pauses and every analysis are skipped, straight to full weight / full promotion.
   */
  fastTrack?: boolean;
  /** Blue-green: the post-promotion analysis passed, or an operator's promote accepted it. */
  postPromotionDone?: boolean;
}

export interface ScaleAction {
  revision: string;
  replicas: number;
}

/** Lifecycle of a rollout, as `capstan status` prints it. */
export type RolloutPhase = 'Progressing' | 'Healthy' | 'Degraded' | 'Paused';

export interface RolloutCondition {
  type: 'Available' | 'Progressing';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface TrafficWeight {
  revision: string;
  /** 0..100 */
  weight: number;
}

export interface RolloutDecision {
  /** Revisions to scale this pass, in order; empty when nothing changes. */
  scale: ScaleAction[];
  phase: RolloutPhase;
  /** Machine-readable cause of the phase, e.g. `ProgressDeadlineExceeded`. */
  reason: string;
  message: string;
  conditions: RolloutCondition[];
  lastProgressAt: number;
  status: RolloutStatus;
  /** Router weights, for strategies that split traffic (canary, blue-green). */
  traffic?: TrafficWeight[];
  /** Position in a step list, for step-based strategies. */
  step?: { index: number; count: number };
  /** State to keep for the next pass (canary, blue-green). */
  state?: ProgressiveState;
  /** Revision hash per traffic role: the controller writes one traffic record per Service. */
  roles?: { stable?: string; canary?: string; active?: string; preview?: string };
  /** Look again at this time even if nothing changes (a timed pause, a scale-down delay), ms. */
  requeueAt?: number;
  /** Header routes to the canary (`setHeaderRoute` steps passed so far). */
  headerRoutes?: HeaderRoute[];
  /** Mirror routes to the canary (`setMirrorRoute` steps passed so far, later names replacing earlier). */
  mirrorRoutes?: MirrorRoute[];
  /**
   * The experiment the rollout waits for now: the controller runs pods of the named revisions'
   * templates (`stable`, `canary` resolve to these hashes) and its analyses, and reports back.
   */
  experiment?: { key: string; spec: ExperimentSpec; revisions: { stable: string; canary: string } };
  /** The analysis the rollout waits for now (the controller runs it and reports back). */
  analysis?: { key: string; templates: string[]; args?: Array<{ name: string; value: string }> };
  /** The background analysis to keep running while the canary is under way. */
  backgroundAnalysis?: { key: string; templates: string[]; args?: Array<{ name: string; value: string }> };
  /** The operator's promote request was used this pass; the controller clears it. */
  promoteConsumed?: boolean;
  /** When the current timed or untimed pause step began (null: not pausing), ms. */
  pauseStartedAt?: number | null;
}

/** One string test of a mirror route: exact, prefix or regex (the first one set). */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/**
 * A `setMirrorRoute` step: requests matching any `match` entry (each entry: method, path and
 * every header test) are copied to the canary, `percentage` of them (default 100); the copy's
 * response is discarded.
 */
export interface MirrorRoute {
  name: string;
  percentage?: number;
  match: Array<{ method?: StringMatch; path?: StringMatch; headers?: Record<string, StringMatch> }>;
}

/** An `experiment` step, parsed: durations in seconds. */
export interface ExperimentSpec {
  /** Seconds; undefined: until the analyses that are required for completion end. */
  duration?: number;
  templates: Array<{
    name: string;
    specRef: 'stable' | 'canary';
    /** Default 1, as Argo's experiment templates. */
    replicas: number;
    weight?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }>;
  analyses: Array<{ name: string; templateName: string; args?: Array<{ name: string; value: string }>; requiredForCompletion?: boolean }>;
}

/** A `setHeaderRoute` step: requests matching every header test go to the canary. */
export interface HeaderRoute {
  name: string;
  match: Array<{ headerName: string; headerValue: { exact?: string; prefix?: string; regex?: string } }>;
}

export type RolloutStrategy = (input: RolloutInput) => RolloutDecision;
