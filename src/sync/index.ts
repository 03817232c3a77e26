export { SyncLoop, syncStateKey } from './loop.js';
export type { SyncLoopOptions, SyncState, SyncPhase } from './loop.js';
export { applyPlan, planAgainstStore, pruneHeldReason, readDesired, desiredKey } from './apply.js';
export type { DesiredRecord, CurrentDesired, PruneGuard, ApplyInput } from './apply.js';
