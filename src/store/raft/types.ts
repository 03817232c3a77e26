// Types of the pure Raft core (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", extended version, figure 2; Ongaro's thesis for PreVote, CheckQuorum,
// ReadIndex, leadership transfer and single-server membership changes). The core does no
// I/O: callers feed it messages and ticks and carry out what it returns.

/**
 * A log entry. Empty data is the no-op a new leader appends at the start of its term; data
 * starting with the conf-change tag (see `isConfChange`) is a membership change; anything
 * else belongs to the state machine.
 */
export interface Entry {
  term: number;
  index: number;
  data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  term: number;
  /** Member voted for in `term`, 0 for none. */
  vote: number;
  commit: number;
}

/** Voting members and learners (learners receive the log but neither vote nor count for quorum). */
export interface RaftConfig {
  voters: number[];
  learners: number[];
}

/**
 * One membership change, carried in the log and in effect on each member as soon as it is
 * appended there (thesis §4.1). Only one may be pending (appended, not committed) at a time.
 * Replacing a member is `addLearner` + `promote` of the new one, then `remove` of the old one.
 * `context` is opaque to the core (the cluster driver puts the member's address there).
 */
export interface ConfChange {
  type: 'addLearner' | 'promote' | 'remove';
  id: number;
  context?: string;
}

/** A state-machine snapshot as sent to a follower that needs entries the leader compacted. */
export interface RaftSnapshot {
  /** Last log index the snapshot covers, and that entry's term. */
  index: number;
  term: number;
  /** The membership in effect at `index`. */
  config: RaftConfig;
  /** Opaque state-machine bytes. */
  data: Uint8Array;
}

interface Envelope {
  from: number;
  to: number;
  term: number;
}

export type RaftMessage =
  /**
   * `transfer`: sent by a candidate that a leader told to campaign (timeoutNow); voters grant
   * it even when they heard from a leader recently.
   */
  | (Envelope & { type: 'vote'; lastLogIndex: number; lastLogTerm: number; transfer?: boolean })
  | (Envelope & { type: 'voteResponse'; granted: boolean })
  /**
   * PreVote (thesis §9.6): "would you vote for me in `term`?" where `term` is the sender's
   * term + 1. Neither side changes its term or vote because of it.
   */
  | (Envelope & { type: 'preVote'; lastLogIndex: number; lastLogTerm: number })
  /** `term`: the term asked about when granted, the responder's own term when refused. */
  | (Envelope & { type: 'preVoteResponse'; granted: boolean })
  | (Envelope & {
      type: 'append';
      prevLogIndex: number;
      prevLogTerm: number;
      entries: Entry[];
      commit: number;
    })
  | (Envelope & {
      type: 'appendResponse';
      success: boolean;
      /** On success the last index now matching the leader; on failure a hint where to retry. */
      matchIndex: number;
      /** On failure: the `prevLogIndex` that was refused (stale refusals are ignored). */
      rejectIndex?: number;
      /** On failure: the term of the follower's entry at `matchIndex` (fast backtracking). */
      hintTerm?: number;
    })
  /**
   * Leader heartbeat. `commit` is at most what the follower is known to hold. `context`
   * identifies a ReadIndex confirmation round and is echoed in the response.
   */
  | (Envelope & { type: 'heartbeat'; commit: number; context?: number })
  | (Envelope & { type: 'heartbeatResponse'; context?: number })
  | (Envelope & { type: 'snapshot'; snapshot: RaftSnapshot })
  /** A follower forwards a ReadIndex request to the leader. */
  | (Envelope & { type: 'readIndex'; requestId: string })
  /** The leader's answer: read once applied up to `index`; `index` -1 means refused (retry). */
  | (Envelope & { type: 'readIndexResponse'; requestId: string; index: number })
  /** Leadership transfer: the target campaigns at once, skipping PreVote. */
  | (Envelope & { type: 'timeoutNow' });

export type RaftMessageType = RaftMessage['type'];

/**
 * Where a leader believes a follower's log stands (like etcd's Progress):
 * - `probe`: one append in flight at a time until a response shows where the logs match;
 * - `replicate`: appends are pipelined, up to `maxInflight` messages in flight;
 * - `snapshot`: a snapshot at `pendingSnapshot` was sent; appends wait for its outcome.
 */
