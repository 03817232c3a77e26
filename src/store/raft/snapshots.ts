// InstallSnapshot in the Raft core: a follower whose next entries are compacted gets the
// caller's snapshot (with the configuration at its index); a follower replaces its log with a
// received one unless it already holds the entry the snapshot ends with.
import { copyConfig, type Msg } from './log.js';
import { RaftReplication } from './replication.js';
import type { Progress, RaftOptions, RaftSnapshot } from './types.js';

export abstract class RaftSnapshots extends RaftReplication {
  protected readonly snapshotSource: RaftOptions['snapshotSource'];
  /** A snapshot received from the leader, for the next ready(). */
  protected restored: RaftSnapshot | undefined;

  constructor(o: RaftOptions) {
    super(o);
    this.snapshotSource = o.snapshotSource;
  }

  protected onSnapshot(m: Msg<'snapshot'>): void {
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

  protected sendSnapshot(to: number, p: Progress): boolean {
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

  /** The caller could not deliver a snapshot (or did): the follower is probed again. */
  reportSnapshot(to: number, ok: boolean): void {
    if (this.state.role !== 'leader') return;
    const p = this.state.progress.get(to);
    if (!p || p.state !== 'snapshot') return;
    const pending = p.pendingSnapshot ?? 0;
    this.becomeProbe(p);
    if (ok) p.next = Math.max(p.next, pending + 1);
  }
}
