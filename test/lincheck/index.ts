// Checkers for client histories of a KV store: linearizability (per key, unknown outcomes
// allowed) and the watch guarantees (ordered, no gaps, no duplicates, resumable, revisions
// never going backwards). Used by the Raft simulation and against real etcd.

export { checkLinearizable } from './linearizable.js';
export { checkWatches, checkReadRevisions } from './watch.js';
export { formatOperation, formatCounterexample } from './format.js';
export type {
  ClientId,
  KvOperation,
  PutOperation,
  GetOperation,
  CasOperation,
  DeleteOperation,
  CheckOptions,
  IndexedOperation,
  Counterexample,
  LinearizabilityResult,
  WriteType,
  RevisionedWrite,
  UnacknowledgedWrite,
  WatchEventRecord,
  WatchSegment,
  WatcherHistory,
  WatchCheckInput,
  WatchViolationKind,
  WatchViolation,
  WatchCheckResult,
  RevisionObservation,
  ReadRevisionOptions,
} from './types.js';
