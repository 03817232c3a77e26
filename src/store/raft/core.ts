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
//
// One concern a file, stacked in this order: the log and its membership (log.ts), elections
// and leadership transfer (elections.ts), ReadIndex (reads.ts), replication and flow control
// (replication.ts), snapshots (snapshots.ts); this file has the inputs, step() and ready().
import { CapstanError } from '../../common/index.js';
import { applyConfChange, encodeConfChange } from './confchange.js';
import { NOOP } from './log.js';
import { RaftSnapshots } from './snapshots.js';
import type { ConfChange, ConfChangeResult, RaftMessage, RaftOptions, RaftRole, Ready } from './types.js';

export class RaftCore extends RaftSnapshots {
  private lastHard: { term: number; vote: number };
  private lastSoft: { leader: number | undefined; role: RaftRole['role'] };

  constructor(o: RaftOptions) {
    super(o);
    this.lastHard = { term: this.term, vote: this.vote };
    this.lastSoft = { leader: undefined, role: 'follower' };
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
