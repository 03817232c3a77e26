export { SyncLoop, syncStateKey } from './loop.js';
export type { SyncLoopOptions, SyncState, SyncPhase } from './loop.js';
export { applyPlan, planAgainstStore, pruneHeldReason, readDesired, desiredKey } from './apply.js';
export type { DesiredRecord, CurrentDesired, PruneGuard, ApplyInput } from './apply.js';
export { buildPlanRecord, parseSyncPlanKey, syncPlanKey, syncPlanPrefix, PLAN_RECORDS_KEPT, PLAN_RECORD_MAX_BYTES, PLAN_RECORD_MAX_OBJECTS } from './plan-record.js';
export type { SyncPlanRecord, SyncPlanObject, SyncPlanField } from './plan-record.js';
