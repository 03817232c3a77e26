// The shapes a client history is recorded in, and what the checkers answer.
//
// One operation is one request a client sent: when it was sent (`call`), when its answer
// arrived (`ret`) and what the answer said (`output`). A request that got no answer (a
// timeout, a crash, a cut connection) has no `ret` and no `output`: it may or may not have
// taken effect, at any moment after its call.

export type ClientId = string | number;

interface OperationBase {
  client: ClientId;
  /** When the request was sent, on any clock shared by all clients (ms, virtual ticks). */
  call: number;
  /** When its answer arrived; undefined when none did, so the outcome is unknown. */
  ret?: number;
}

/** put(key, value): always succeeds when it takes effect. */
export interface PutOperation extends OperationBase {
  op: 'put';
  input: { key: string; value: string };
  output?: { revision?: number };
}

/** get(key) → the value, or undefined when the key does not exist. */
export interface GetOperation extends OperationBase {
  op: 'get';
  input: { key: string };
  output?: { value: string | undefined; revision?: number };
}

/**
 * Compare-and-put (a transaction comparing the value, then putting): succeeds when the key's
 * value equals `expected` (undefined: the key must not exist), and then stores `value`.
 */
export interface CasOperation extends OperationBase {
  op: 'cas';
  input: { key: string; expected: string | undefined; value: string };
  output?: { ok: boolean; revision?: number };
}

/** delete(key); `deleted`, when given, says whether the key existed and is checked too. */
export interface DeleteOperation extends OperationBase {
  op: 'delete';
  input: { key: string };
  output?: { deleted?: boolean; revision?: number };
}

export type KvOperation = PutOperation | GetOperation | CasOperation | DeleteOperation;

export interface CheckOptions {
  /**
   * Search steps allowed over the whole history; each key (smallest first) may spend its share
   * of what is left. A key that runs out is undecided: the answer is then `unknown` (unless
   * another key has a violation) instead of a hang. Narrowing a counterexample down has a
   * budget of its own, as large. Default 5,000,000.
   */
  maxSteps?: number;
  /** Skip narrowing a counterexample down to the answers it rests on (faster). Default false. */
  skipShrink?: boolean;
}

/** An operation of the history, with its position in the array given to the checker. */
export interface IndexedOperation {
  index: number;
  operation: KvOperation;
}

export interface Counterexample {
  key: string;
  /**
   * The smallest prefix of the key's history (call and return events in time order) that has
   * no linearization: its operations, in call order. Those whose answer came after the prefix
   * ends count as unknown outcome there.
   */
  prefix: IndexedOperation[];
  /** The operation whose answer ends that prefix: with it, no order works; without it, one does. */
  last: IndexedOperation;
  /**
   * The answers the violation rests on, `last` included: reads that cannot be dropped without
   * the prefix becoming linearizable (all other reads dropped), and writes whose answer alone
   * makes the difference (with it no order works, with it unknown one does).
   */
  involved: IndexedOperation[];
  /** Writes in the prefix of the values the involved operations read or expected (the last 10). */
  writers: IndexedOperation[];
  /** Operations whose part was not decided (step budget, or too many writes to try each). */
  untested: number;
  /** The longest order of operations the search could build before getting stuck. */
  longestPartial: IndexedOperation[];
  /** A readable account of all of the above. */
  text: string;
}

export type LinearizabilityResult =
  | { outcome: 'ok'; keys: number; operations: number; steps: number }
  | { outcome: 'violation'; counterexample: Counterexample; steps: number }
  | { outcome: 'unknown'; key: string; reason: string; steps: number };

// ---- watches and revisions ----

export type WriteType = 'put' | 'delete';

/** A committed write: acknowledged to a client with its revision, or seen by a watcher. */
export interface RevisionedWrite {
  key: string;
  revision: number;
  type: WriteType;
  /** The value written (puts). */
  value?: string;
}

/** A write whose outcome is unknown: a watcher may see it, at any revision. */
export interface UnacknowledgedWrite {
  key: string;
  type: WriteType;
  value?: string;
}

/** One event a watcher received. */
export type WatchEventRecord = RevisionedWrite;

/** One connection of a watcher: opened from `fromRevision` (inclusive), the events it got. */
export interface WatchSegment {
  fromRevision: number;
  events: WatchEventRecord[];
}

export interface WatcherHistory {
  watcher: string;
  /** The watched key, or prefix when `prefix` is true. */
  key: string;
  prefix?: boolean;
  /**
   * The first connection, then each resumption in order. A resumption must start at the
   * revision after the last event seen (or where the previous one started, if it saw none).
   */
  segments: WatchSegment[];
  /**
   * The watcher kept reading until this revision: every committed write in its range up to
   * here must have arrived. Default: the last revision it saw.
   */
  until?: number;
}

export interface WatchCheckInput {
  /** Writes acknowledged to clients, with their revisions. */
  acknowledged: RevisionedWrite[];
  /** Writes whose outcome is unknown; events showing them are not phantoms. */
  unacknowledged?: UnacknowledgedWrite[];
  watchers: WatcherHistory[];
}

export type WatchViolationKind =
  /** An event at a revision lower than one before it, or before the watch's start. */
  | 'order'
  /** A committed write in range, between the start and the end, that never arrived. */
  | 'gap'
  /** The same (revision, key) delivered twice. */
  | 'duplicate'
  /** A resumption that did not start right after the last revision seen. */
  | 'resume'
  /** Two records of one (revision, key) that disagree (type or value). */
  | 'mismatch'
  /** An event no acknowledged or unknown-outcome write explains. */
  | 'phantom'
  /** An event outside the watched range. */
  | 'range'
  /** A client saw revisions go backwards. */
  | 'backwards';

export interface WatchViolation {
  kind: WatchViolationKind;
  watcher?: string;
  client?: ClientId;
  key?: string;
  revision?: number;
  message: string;
}

export interface WatchCheckResult {
  ok: boolean;
  violations: WatchViolation[];
}

/** A request answered with a store revision (reads; writes may be included too). */
export interface RevisionObservation {
  client: ClientId;
  call: number;
  ret: number;
  revision: number;
}

export interface ReadRevisionOptions {
  /**
   * Also across clients: a request sent after another one's answer arrived must not see a
   * lower revision (true of linearizable reads). Default false: per client only.
   */
  realTime?: boolean;
}
