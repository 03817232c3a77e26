// The pure Raft core. Inputs: tick(), step(message), propose(data), persisted(index),
// campaign(). Output: ready() — entries to persist, hard state, messages to send and
// committed entries to apply. No timers, no I/O, no clock; randomness is injected.
// A single-member group elects itself as soon as it campaigns; replication to peers is
// implemented (log matching, commit by majority) but snapshot transfer to lagging
// followers is not yet.
import { CapstanError } from '../../common/index.js';
import type { Entry, HardState, Progress, RaftMessage, RaftOptions, RaftRole, Ready } from './types.js';

const NOOP = new Uint8Array(0);

export class RaftCore {
  readonly id: number;
  readonly members: readonly number[];
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;

  term = 0;
  vote = 0;
  commit = 0;
  /** Highest index handed out in committed entries. */
  applied = 0;
  state: RaftRole = { role: 'follower', leader: undefined };

  // The log after the snapshot point: log[i] has index offset + 1 + i.
  private log: Entry[] = [];
  private offset = 0;
  private offsetTerm = 0;
  /** Highest index known durable locally. */
  private stable = 0;
  /** First index not yet handed to the caller for persistence. */
  private unstableFrom = 1;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private electionTimeout = 0;
  private outbox: RaftMessage[] = [];
  private broadcastPending = false;
  private lastHard: { term: number; vote: number };

  constructor(o: RaftOptions) {
    this.id = o.id;
    this.members = [...o.members];
    if (!this.members.includes(o.id)) throw new RangeError(`member ${o.id} is not in the member list`);
    this.electionTicks = o.electionTicks ?? 10;
    this.heartbeatTicks = o.heartbeatTicks ?? 1;
    this.random = o.random;
    if (o.snapshot) {
      this.offset = o.snapshot.index;
      this.offsetTerm = o.snapshot.term;
      this.commit = this.applied = o.snapshot.index;
    }
    if (o.hardState) {
      this.term = o.hardState.term;
      this.vote = o.hardState.vote;
      this.commit = Math.max(this.commit, o.hardState.commit);
    }
    for (const e of o.entries ?? []) if (e.index > this.offset) this.log.push(e);
    this.stable = this.lastIndex;
    this.unstableFrom = this.lastIndex + 1;
    this.commit = Math.min(this.commit, this.lastIndex);
    this.lastHard = { term: this.term, vote: this.vote };
    this.resetElectionTimeout();
  }

  // ---- log helpers ----