export interface Progress {
  /** Next index to send. */
  next: number;
  /** Highest index known to be durable on the follower. */
  match: number;
  state?: 'probe' | 'replicate' | 'snapshot';
  /** Last indexes of appends in flight (replicate state), oldest first. */
  inflight?: number[];
  /** Probe state: an append was sent and not yet answered. */
  paused?: boolean;
  pendingSnapshot?: number;
  /** Tick at which the pending snapshot was sent (it is sent again after an election timeout). */
  snapshotTick?: number;
  /** Heard from since the last CheckQuorum round. */
  recentActive?: boolean;
  learner?: boolean;
}

/**
 * The member's role:
 * - `follower`: accepts entries from `leader` (undefined while it does not know one);
 * - `preCandidate`: asked whether it could win an election (PreVote) without raising its term;
 * - `candidate`: asked for votes in the current term and counts `votes` granted so far;
 * - `leader`: appends proposals and tracks each follower's `progress`.
 */
export type RaftRole =
  | { role: 'follower'; leader: number | undefined }
  | { role: 'preCandidate'; votes: Set<number> }
  | { role: 'candidate'; votes: Set<number> }
  | { role: 'leader'; progress: Map<number, Progress> };

/** A confirmed ReadIndex request: reading after applying up to `index` is linearizable. */
export interface ReadState {
  requestId: string;
  index: number;
}

/**
 * Everything the caller must do after feeding the core. Order matters: install `snapshot`
 * (when present) and persist `entries` (replacing any from `entries[0].index` on) and
 * `hardState`, fsync, tell the core with `persisted()`, and only then send `messages`;
 * restore the state machine from `snapshot` (when present), then apply `committed` in order.
 */
export interface Ready {
  /** Present when term or vote changed (commit is written along with the next entries). */
  hardState?: HardState;
  entries: Entry[];
  messages: RaftMessage[];
  committed: Entry[];
  /** ReadIndex requests confirmed since the last ready (this member's own or forwarded). */
  readStates: ReadState[];
  /** A snapshot received from the leader: the log now starts after it. */
  snapshot?: RaftSnapshot;
  /** Present when the known leader or the role changed. */
  softState?: { leader: number | undefined; role: RaftRole['role'] };
}

export interface RaftOptions {
  id: number;
  /** All voting members, including this one (unless it joins as a learner). */
  members: number[];
  /** Learners at start. */
  learners?: number[];
  /** Ticks without hearing from a leader before campaigning (randomised up to twice this). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks?: number;
  /** Injected randomness in [0, 1) for election timeouts. */
  random: () => number;
  /** Ask whether an election could be won before raising the term (default true). */
  preVote?: boolean;
  /**
   * A leader that has not heard from a quorum within an election timeout steps down, and
   * members that heard from a leader within one ignore (pre)votes (default true).
   */
  checkQuorum?: boolean;
  /** Appends in flight per follower in replicate state (default 256). */
  maxInflight?: number;
  /** Entry bytes per append message; at least one entry is always sent (default 1 MiB). */
  maxMsgBytes?: number;
  /**
   * The latest durable state-machine snapshot, for followers that need compacted entries (the
   * core adds the membership at its index). Absent, or returning undefined or one older than
   * the compacted log: such followers wait until one exists.
   */
  snapshotSource?: () => { index: number; term: number; data: Uint8Array } | undefined;
  /** Restored state: the last snapshot's index, term (and membership), hard state and log after it. */
  snapshot?: { index: number; term: number; config?: RaftConfig };
  hardState?: HardState;
  entries?: Entry[];
}

/** Why a proposal of a membership change was refused. */
export type ConfChangeRefusal =
  | 'not-leader'
  /** Another change is appended but not committed, or this term has committed nothing yet. */
  | 'pending'
  /** Adding a member that exists, promoting a non-learner, removing a stranger or the last voter. */
  | 'invalid'
  /** The learner to promote has not caught up with the leader's commit index. */
  | 'not-caught-up'
  | 'transferring';

export type ConfChangeResult = { ok: true; index: number } | { ok: false; reason: ConfChangeRefusal };
