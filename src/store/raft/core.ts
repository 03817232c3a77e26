// The pure Raft core. Inputs: tick(), step(message), propose(data), proposeConfChange(),
// readIndex(), transferLeader(), persisted(index), campaign(). Output: ready() — entries and
// hard state to persist, a received snapshot to install, messages to send, committed
// entries to apply and confirmed reads. No timers, no I/O, no clock; randomness is injected.
//
// Beyond figure 2 of the Raft paper (see Ongaro's thesis): PreVote (§9.6) and CheckQuorum
// (§6.2) against disruptive and partitioned members; per-follower flow control (probe /
// replicate / snapshot, as etcd's Progress); fast backtracking with a (index, term) hint;
// ReadIndex (§6.4) without clock leases; InstallSnapshot; single-server membership changes
// in effect once appended (§4.1); leadership transfer (§3.10).
import { CapstanError } from '../../common/index.js';
import { decodeConfEntry, encodeConfChange, applyConfChange, isConfChange } from './confchange.js';
import type {
  ConfChange,
  ConfChangeResult,
  Entry,
  HardState,
  Progress,
  RaftConfig,
  RaftMessage,
  RaftOptions,
  RaftRole,
  RaftSnapshot,
  ReadState,
  Ready,
} from './types.js';

const NOOP = new Uint8Array(0);

type Msg<T extends RaftMessage['type']> = Extract<RaftMessage, { type: T }>;

interface PendingRead {
  requestId: string;
  /** Member that asked (this one for local reads). */
  from: number;
  index: number;
  /** Heartbeat round that must be acknowledged by a quorum. */
  seq: number;
}

export class RaftCore {
  readonly id: number;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxInflight: number;
  private readonly maxMsgBytes: number;
  private readonly snapshotSource: RaftOptions['snapshotSource'];

  term = 0;
  vote = 0;
  commit = 0;
  /** Highest index handed out in committed entries (or restored from a snapshot). */
  applied = 0;
  state: RaftRole = { role: 'follower', leader: undefined };

  // The log after the snapshot point: log[i] has index offset + 1 + i.
  private log: Entry[] = [];
  private offset = 0;
  private offsetTerm = 0;
  /** Membership in effect at `offset`, and after the whole log. */
  private offsetConfig: RaftConfig;
  private conf: RaftConfig;
  /** Index of the last membership change in the log (0: none after the snapshot). */
  private confIndex = 0;
  /** Highest index known durable locally. */
  private stable = 0;
  /** First index not yet handed to the caller for persistence. */
  private unstableFrom = 1;

  private ticks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private electionTimeout = 0;
  private outbox: RaftMessage[] = [];
  private lastHard: { term: number; vote: number };
  private lastSoft: { leader: number | undefined; role: RaftRole['role'] };
  private restored: RaftSnapshot | undefined;
  private readStates: ReadState[] = [];

  // Leader-only state.
  private commitDirty = false;
  /** Followers owed an append even without new entries (they answered a heartbeat lagging). */
  private owed = new Set<number>();
  private heartbeatNow = false;
  private readSeq = 0;
  private readAcks = new Map<number, number>();
  private pendingReads: PendingRead[] = [];
  /** Reads that wait for the first commit of this term. */
  private waitingReads: Array<{ requestId: string; from: number }> = [];
  private transferee: number | undefined;
  private transferElapsed = 0;

  constructor(o: RaftOptions) {
    this.id = o.id;
    this.electionTicks = o.electionTicks ?? 10;
    this.heartbeatTicks = o.heartbeatTicks ?? 1;
    this.random = o.random;
    this.preVote = o.preVote ?? true;
    this.checkQuorum = o.checkQuorum ?? true;
    this.maxInflight = Math.max(1, o.maxInflight ?? 256);
    this.maxMsgBytes = Math.max(1, o.maxMsgBytes ?? 1024 * 1024);
    this.snapshotSource = o.snapshotSource;
    const base = o.snapshot?.config ?? { voters: [...o.members], learners: [...(o.learners ?? [])] };
    this.offsetConfig = copyConfig(base);
    this.conf = copyConfig(base);
    const fresh = !o.snapshot && !o.entries?.length;
    if (fresh && !base.voters.includes(o.id) && !base.learners.includes(o.id)) {
      throw new RangeError(`member ${o.id} is not in the member list`);
    }
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
    this.recomputeConfig();
    this.stable = this.lastIndex;
    this.unstableFrom = this.lastIndex + 1;
    this.commit = Math.min(this.commit, this.lastIndex);
    this.lastHard = { term: this.term, vote: this.vote };
    this.lastSoft = { leader: undefined, role: 'follower' };
    this.resetElectionTimeout();
  }

