export { SyncLoop, syncStateKey } from './loop.js';
export type { SyncLoopOptions, SyncState, SyncPhase } from './loop.js';
export { applyPlan, planAgainstStore, pruneHeldReason, readDesired, desiredKey } from './apply.js';
export type { CurrentDesired, PruneGuard, ApplyInput } from './apply.js';
// The record lives with the store layout in the API stage; named here too for the sync loop's callers.
export type { DesiredRecord } from '../api/cluster.js';
export { buildPlanRecord, parseSyncPlanKey, syncPlanKey, syncPlanPrefix, PLAN_RECORDS_KEPT, PLAN_RECORD_MAX_BYTES, PLAN_RECORD_MAX_OBJECTS } from './plan-record.js';
export type { SyncPlanRecord, SyncPlanObject, SyncPlanField } from './plan-record.js';
