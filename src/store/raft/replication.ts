// Replication in the Raft core: per-follower flow control (probe / replicate / snapshot, as
// etcd's Progress), appends bounded by bytes and inflight count, fast backtracking with an
// (index, term) hint, heartbeats, and commit by entries of the leader's own term only.
import type { Msg } from './log.js';
import { RaftReads } from './reads.js';
import type { Entry, Progress, RaftMessage, RaftOptions } from './types.js';

export abstract class RaftReplication extends RaftReads {
  protected readonly maxInflight: number;
  protected readonly maxMsgBytes: number;

  protected commitDirty = false;
  /** Followers owed an append even without new entries (they answered a heartbeat lagging). */
  protected owed = new Set<number>();

  constructor(o: RaftOptions) {
    super(o);
    this.maxInflight = Math.max(1, o.maxInflight ?? 256);
    this.maxMsgBytes = Math.max(1, o.maxMsgBytes ?? 1024 * 1024);
  }

  /** Sends `to` a snapshot when the entries it needs are compacted (snapshots.ts). */
  protected abstract sendSnapshot(to: number, p: Progress): boolean;

  protected override resetLeaderState(): void {
    super.resetLeaderState();
    this.commitDirty = false;
    this.owed.clear();
  }

  /** Progress for every member but this one, matching the membership now. */
  protected syncProgress(): void {
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

  protected onAppend(m: Msg<'append'>): void {
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

  protected onHeartbeat(m: Msg<'heartbeat'>): void {
    this.followLeader(m);
    // The leader sends at most what it knows we hold, so this never covers a diverging suffix.
    this.commit = Math.max(this.commit, Math.min(m.commit, this.lastIndex));
    const r: RaftMessage = { type: 'heartbeatResponse', from: this.id, to: m.from, term: this.term };
    if (m.context !== undefined) r.context = m.context;
    this.outbox.push(r);
  }

  protected onAppendResponse(m: Msg<'appendResponse'>): void {
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
  protected decreaseNext(p: Progress, m: Msg<'appendResponse'>): boolean {
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

  protected becomeProbe(p: Progress): void {
    p.state = 'probe';
    p.next = p.match + 1;
    p.inflight = [];
    p.paused = false;
    p.pendingSnapshot = undefined;
  }

  protected onHeartbeatResponse(m: Msg<'heartbeatResponse'>): void {
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
  protected maybeCommit(): void {
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

  /** Sends every follower what flow control allows; empty appends carry a new commit index. */
  protected flushAppends(): void {
    if (this.state.role !== 'leader') return;
    for (const [to, p] of this.state.progress) {
      let sent = false;
      while (this.sendAppend(to, p, false)) sent = true;
      if (!sent && (this.commitDirty || this.owed.has(to))) this.sendAppend(to, p, true);
    }
    this.commitDirty = false;
    this.owed.clear();
  }

  protected sendAppend(to: number, p: Progress, allowEmpty: boolean): boolean {
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

  protected sendHeartbeats(): void {
    if (this.state.role !== 'leader') return;
    for (const [to, p] of this.state.progress) {
      const m: RaftMessage = { type: 'heartbeat', from: this.id, to, term: this.term, commit: Math.min(p.match, this.commit) };
      if (this.readSeq > 0) m.context = this.readSeq;
      this.outbox.push(m);
    }
  }

  /** The transport failed to reach `to`: stop pipelining to it until it answers. */
  reportUnreachable(to: number): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(to);
    if (p && p.state === 'replicate') this.becomeProbe(p);
  }
}
