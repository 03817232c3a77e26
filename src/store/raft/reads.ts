// ReadIndex (§6.4) in the Raft core, without clock leases: a leader confirms it still leads
// with a heartbeat round a quorum of voters acknowledges (after committing an entry of its
// term); a follower forwards the request to the leader.
import { RaftElections } from './elections.js';
import type { ReadState } from './types.js';

interface PendingRead {
  requestId: string;
  /** Member that asked (this one for local reads). */
  from: number;
  index: number;
  /** Heartbeat round that must be acknowledged by a quorum. */
  seq: number;
}

export abstract class RaftReads extends RaftElections {
  protected readStates: ReadState[] = [];
  protected readSeq = 0;
  protected readAcks = new Map<number, number>();
  protected pendingReads: PendingRead[] = [];
  /** Reads that wait for the first commit of this term. */
  protected waitingReads: Array<{ requestId: string; from: number }> = [];

  protected override resetLeaderState(): void {
    super.resetLeaderState();
    this.pendingReads = [];
    this.waitingReads = [];
    this.readAcks.clear();
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

  protected leaderRead(requestId: string, from: number): void {
    if (this.termAt(this.commit) !== this.term) {
      this.waitingReads.push({ requestId, from });
      return;
    }
    this.pendingReads.push({ requestId, from, index: this.commit, seq: ++this.readSeq });
    this.heartbeatNow = true;
    this.releaseReads();
  }

  /** Answers every read whose heartbeat round a quorum of voters acknowledged. */
  protected releaseReads(): void {
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
}