  get lastIndex(): number {
    return this.offset + this.log.length;
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex) ?? 0;
  }

  /** Term of the entry at `index`; undefined when it is before the snapshot or past the end. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex) return undefined;
    return this.log[index - this.offset - 1]!.term;
  }

  get hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  get isLeader(): boolean {
    return this.state.role === 'leader';
  }

  private get quorum(): number {
    return Math.floor(this.members.length / 2) + 1;
  }

  private resetElectionTimeout(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
  }

  private append(entries: Entry[]): void {
    for (const e of entries) this.log.push(e);
  }

  /** Drops entries from `index` on (a conflicting suffix). */
  private truncateFrom(index: number): void {
    this.log.length = Math.max(0, index - this.offset - 1);
    this.stable = Math.min(this.stable, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
  }

  // ---- roles ----

  private becomeFollower(term: number, leader: number | undefined): void {
    if (term > this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.state = { role: 'follower', leader };
    this.resetElectionTimeout();
  }

  private becomeLeader(): void {
    const progress = new Map<number, Progress>();
    for (const m of this.members) if (m !== this.id) progress.set(m, { next: this.lastIndex + 1, match: 0 });
    this.state = { role: 'leader', progress };
    this.heartbeatElapsed = 0;
    // A no-op in the new term lets the leader commit entries of earlier terms (§5.4.2).
    this.append([{ term: this.term, index: this.lastIndex + 1, data: NOOP }]);
    this.broadcastPending = true;
    this.maybeCommit();
  }

  /** Starts an election now. A single-member group wins it at once. */
  campaign(): void {
    if (this.state.role === 'leader') return;
    this.term++;
    this.vote = this.id;
    this.state = { role: 'candidate', votes: new Set([this.id]) };
    this.resetElectionTimeout();
    if (this.quorum === 1) {
      this.becomeLeader();
      return;
    }
    for (const to of this.members) {
      if (to === this.id) continue;
      this.outbox.push({ type: 'vote', from: this.id, to, term: this.term, lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm });
    }
  }

  // ---- inputs ----

  tick(): void {
    if (this.state.role === 'leader') {
      if (++this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        if (this.members.length > 1) this.broadcastPending = true;
      }
      return;
    }
    if (++this.electionElapsed >= this.electionTimeout) this.campaign();
  }

  /** Appends proposals as one batch; returns their indexes. Throws when not the leader. */
  propose(data: Uint8Array[]): number[] {
    if (this.state.role !== 'leader') {
      const leader = this.state.role === 'follower' ? this.state.leader : undefined;
      throw new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', `member ${this.id} is not the leader`, { context: { leader } });
    }
    const indexes: number[] = [];
    for (const d of data) {
      const index = this.lastIndex + 1;
      this.log.push({ term: this.term, index, data: d });
      indexes.push(index);
    }
    this.broadcastPending = true;
    return indexes;
  }

  /** Entries up to `index` (of `term`) are durable locally. */
  persisted(index: number, term: number): void {
    if (this.termAt(index) !== term) return; // overwritten meanwhile
    if (index > this.stable) this.stable = index;
    if (this.state.role === 'leader') this.maybeCommit();
  }

  /**
   * Forgets entries handed out for persistence that could not be written (disk full). Safe
   * because messages carrying them are only sent after they are durable.
   */
  dropUnstable(): void {
    this.truncateFrom(this.stable + 1);
    this.unstableFrom = this.stable + 1;
    if (this.state.role === 'leader') {
      for (const p of this.state.progress.values()) p.next = Math.min(p.next, this.lastIndex + 1);
      if (this.lastTerm < this.term) this.append([{ term: this.term, index: this.lastIndex + 1, data: NOOP }]);
    }
  }

  /** Discards the in-memory log up to `index` once a snapshot covers it. */
  compact(index: number): void {
    if (index <= this.offset || index > this.applied) return;
    const term = this.termAt(index)!;
    this.log = this.log.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
  }

  step(m: RaftMessage): void {
    if (m.term > this.term) {
      this.becomeFollower(m.term, m.type === 'append' ? m.from : undefined);
    } else if (m.term < this.term) {
      // A stale leader learns the newer term from our reply.
      if (m.type === 'append') this.outbox.push({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: false, matchIndex: this.lastIndex });
      return;
    }
    switch (m.type) {
      case 'vote':
        return this.onVote(m);
      case 'voteResponse':
        return this.onVoteResponse(m);
      case 'append':
        return this.onAppend(m);
      case 'appendResponse':
        return this.onAppendResponse(m);
    }
  }

  private onVote(m: Extract<RaftMessage, { type: 'vote' }>): void {
    const upToDate = m.lastLogTerm > this.lastTerm || (m.lastLogTerm === this.lastTerm && m.lastLogIndex >= this.lastIndex);
    const free = this.vote === 0 || this.vote === m.from;
    const granted = free && upToDate && this.state.role !== 'leader';
    if (granted) {
      this.vote = m.from;
      this.resetElectionTimeout();
    }
    this.outbox.push({ type: 'voteResponse', from: this.id, to: m.from, term: this.term, granted });
  }

  private onVoteResponse(m: Extract<RaftMessage, { type: 'voteResponse' }>): void {
    if (this.state.role !== 'candidate' || !m.granted) return;
    this.state.votes.add(m.from);
    if (this.state.votes.size >= this.quorum) this.becomeLeader();
  }

  private onAppend(m: Extract<RaftMessage, { type: 'append' }>): void {
    if (this.state.role !== 'follower' || this.state.leader !== m.from) this.becomeFollower(m.term, m.from);
    this.resetElectionTimeout();
    const reply = (success: boolean, matchIndex: number): void => {
      this.outbox.push({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success, matchIndex });
    };
    if (m.prevLogIndex > this.lastIndex) return reply(false, this.lastIndex);
    const prevTerm = this.termAt(m.prevLogIndex);
    // Before our snapshot everything is committed, hence matching.
    if (prevTerm !== undefined && prevTerm !== m.prevLogTerm) return reply(false, m.prevLogIndex - 1);
    for (const e of m.entries) {
      if (e.index <= this.offset) continue;
      const have = this.termAt(e.index);
      if (have === e.term) continue;
      if (have !== undefined) this.truncateFrom(e.index);
      this.log.push(e);
    }
    const lastNew = m.prevLogIndex + m.entries.length;
    if (m.commit > this.commit) this.commit = Math.min(m.commit, lastNew);
    reply(true, lastNew);
  }

  private onAppendResponse(m: Extract<RaftMessage, { type: 'appendResponse' }>): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(m.from);
    if (!p) return;
    if (m.success) {
      p.match = Math.max(p.match, m.matchIndex);
      p.next = Math.max(p.next, m.matchIndex + 1);
      this.maybeCommit();
    } else {
      p.next = Math.max(1, Math.min(p.next - 1, m.matchIndex + 1));
      this.broadcastPending = true;
    }
  }

  /** Commit the highest index a majority holds durably, if it is from the current term. */
  private maybeCommit(): void {
    if (this.state.role !== 'leader') return;
    const matches = [this.stable];
    for (const p of this.state.progress.values()) matches.push(p.match);
    matches.sort((a, b) => b - a);
    const n = matches[this.quorum - 1]!;
    if (n > this.commit && this.termAt(n) === this.term) {
      this.commit = n;
      this.broadcastPending = this.members.length > 1;
    }
  }

  // ---- output ----

  ready(): Ready {
    if (this.broadcastPending && this.state.role === 'leader') {
      for (const [to, p] of this.state.progress) {
        const prevLogIndex = p.next - 1;
        const prevLogTerm = this.termAt(prevLogIndex);
        if (prevLogTerm === undefined) continue; // needs a snapshot: not supported yet
        const entries = this.log.slice(p.next - this.offset - 1);
        this.outbox.push({ type: 'append', from: this.id, to, term: this.term, prevLogIndex, prevLogTerm, entries, commit: this.commit });
        p.next = this.lastIndex + 1;
      }
    }
    this.broadcastPending = false;
    const r: Ready = { entries: [], messages: this.outbox, committed: [], readStates: [] };
    this.outbox = [];
    if (this.unstableFrom <= this.lastIndex) {
      r.entries = this.log.slice(this.unstableFrom - this.offset - 1);
      this.unstableFrom = this.lastIndex + 1;
    }
    if (this.term !== this.lastHard.term || this.vote !== this.lastHard.vote) {
      r.hardState = this.hardState;
      this.lastHard = { term: this.term, vote: this.vote };
    }
    const upTo = Math.min(this.commit, this.stable);
    if (upTo > this.applied) {
      r.committed = this.log.slice(this.applied - this.offset, upTo - this.offset);
      this.applied = upTo;
    }
    return r;
  }
}
