// Types of the pure Raft core (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", extended version, figure 2). The core does no I/O: callers feed it
// messages and ticks and carry out what it returns.

/** A log entry. Empty data is the no-op a new leader appends at the start of its term. */
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

export type RaftMessage =
  | { type: 'vote'; from: number; to: number; term: number; lastLogIndex: number; lastLogTerm: number }
  | { type: 'voteResponse'; from: number; to: number; term: number; granted: boolean }
  | {
      type: 'append';
      from: number;
      to: number;
      term: number;
      prevLogIndex: number;
      prevLogTerm: number;
      entries: Entry[];
      commit: number;
    }
  | {
      type: 'appendResponse';
      from: number;
      to: number;
      term: number;
      success: boolean;
      /** On success the last index now matching the leader; on failure a hint where to retry. */
      matchIndex: number;
    };

/** Where a leader believes a follower's log stands. */
export interface Progress {
  /** Next index to send. */
  next: number;
  /** Highest index known to be durable on the follower. */
  match: number;
}

/**
 * The member's role:
 * - `follower`: accepts entries from `leader` (undefined while it does not know one);
 * - `candidate`: asked for votes in the current term and counts `votes` granted so far;
 * - `leader`: appends proposals and tracks each follower's `progress`.
 */
export type RaftRole =
  | { role: 'follower'; leader: number | undefined }
  | { role: 'candidate'; votes: Set<number> }
  | { role: 'leader'; progress: Map<number, Progress> };

/**
 * Everything the caller must do after feeding the core. Order matters: persist `entries`
 * (replacing any from `entries[0].index` on) and `hardState`, fsync, tell the core with
 * `persisted()`, and only then send `messages`; apply `committed` in order.
 */
export interface Ready {
  /** Present when term or vote changed (commit is written along with the next entries). */
  hardState?: HardState;
  entries: Entry[];
  messages: RaftMessage[];
  committed: Entry[];
}

export interface RaftOptions {
  id: number;
  /** All voting members, including this one. */
  members: number[];
  /** Ticks without hearing from a leader before campaigning (randomised up to twice this). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks?: number;
  /** Injected randomness in [0, 1) for election timeouts. */
  random: () => number;
  /** Restored state: the last snapshot's index and term, hard state and log after it. */
  snapshot?: { index: number; term: number };
  hardState?: HardState;
  entries?: Entry[];
}
