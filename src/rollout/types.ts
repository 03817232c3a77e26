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
}

export type RolloutStrategy = (input: RolloutInput) => RolloutDecision;
