// The drive loop of a group member: one pass of the write loop takes queued proposals, feeds
// the core, installs a received snapshot, applies committed entries to the MVCC state, answers
// confirmed reads and persists before sending; the tick timer drives elections, heartbeats and
// the leader's lease expiry (decided from its clock and carried in the log; a new leader first
// gives every lease a full TTL, as etcd does).
import { CapstanError } from '../../common/index.js';
import { failAll, failUnstable, LeaseExpiry, TickLoop } from '../embedded/index.js';
import { decodeCommand, encodeCommand } from '../mvcc/index.js';
import { decodeConfEntry, isConfChange, type Entry, type RaftMessage } from '../raft/index.js';
import { hex, unavailable } from './member-base.js';
import { MemberSnapshots } from './member-snapshots.js';

export abstract class MemberDrive extends MemberSnapshots {
  private wasLeader = false;
  protected readonly ticker = new TickLoop({
    clock: this.clock,
    tickMs: this.tickMs,
    raft: this.raft,
    expiry: new LeaseExpiry(
      (cmd) => this.submit(encodeCommand(cmd)),
      (err) => this.logger?.warn({ err }, 'lease expiry failed'),
    ),
    state: () => this.mvcc,
    closed: () => this.closed,
    after: (ticks, now, leader) => {
      if (leader && ticks % 10 === 0) this.promoteCaughtUp();
      if (ticks % 10 === 0) this.expireWaiters(now);
      void this.kick();
    },
  });

  // ---- inbound from peers ----

  protected onMessages(messages: RaftMessage[]): void {
    if (this.closed) return;
    for (const m of messages) if (m.to === this.id) this.raft.step(m);
    void this.kick();
  }

  protected onSent(peer: number, messages: RaftMessage[], ok: boolean): void {
    if (this.closed) return;
    if (!ok) this.raft.reportUnreachable(peer);
    for (const m of messages) if (m.type === 'snapshot') this.raft.reportSnapshot(peer, ok);
    if (!ok || messages.some((m) => m.type === 'snapshot')) void this.kick();
  }

  // ---- the loop ----

  protected async run(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      await this.snapshots.release();
      if (this.pending.length) {
        const batch = this.pending;
        this.pending = [];
        if (this.raft.isLeader && this.raft.transferTarget === undefined) {
          const indexes = this.raft.propose(batch.map((p) => p.data));
          const deadline = this.deadline();
          for (let i = 0; i < batch.length; i++) this.inflight.set(indexes[i]!, { ...batch[i]!, term: this.raft.term, deadline });
        } else for (const p of batch) void this.forward(p);
      }
      const ready = this.raft.ready();
      if (ready.snapshot) await this.installSnapshot(ready.snapshot);
      // Peers added by a change take part as soon as it is appended (as in the core).
      for (const e of ready.entries) if (isConfChange(e.data)) this.learnMembers(decodeConfEntry(e.data).change);
      this.applyEntries(ready.committed);
      if (ready.committed.length) this.snapshots.maybe();
      this.answerReads(ready.readStates);
      this.metrics.applyLag(this.raft.lastIndex - this.raft.applied);
      let messages = ready.messages;
      if (this.raft.isLeader && messages.length && (ready.entries.length || ready.hardState)) {
        // A leader's appends may go out while its own disk write runs (thesis §10.2.1): it
        // counts itself toward a commit only once persisted. Anything else (votes, answers)
        // waits for the fsync.
        const early = messages.filter((m) => m.type === 'append' || m.type === 'heartbeat');
        if (early.length) {
          this.transport.send(early);
          messages = messages.filter((m) => m.type !== 'append' && m.type !== 'heartbeat');
        }
      }
      if (ready.entries.length || ready.hardState) {
        const last = ready.entries[ready.entries.length - 1];
        if (this.wal) {
          try {
            await this.wal.append(ready.entries, this.raft.hardState);
          } catch (err) {
            failUnstable(this.raft, this.inflight, ready.entries, err, this.logger);
            return;
          }
          this.metrics.batchSize(ready.entries.length);
        }
        if (last) this.raft.persisted(last.index, last.term);
      }
      // Only now that what they depend on is durable.
      if (messages.length) this.transport.send(messages);
      if (ready.softState) this.noticeRole();
      const idle = !ready.entries.length && !ready.hardState && !ready.messages.length && !ready.committed.length && !ready.snapshot;
      if (idle && !this.pending.length) return;
    }
  }

  private applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      const waiter = this.inflight.get(e.index);
      if (waiter) this.inflight.delete(e.index);
      if (waiter && waiter.term !== e.term) {
        // Another leader's entry took this index: ours was never committed.
        waiter.reject(new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', 'leadership changed before the write committed; it was not applied', { context: { index: e.index } }));
      }
      const ours = waiter && waiter.term === e.term ? waiter : undefined;
      if (e.data.length === 0) {
        ours?.resolve({ index: e.index, result: undefined });
        continue;
      }
      if (isConfChange(e.data)) {
        const { change, config } = decodeConfEntry(e.data);
        this.appliedConfig = config;
        this.appliedMembership(change);
        ours?.resolve({ index: e.index, result: undefined });
        continue;
      }
      const outcome = this.mvcc.apply(decodeCommand(e.data));
      this.hub.publish(outcome.batches);
      if (!ours) continue;
      if (outcome.ok) ours.resolve({ index: e.index, result: outcome.result });
      else ours.reject(outcome.error);
    }
    if (entries.length) this.releaseApplied();
  }

  private noticeRole(): void {
    const leader = this.leader;
    this.logger?.info({ leader: hex(leader), term: this.raft.term }, leader === this.id ? 'became the leader' : leader === undefined ? 'no leader' : 'following a leader');
    const isLeader = this.raft.isLeader;
    if (isLeader === this.wasLeader) return;
    this.wasLeader = isLeader;
    if (isLeader && this.mvcc.leases.size) {
      // Time passed while no leader ran: every lease gets a full TTL from now.
      this.pending.push({ data: encodeCommand({ type: 'leasePromote', now: this.clock.now() }), resolve: () => undefined, reject: () => undefined });
    }
  }

  // ---- ticks ----

  /** Proposals and reads that outlived their deadline: their outcome is unknown. */
  private expireWaiters(now: number): void {
    for (const [index, w] of this.inflight) {
      if (w.deadline > now) continue;
      this.inflight.delete(index);
      w.reject(unavailable('the write was not committed in time; it may or may not have happened', { index }));
    }
    this.expireReads(now);
  }

  protected fatal(err: unknown): void {
    failAll(this.inflight, this.pending, err, this.logger);
    this.pending = [];
  }
}
