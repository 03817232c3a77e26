export { nextRolloutAction, DEFAULT_STRATEGIES, ALL_STRATEGIES } from './registry.js';
export { canary, parseProgressiveSteps, stepsHash, stableOf } from './canary-strategy.js';
export type { CanaryStepSpec } from './canary-strategy.js';
export { blueGreen, blueGreenParams } from './bluegreen-strategy.js';
export type { BlueGreenParams } from './bluegreen-strategy.js';
export type { StrategyRegistry } from './registry.js';
export { rollingUpdate, reconcileNewRevision, reconcileOldRevisions } from './rolling.js';
export { recreate, oldPodsExist } from './recreate.js';
export {
  resolveFenceposts,
  resolveRollingParams,
  scaledValue,
  maxSurgeFor,
  maxUnavailableFor,
  DEFAULT_MAX_SURGE,
  DEFAULT_MAX_UNAVAILABLE,
} from './fenceposts.js';
export { summarizePods, computeStatus, isComplete, finishDecision, pausedDecision } from './status.js';
export type { PodObservation, DecisionExtras } from './status.js';
export { canaryReplicas, parseDuration, parseCanarySteps } from './canary.js';
export type { CanaryStep } from './canary.js';
export { SmoothWeightedRoundRobin } from './wrr.js';
export type { WeightedEntry } from './wrr.js';
export type {
  AnalysisPhase,
  HeaderRoute,
  ProgressiveState,
  IntOrPercent,
  PodCounts,
  RevisionState,
  RollingUpdateParams,
  RolloutCondition,
  RolloutDecision,
  RolloutInput,
  RolloutPhase,
  RolloutStatus,
  RolloutStrategy,
  ScaleAction,
  StrategySpec,
  StrategyType,
  TrafficWeight,
} from './types.js';
