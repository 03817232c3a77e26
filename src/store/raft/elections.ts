// Elections and leadership of the Raft core: the election timer, PreVote (§9.6) and votes,
// CheckQuorum (§6.2) on the leader's tick, becoming follower or leader (a no-op per term),
// and leadership transfer (§3.10).
import { NOOP, RaftLog, type Msg } from './log.js';
import type { RaftMessage, RaftOptions } from './types.js';

export abstract class RaftElections extends RaftLog {
  protected readonly electionTicks: number;
  protected readonly heartbeatTicks: number;
  protected readonly random: () => number;
  protected readonly preVote: boolean;
  protected readonly checkQuorum: boolean;

  protected ticks = 0;
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected electionTimeout = 0;
  protected outbox: RaftMessage[] = [];
  protected heartbeatNow = false;
  protected transferee: number | undefined;
  protected transferElapsed = 0;

  constructor(o: RaftOptions) {
    super(o);
    this.electionTicks = o.electionTicks ?? 10;
    this.heartbeatTicks = o.heartbeatTicks ?? 1;
    this.random = o.random;
    this.preVote = o.preVote ?? true;
    this.checkQuorum = o.checkQuorum ?? true;
    this.resetElectionTimeout();
  }

  /** Commit the highest index a quorum holds durably (replication.ts). */
  protected abstract maybeCommit(): void;

  /** The member a leadership transfer is in progress to, if any. */
  get transferTarget(): number | undefined {
    return this.transferee;
  }

  protected resetElectionTimeout(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
  }

  protected becomeFollower(term: number, leader: number | undefined): void {
    if (term > this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.state = { role: 'follower', leader };
    this.resetLeaderState();
    this.resetElectionTimeout();
  }

  /** Clears leader-only state; each part below the core clears its own too. */
  protected resetLeaderState(): void {
    this.transferee = undefined;
    this.heartbeatNow = false;
  }

  protected becomeLeader(): void {
    this.state = { role: 'leader', progress: new Map() };
    this.resetLeaderState();
    this.syncProgress();
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    // A no-op in the new term lets the leader commit entries of earlier terms (§5.4.2).
    this.appendEntry({ term: this.term, index: this.lastIndex + 1, data: NOOP });
    this.maybeCommit();
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
  protected preCampaign(): void {
    if (!this.isVoter) return;
    this.state = { role: 'preCandidate', votes: new Set([this.id]) };
    this.resetElectionTimeout();
    if (this.quorum === 1) return this.campaign();
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      this.outbox.push({ type: 'preVote', from: this.id, to, term: this.term + 1, lastLogIndex: this.lastIndex, lastLogTerm: this.lastTerm });
    }
  }

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

  protected tickLeader(): void {
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
  protected quorumActive(): boolean {
    if (this.state.role !== 'leader') return false;
    let active = this.isVoter ? 1 : 0;
    for (const [m, p] of this.state.progress) {
      if (p.recentActive && !p.learner) active++;
      if (m !== this.id) p.recentActive = false;
    }
    return active >= this.quorum;
  }

  protected onVote(m: Msg<'vote'> | Msg<'preVote'>): void {
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

  protected onPreVoteResponse(m: Msg<'preVoteResponse'>): void {
    if (this.state.role !== 'preCandidate' || !m.granted || m.term !== this.term + 1) return;
    if (!this.conf.voters.includes(m.from)) return;
    this.state.votes.add(m.from);
    if (this.state.votes.size >= this.quorum) this.campaign();
  }

  protected onVoteResponse(m: Msg<'voteResponse'>): void {
    if (this.state.role !== 'candidate' || !m.granted || !this.conf.voters.includes(m.from)) return;
    this.state.votes.add(m.from);
    if (this.state.votes.size >= this.quorum) this.becomeLeader();
  }

  protected followLeader(m: RaftMessage): void {
    if (this.state.role !== 'follower' || this.state.leader !== m.from) this.becomeFollower(m.term, m.from);
    this.electionElapsed = 0;
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
}
