// Workload controllers: Deployment/Rollout → revisions (workload) and revisions → pods (revision).
export {
  createWorkloadControllers,
  workloadReconciler,
  revisionReconciler,
  desiredWorkloadKey,
  ownerWorkloadKey,
  podRevisionKey,
} from './controllers.js';
export type {
  WorkloadControllersOptions,
  WorkloadControllers,
  WorkloadReconcilerOptions,
  RevisionReconcilerOptions,
} from './controllers.js';
export { planWorkload, strategyOf } from './plan.js';
export type { WorkloadPlan } from './plan.js';
export { observeWorkload } from './observed.js';
export {
  OVERRIDES_PREFIX,
  overrideKeyOf,
  observeProgressive,
  progressiveInput,
  progressiveStatus,
  trafficRecords,
  planProgressiveWrites,
} from './progressive.js';
export type { RolloutOverride, ProgressiveStatusFields, ServiceInfo, ObservedProgressive, ProgressiveInput } from './progressive.js';
export type { ObservedWorkload, StoredWorkloadStatus, Stored } from './observed.js';
export { planHistory, MAX_HISTORY } from './history.js';
export type { HistoryInput } from './history.js';
export { planRevision, observeRevision, deletionOrder, newPod, MAX_CREATES_PER_PASS, MAX_REMOVALS_PER_PASS } from './revision-plan.js';
export type { ObservedRevision, RevisionPlan } from './revision-plan.js';
export {
  REVISION_HASH_LABEL,
  WORKLOAD_KINDS,
  templateHash,
  canonicalJson,
  parseWorkloadKey,
  decodeJson,
  parseRevisionKey,
  revisionKey,
  workloadKey,
  randomSuffix,
} from './keys.js';
export type { WorkloadRef } from './keys.js';