  // ---- log helpers ----

  get lastIndex(): number {
    return this.offset + this.log.length;
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex) ?? 0;
  }

  /** First index still in the in-memory log (entries before it are compacted). */
  get firstIndex(): number {
    return this.offset + 1;
  }

  /** Term of the entry at `index`; undefined when it is before the snapshot or past the end. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex) return undefined;
    return this.log[index - this.offset - 1]!.term;
  }

  /** Entries in [from, to] still in memory (for tests and inspection). */
  entries(from: number, to = this.lastIndex): Entry[] {
    return this.log.slice(Math.max(0, from - this.offset - 1), Math.max(0, to - this.offset));
  }

  get hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  get isLeader(): boolean {
    return this.state.role === 'leader';
  }

  /** The leader this member knows of (itself when leading). */
  get leader(): number | undefined {
    if (this.state.role === 'leader') return this.id;
    return this.state.role === 'follower' ? this.state.leader : undefined;
  }

  /** Voting members now (membership changes count from when they are appended). */
  get members(): readonly number[] {
    return this.conf.voters;
  }

  get config(): RaftConfig {
    return copyConfig(this.conf);
  }

  /** The member a leadership transfer is in progress to, if any. */
  get transferTarget(): number | undefined {
    return this.transferee;
  }

  private get quorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  private get isVoter(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private resetElectionTimeout(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
  }

  private appendEntry(e: Entry): void {
    this.log.push(e);
    if (isConfChange(e.data)) this.applyConfEntry(e);
  }

  private applyConfEntry(e: Entry): void {
    this.conf = decodeConfEntry(e.data).config;
    this.confIndex = e.index;
    if (this.state.role === 'leader') this.syncProgress();
  }

  /** Membership after the snapshot and every change in the log. */
  private recomputeConfig(): void {
    this.conf = copyConfig(this.offsetConfig);
    this.confIndex = 0;
    for (const e of this.log) {
      if (!isConfChange(e.data)) continue;
      this.conf = decodeConfEntry(e.data).config;
      this.confIndex = e.index;
    }
  }

  /** Membership in effect at `index` (the compacted offset's for anything before it). */
  configAt(index: number): RaftConfig {
    let c = this.offsetConfig;
    for (const e of this.log) {
      if (e.index > index) break;
      if (isConfChange(e.data)) c = decodeConfEntry(e.data).config;
    }
    return copyConfig(c);
  }

  /** Drops entries from `index` on (a conflicting suffix). */
  private truncateFrom(index: number): void {
    if (index <= this.commit) throw new Error(`raft: member ${this.id} asked to drop committed entry ${index} (commit ${this.commit})`);
    this.log.length = Math.max(0, index - this.offset - 1);
    this.stable = Math.min(this.stable, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
    if (this.confIndex >= index) this.recomputeConfig();
  }

  /** Latest index at or below `index` whose term is at most `term` (fast backtracking). */
  private findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex);
    while (i > this.offset) {
      const t = this.termAt(i)!;
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: this.offset, term: this.offsetTerm };
  }

  // ---- roles ----

  private becomeFollower(term: number, leader: number | undefined): void {
    if (term > this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.state = { role: 'follower', leader };
    this.resetLeaderState();
    this.resetElectionTimeout();
  }

  private resetLeaderState(): void {
    this.pendingReads = [];
    this.waitingReads = [];
    this.readAcks.clear();
    this.transferee = undefined;
    this.commitDirty = false;
    this.owed.clear();
    this.heartbeatNow = false;
  }

  private becomeLeader(): void {
    this.state = { role: 'leader', progress: new Map() };
    this.resetLeaderState();
    this.syncProgress();
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    // A no-op in the new term lets the leader commit entries of earlier terms (§5.4.2).
    this.appendEntry({ term: this.term, index: this.lastIndex + 1, data: NOOP });
    this.maybeCommit();
  }

  /** Progress for every member but this one, matching the membership now. */
  private syncProgress(): void {
    if (this.state.role !== 'leader') return;
    const progress = this.state.progress;
    const all = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const m of all) {
      if (m === this.id) continue;
      let p = progress.get(m);
      if (!p) {
        p = { next: this.lastIndex + 1, match: 0, state: 'probe', inflight: [], paused: false, recentActive: true };
        progress.set(m, p);
      }
      p.learner = this.conf.learners.includes(m);
    }
    for (const m of [...progress.keys()]) if (!all.has(m)) progress.delete(m);
    if (this.transferee !== undefined && !this.conf.voters.includes(this.transferee)) this.transferee = undefined;
  }

  /** Starts an election now, skipping PreVote. A single-member group wins it at once. */
  campaign(transfer = false): void {
    if (this.state.role === 'leader' || !this.isVoter) return;
    this.term++;
    this.vote = this.id;
    this.state = { role: 'candidate', votes: new Set([this.id]) };
    this.resetLeaderState();
    this.resetElectionTimeout();
    if (this.quorum === 1) {
      this.becomeLeader();
      return;
    }
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      const m: RaftMessage = { type: 'vote', from: this.id, to, term: this.term, lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm };
      if (transfer) m.transfer = true;
      this.outbox.push(m);
    }
  }

  /** Asks whether an election in the next term could be won, without raising the term. */
  private preCampaign(): void {
    if (!this.isVoter) return;
    this.state = { role: 'preCandidate', votes: new Set([this.id]) };
    this.resetElectionTimeout();
    if (this.quorum === 1) return this.campaign();
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      this.outbox.push({ type: 'preVote', from: this.id, to, term: this.term + 1, lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm });
    }
  }

  // ---- inputs ----

  tick(): void {
    this.ticks++;
    if (this.state.role === 'leader') return this.tickLeader();
    if (++this.electionElapsed >= this.electionTimeout) {
      if (!this.isVoter) {
        this.electionElapsed = 0;
        return;
      }
      if (this.preVote) this.preCampaign();
      else this.campaign();
    }
  }

  private tickLeader(): void {
    if (this.state.role !== 'leader') return;
    if (++this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, undefined);
        return;
      }
    }
    if (this.transferee !== undefined && ++this.transferElapsed >= this.electionTicks) this.transferee = undefined;
    if (++this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatNow = true;
    }
  }

  /** Whether a quorum of voters was heard from since the last check; resets the marks. */
  private quorumActive(): boolean {
    if (this.state.role !== 'leader') return false;
    let active = this.isVoter ? 1 : 0;
    for (const [m, p] of this.state.progress) {
      if (p.recentActive && !p.learner) active++;
      if (m !== this.id) p.recentActive = false;
    }
    return active >= this.quorum;
  }

  /** Appends proposals as one batch; returns their indexes. Throws when not the leader. */
  propose(data: Uint8Array[]): number[] {
    if (this.state.role !== 'leader' || this.transferee !== undefined) {
      throw new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', `member ${this.id} is not the leader`, {
        context: { leader: this.leader === this.id ? undefined : this.leader, transferring: this.transferee },
      });
    }
    const indexes: number[] = [];
    for (const d of data) {
      const index = this.lastIndex + 1;
      this.log.push({ term: this.term, index, data: d });
      indexes.push(index);
    }
    return indexes;
  }

  /**
   * Proposes one membership change. Refused while another is appended but not committed and
   * before this term's first commit (the thesis' fix for single-server changes across leaders).
   */
  proposeConfChange(cc: ConfChange): ConfChangeResult {
    if (this.state.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.transferee !== undefined) return { ok: false, reason: 'transferring' };
    if (this.confIndex > this.commit || this.termAt(this.commit) !== this.term) return { ok: false, reason: 'pending' };
    const next = applyConfChange(this.conf, cc);
    if (!next) return { ok: false, reason: 'invalid' };
    if (cc.type === 'promote') {
      const p = this.state.progress.get(cc.id);
      if (!p || p.match < this.commit) return { ok: false, reason: 'not-caught-up' };
    }
    const index = this.lastIndex + 1;
    this.appendEntry({ term: this.term, index, data: encodeConfChange(cc, next) });
    // A group that shrank to this member alone commits at once.
    this.maybeCommit();
    return { ok: true, index };
  }

  /**
   * Asks for a linearizable read. A leader confirms it is still leader with a heartbeat round
   * (after committing an entry of its term); a follower forwards to the leader. The answer
   * comes as a ready `readStates` entry; false when no leader is known (try again later).
   */
  readIndex(requestId: string): boolean {
    if (this.state.role === 'leader') {
      this.leaderRead(requestId, this.id);
      return true;
    }
    const leader = this.leader;
    if (leader === undefined) return false;
    this.outbox.push({ type: 'readIndex', from: this.id, to: leader, term: this.term, requestId });
    return true;
  }

  private leaderRead(requestId: string, from: number): void {
    if (this.termAt(this.commit) !== this.term) {
      this.waitingReads.push({ requestId, from });
      return;
    }
    this.pendingReads.push({ requestId, from, index: this.commit, seq: ++this.readSeq });
    this.heartbeatNow = true;
    this.releaseReads();
  }

  /** Answers every read whose heartbeat round a quorum of voters acknowledged. */
  private releaseReads(): void {
    while (this.pendingReads.length) {
      const r = this.pendingReads[0]!;
      let acks = this.isVoter ? 1 : 0;
      for (const v of this.conf.voters) if (v !== this.id && (this.readAcks.get(v) ?? 0) >= r.seq) acks++;
      if (acks < this.quorum) return;
      this.pendingReads.shift();
      if (r.from === this.id) this.readStates.push({ requestId: r.requestId, index: r.index });
      else this.outbox.push({ type: 'readIndexResponse', from: this.id, to: r.from, term: this.term, requestId: r.requestId, index: r.index });
    }
  }

  /**
   * Hands leadership to `to`: replicate until it holds the whole log, then tell it to campaign
   * at once. Proposals are refused meanwhile; gives up after an election timeout.
   */
  transferLeader(to: number): boolean {
    if (this.state.role !== 'leader' || to === this.id || !this.conf.voters.includes(to)) return false;
    if (this.transferee === to) return true;
    this.transferee = to;
    this.transferElapsed = 0;
    const p = this.state.progress.get(to)!;
    if (p.match === this.lastIndex) this.outbox.push({ type: 'timeoutNow', from: this.id, to, term: this.term });
    return true;
  }

  /** The caller could not deliver a snapshot (or did): the follower is probed again. */
  reportSnapshot(to: number, ok: boolean): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(to);
    if (!p || p.state !== 'snapshot') return;
    const pending = p.pendingSnapshot ?? 0;
    this.becomeProbe(p);
    if (ok) p.next = Math.max(p.next, pending + 1);
  }

  /** The transport failed to reach `to`: stop pipelining to it until it answers. */
  reportUnreachable(to: number): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(to);
    if (p && p.state === 'replicate') this.becomeProbe(p);
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
    if (this.stable >= this.lastIndex) return;
    this.log.length = Math.max(0, this.stable - this.offset);
    this.unstableFrom = this.stable + 1;
    if (this.confIndex > this.stable) this.recomputeConfig();
    if (this.state.role === 'leader') {
      for (const p of this.state.progress.values()) {
        if (p.next > this.lastIndex + 1) this.becomeProbe(p);
        p.next = Math.min(p.next, this.lastIndex + 1);
      }
      this.syncProgress();
      if (this.lastTerm < this.term) this.appendEntry({ term: this.term, index: this.lastIndex + 1, data: NOOP });
    }
  }

  /** Discards the in-memory log up to `index` once a snapshot covers it. */
  compact(index: number): void {
    if (index <= this.offset || index > this.applied) return;
    const term = this.termAt(index)!;
    this.offsetConfig = this.configAt(index);
    this.log = this.log.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
    if (this.confIndex <= index) this.confIndex = 0;
  }

  step(m: RaftMessage): void {
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // CheckQuorum's other half: while we hear from a leader, a member that cannot reach
        // it must not disrupt the group (thesis §4.2.3). A transfer is the leader's own wish.
        const inLease = this.checkQuorum && this.leader !== undefined && this.electionElapsed < this.electionTicks;
        if (inLease && !(m.type === 'vote' && m.transfer)) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResponse' && m.granted)) {
        // PreVote never changes terms.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : undefined);
      }
    } else if (m.term < this.term) {
      // A stale leader (or candidate) learns the newer term from our reply.
      if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.outbox.push({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: false, matchIndex: this.lastIndex, rejectIndex: -1 });
      } else if (m.type === 'preVote') {
        this.outbox.push({ type: 'preVoteResponse', from: this.id, to: m.from, term: this.term, granted: false });
      } else if (m.type === 'vote') {
        this.outbox.push({ type: 'voteResponse', from: this.id, to: m.from, term: this.term, granted: false });
      }
      return;
    }
    switch (m.type) {
      case 'vote':
      case 'preVote':
        return this.onVote(m);
      case 'voteResponse':
        return this.onVoteResponse(m);
      case 'preVoteResponse':
        return this.onPreVoteResponse(m);
      case 'append':
        return this.onAppend(m);
      case 'appendResponse':
        return this.onAppendResponse(m);
      case 'heartbeat':
        return this.onHeartbeat(m);
      case 'heartbeatResponse':
        return this.onHeartbeatResponse(m);
      case 'snapshot':
        return this.onSnapshot(m);
      case 'readIndex':
        if (this.state.role === 'leader') this.leaderRead(m.requestId, m.from);
        else this.outbox.push({ type: 'readIndexResponse', from: this.id, to: m.from, term: this.term, requestId: m.requestId, index: -1 });
        return;
      case 'readIndexResponse':
        if (m.index >= 0) this.readStates.push({ requestId: m.requestId, index: m.index });
        return;
      case 'timeoutNow':
        if (this.state.role !== 'leader') this.campaign(true);
        return;
    }
  }

  private onVote(m: Msg<'vote'> | Msg<'preVote'>): void {
    const upToDate = m.lastLogTerm > this.lastTerm || (m.lastLogTerm === this.lastTerm && m.lastLogIndex >= this.lastIndex);
    const canVote =
      this.vote === m.from ||
      (this.vote === 0 && this.leader === undefined) ||
      (m.type === 'preVote' && m.term > this.term);
    const granted = canVote && upToDate;
    if (m.type === 'preVote') {
      this.outbox.push({ type: 'preVoteResponse', from: this.id, to: m.from, term: granted ? m.term : this.term, granted });
      return;
    }
    if (granted) {
      this.vote = m.from;
      this.resetElectionTimeout();
    }
    this.outbox.push({ type: 'voteResponse', from: this.id, to: m.from, term: this.term, granted });
  }

  private onPreVoteResponse(m: Msg<'preVoteResponse'>): void {
    if (this.state.role !== 'preCandidate' || !m.granted || m.term !== this.term + 1) return;
    if (!this.conf.voters.includes(m.from)) return;
    this.state.votes.add(m.from);
    if (this.state.votes.size >= this.quorum) this.campaign();
  }

  private onVoteResponse(m: Msg<'voteResponse'>): void {
    if (this.state.role !== 'candidate' || !m.granted || !this.conf.voters.includes(m.from)) return;
    this.state.votes.add(m.from);
    if (this.state.votes.size >= this.quorum) this.becomeLeader();
  }

  private followLeader(m: RaftMessage): void {
    if (this.state.role !== 'follower' || this.state.leader !== m.from) this.becomeFollower(m.term, m.from);
    this.electionElapsed = 0;
  }

  private onAppend(m: Msg<'append'>): void {
    this.followLeader(m);
    const reject = (hint: { index: number; term: number }): void => {
      this.outbox.push({
        type: 'appendResponse',
        from: this.id,
        to: m.from,
        term: this.term,
        success: false,
        matchIndex: hint.index,
        rejectIndex: m.prevLogIndex,
        hintTerm: hint.term,
      });
    };
    if (m.prevLogIndex > this.lastIndex) return reject({ index: this.lastIndex, term: this.lastTerm });
    const prevTerm = this.termAt(m.prevLogIndex);
    // Before our snapshot everything is committed, hence matching.
    if (prevTerm !== undefined && prevTerm !== m.prevLogTerm) return reject(this.findConflictByTerm(m.prevLogIndex, m.prevLogTerm));
    for (const e of m.entries) {
      if (e.index <= this.offset) continue;
      const have = this.termAt(e.index);
      if (have === e.term) continue;
      if (have !== undefined) this.truncateFrom(e.index);
      this.appendEntry(e);
    }
    const lastNew = m.prevLogIndex + m.entries.length;
    this.commit = Math.max(this.commit, Math.min(m.commit, lastNew));
    this.outbox.push({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: true, matchIndex: lastNew });
  }

  private onHeartbeat(m: Msg<'heartbeat'>): void {
    this.followLeader(m);
    // The leader sends at most what it knows we hold, so this never covers a diverging suffix.
    this.commit = Math.max(this.commit, Math.min(m.commit, this.lastIndex));
    const r: RaftMessage = { type: 'heartbeatResponse', from: this.id, to: m.from, term: this.term };
    if (m.context !== undefined) r.context = m.context;
    this.outbox.push(r);
  }

  private onSnapshot(m: Msg<'snapshot'>): void {
    this.followLeader(m);
    const s = m.snapshot;
    const reply = (matchIndex: number): void => {
      this.outbox.push({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, success: true, matchIndex });
    };
    if (s.index <= this.commit) return reply(this.commit);
    if (this.termAt(s.index) === s.term) {
      // We hold the entry it ends with: the log up to it is the leader's; keep the rest.
      this.commit = s.index;
      return reply(s.index);
    }
    this.log = [];
    this.offset = s.index;
    this.offsetTerm = s.term;
    this.offsetConfig = copyConfig(s.config);
    this.recomputeConfig();
    this.commit = this.applied = this.stable = s.index;
    this.unstableFrom = s.index + 1;
    this.restored = s;
    reply(s.index);
  }

  private onAppendResponse(m: Msg<'appendResponse'>): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(m.from);
    if (!p) return;
    p.recentActive = true;
    if (!m.success) {
      if (this.decreaseNext(p, m)) p.paused = false;
      return;
    }
    if (m.matchIndex > p.match) p.match = m.matchIndex;
    if (p.next < m.matchIndex + 1) p.next = m.matchIndex + 1;
    if (p.state === 'snapshot' && p.match >= (p.pendingSnapshot ?? 0)) this.becomeProbe(p);
    if (p.state === 'probe') {
      p.state = 'replicate';
      p.next = p.match + 1;
      p.inflight = [];
      p.paused = false;
    } else if (p.state === 'replicate') {
      while (p.inflight!.length && p.inflight![0]! <= m.matchIndex) p.inflight!.shift();
    }
    this.maybeCommit();
    if (this.transferee === m.from && p.match === this.lastIndex && this.state.role === 'leader') {
      this.outbox.push({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
    }
  }

  /** A refusal: retry from where the follower's hint says the logs may match. */
  private decreaseNext(p: Progress, m: Msg<'appendResponse'>): boolean {
    const rejected = m.rejectIndex ?? p.next - 1;
    if (rejected < 0) return false; // a term notice, not about the log
    if (p.state === 'snapshot') return false;
    if (p.state === 'replicate') {
      if (rejected <= p.match) return false; // stale
      this.becomeProbe(p);
      return true;
    }
    if (p.next - 1 !== rejected) return false; // stale
    let hint = Math.min(m.matchIndex, rejected);
    if (m.hintTerm !== undefined && hint > this.offset) hint = this.findConflictByTerm(hint, m.hintTerm).index;
    p.next = Math.max(Math.min(rejected, hint + 1), p.match + 1, 1);
    return true;
  }

  private becomeProbe(p: Progress): void {
    p.state = 'probe';
    p.next = p.match + 1;
    p.inflight = [];
    p.paused = false;
    p.pendingSnapshot = undefined;
  }

  private onHeartbeatResponse(m: Msg<'heartbeatResponse'>): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(m.from);
    if (!p) return;
    p.recentActive = true;
    p.paused = false;
    // A lost append must not block a full pipeline forever.
    if (p.state === 'replicate' && p.inflight!.length >= this.maxInflight) p.inflight!.shift();
    if (p.state === 'snapshot' && this.ticks - (p.snapshotTick ?? 0) >= this.electionTicks) this.becomeProbe(p);
    // An append may have been lost: an (empty) one either fills the gap or is refused,
    // which sends the follower back to probing.
    if (p.match < this.lastIndex) this.owed.add(m.from);
    if (m.context !== undefined && !p.learner) {
      if (m.context > (this.readAcks.get(m.from) ?? 0)) this.readAcks.set(m.from, m.context);
      this.releaseReads();
    }
  }

  /** Commit the highest index a quorum holds durably, if it is from the current term. */
  private maybeCommit(): void {
    if (this.state.role !== 'leader') return;
    const matches: number[] = [];
    for (const v of this.conf.voters) matches.push(v === this.id ? this.stable : (this.state.progress.get(v)?.match ?? 0));
    matches.sort((a, b) => b - a);
    const n = matches[this.quorum - 1]!;
    if (n <= this.commit || this.termAt(n) !== this.term) return;
    const first = this.termAt(this.commit) !== this.term;
    this.commit = n;
    this.commitDirty = true;
    if (first && this.waitingReads.length) {
      const waiting = this.waitingReads;
      this.waitingReads = [];
      for (const r of waiting) this.leaderRead(r.requestId, r.from);
    }
    // A leader removed from the group leads until its removal commits, then steps down.
    if (!this.isVoter && this.confIndex <= this.commit) {
      this.flushAppends();
      this.becomeFollower(this.term, undefined);
    }
  }

  // ---- output ----

  /** Sends every follower what flow control allows; empty appends carry a new commit index. */
  private flushAppends(): void {
    if (this.state.role !== 'leader') return;
    for (const [to, p] of this.state.progress) {
      let sent = false;
      while (this.sendAppend(to, p, false)) sent = true;
      if (!sent && (this.commitDirty || this.owed.has(to))) this.sendAppend(to, p, true);
    }
    this.commitDirty = false;
    this.owed.clear();
  }

  private sendAppend(to: number, p: Progress, allowEmpty: boolean): boolean {
    if (p.state === 'snapshot') return false;
    if (p.state === 'probe' && p.paused) return false;
    if (p.state === 'replicate' && p.inflight!.length >= this.maxInflight) return false;
    const prevLogIndex = p.next - 1;
    const prevLogTerm = this.termAt(prevLogIndex);
    if (prevLogTerm === undefined) return this.sendSnapshot(to, p);
    const entries: Entry[] = [];
    let bytes = 0;
    for (let i = p.next; i <= this.lastIndex; i++) {
      const e = this.log[i - this.offset - 1]!;
      if (entries.length && bytes + e.data.length > this.maxMsgBytes) break;
      entries.push(e);
      bytes += e.data.length;
    }
    if (!entries.length && !allowEmpty) return false;
    this.outbox.push({ type: 'append', from: this.id, to, term: this.term, prevLogIndex, prevLogTerm, entries, commit: this.commit });
    if (p.state === 'replicate') {
      if (entries.length) {
        const last = entries[entries.length - 1]!.index;
        p.next = last + 1;
        p.inflight!.push(last);
      }
    } else {
      p.paused = true;
    }
    return entries.length > 0 && p.state === 'replicate';
  }

  private sendSnapshot(to: number, p: Progress): boolean {
    const s = this.snapshotSource?.();
    if (!s || s.index < this.offset || s.index > this.lastIndex || this.termAt(s.index) !== s.term) return false;
    this.outbox.push({
      type: 'snapshot',
      from: this.id,
      to,
      term: this.term,
      snapshot: { index: s.index, term: s.term, data: s.data, config: this.configAt(s.index) },
    });
    p.state = 'snapshot';
    p.pendingSnapshot = s.index;
    p.snapshotTick = this.ticks;
    p.inflight = [];
    return false;
  }

  private sendHeartbeats(): void {
    if (this.state.role !== 'leader') return;
    for (const [to, p] of this.state.progress) {
      const m: RaftMessage = { type: 'heartbeat', from: this.id, to, term: this.term, commit: Math.min(p.match, this.commit) };
      if (this.readSeq > 0) m.context = this.readSeq;
      this.outbox.push(m);
    }
  }

  ready(): Ready {
    if (this.state.role === 'leader') {
      this.flushAppends();
      if (this.heartbeatNow) this.sendHeartbeats();
      this.heartbeatNow = false;
    }
    const r: Ready = { entries: [], messages: this.outbox, committed: [], readStates: this.readStates };
    this.outbox = [];
    this.readStates = [];
    if (this.restored) {
      r.snapshot = this.restored;
      this.restored = undefined;
    }
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
    const leader = this.leader;
    if (leader !== this.lastSoft.leader || this.state.role !== this.lastSoft.role) {
      this.lastSoft = { leader, role: this.state.role };
      r.softState = { ...this.lastSoft };
    }
    return r;
  }
}

function copyConfig(c: RaftConfig): RaftConfig {
  return { voters: [...c.voters], learners: [...c.learners] };
}
