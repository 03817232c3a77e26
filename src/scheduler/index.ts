export {
  Scheduler,
  numFeasibleNodesToFind,
  MIN_FEASIBLE_NODES_TO_FIND,
  MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND,
} from './scheduler.js';
export { seededRandom } from './random.js';
export { placementProblem } from './placement.js';
export { DEFAULT_WEIGHTS, MAX_NODE_SCORE, compileScoringStrategy } from './scores.js';
export { numCandidates } from './preemption.js';
export { parseSchedulerConfig } from './config.js';
export type { SchedulerConfig } from './config.js';
export { HOSTNAME_LABEL } from './topology.js';
export {
  REASON_EXISTING_ANTI_AFFINITY,
  REASON_POD_AFFINITY,
  REASON_POD_ANTI_AFFINITY,
  REASON_SPREAD,
  REASON_SPREAD_LABEL,
} from './topology-state.js';
export {
  formatUnschedulable,
  REASON_AFFINITY,
  REASON_CPU,
  REASON_MEMORY,
  REASON_PODS,
  REASON_PORTS,
  REASON_UNSCHEDULABLE,
  REASON_VOLUME_NODE,
} from './filters.js';
export { TAINT_NOT_READY, TAINT_UNSCHEDULABLE } from './compile.js';
export type {
  BoundPod,
  Decision,
  DisruptionBudget,
  LabelSelector,
  PodAffinity,
  PodAffinityTerm,
  Preemption,
  PreemptionPolicy,
  ScoringStrategy,
  ScoringStrategyType,
  TopologySpreadConstraint,
  WeightedPodAffinityTerm,
  HostPort,
  NodeAffinity,
  NodeInfo,
  NodeSelectorOperator,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  PodRequest,
  Protocol,
  SchedulerOptions,
  ScoreWeights,
  Taint,
  TaintEffect,
  Toleration,
} from './types.js';
