// A member of a Raft group: drives the pure core with a tick timer, persists through the WAL
// (entries and hard state fsynced before any message that depends on them is sent), sends
// and receives messages through the peer transport, applies committed entries to the MVCC
// state machine and serves the store core the KV contract runs on.
//
// Its parts, one file each, stacked in this order: the shared state and waits
// (member-base.ts), reads (member-reads.ts), forwarding (member-forward.ts), membership and
// learners (member-membership.ts), snapshots to followers (member-snapshots.ts), the drive
// and tick loop with lease expiry (member-drive.ts); this file opens, reports and stops it.
//
// - Writes proposed here while another member leads are forwarded to the leader, which
//   answers once the entry is applied; the caller's answer waits until this member has
//   applied it too, so a client reading here next sees its own write.
// - Linearizable reads use the core's ReadIndex (a heartbeat round a majority answers; no
//   clock leases); the read is served once the local state has applied that index.
// - Lease expiry is decided by the leader from its clock and carried in the log; a new
//   leader first gives every lease a full TTL (leasePromote), as etcd does.
// - Followers that need compacted entries get a snapshot (MVCC state and member table).
// - Membership changes one member at a time: a new member joins as a learner and is
//   promoted by the leader once it has caught up.
import { CapstanError } from '../../common/index.js';
import { createStoreMetrics, lockDataDir } from '../embedded/index.js';
import { MvccState } from '../mvcc/index.js';
import { decodeConfEntry, isConfChange, nodeWalFs, RaftCore, Wal, type RaftConfig, type WalState } from '../raft/index.js';
import { memberIdFor, type PeerSpec } from './ids.js';
import { closedError, hex, shuttingDown, unavailable, type ClusterMemberOptions, type MemberParts, type MemberStatus } from './member-base.js';
import { MemberDrive } from './member-drive.js';
import { mergeMembers, withChange } from './member-membership.js';
import { decodePayload } from './payload.js';

export type { ClusterMemberOptions, MemberStatus } from './member-base.js';

export class ClusterMember extends MemberDrive {
  private constructor(o: ClusterMemberOptions, parts: MemberParts) {
    super(o, parts);
  }

  static async open(o: ClusterMemberOptions): Promise<ClusterMember> {
    const logger = o.logger?.child({ component: 'store', member: o.name });
    if (!o.peers.some((p) => p.name === o.name)) {
      throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `--name ${o.name} is not one of the members in --peers (${o.peers.map((p) => p.name).join(', ')})`);
    }
    let mvcc = new MvccState();
    let members: PeerSpec[] = o.peers;
    let wal: Wal | undefined;
    let st: WalState = { entries: [] };
    let snapshotConfig: RaftConfig | undefined;
    const holder: { member?: ClusterMember } = {};
    const metrics = createStoreMetrics(o.metrics, () => ({ keys: holder.member?.mvcc.liveKeys ?? 0, bytes: holder.member?.mvcc.liveBytes ?? 0 }));
    let unlock: (() => Promise<void>) | undefined;
    if (o.dir) {
      const fs = o.fs ?? nodeWalFs;
      await fs.mkdirp(o.dir);
      unlock = await lockDataDir(o.dir, logger);
      try {
        const opened = await Wal.open({ dir: o.dir, fs, logger, segmentBytes: o.segmentBytes, onSync: (s) => metrics.fsyncSeconds(s) });
        wal = opened.wal;
        st = opened.state;
        if (st.snapshot) {
          const payload = decodePayload(st.snapshot.data);
          mvcc = payload.mvcc;
          members = mergeMembers(payload.members, o.peers);
          snapshotConfig = payload.config;
        }
      } catch (err) {
        await wal?.close();
        await unlock();
        throw err;
      }
      logger?.info({ dir: o.dir, snapshot: st.snapshot?.index ?? 0, replay: st.entries.length, term: st.hardState?.term ?? 0 }, 'opened the write-ahead log');
    }
    // Member names and URLs of changes in the log after the snapshot.
    for (const e of st.entries) if (isConfChange(e.data)) members = withChange(members, decodeConfEntry(e.data).change);
    const self = memberIdFor(o.name);
    const others = o.peers.filter((p) => p.name !== o.name).map((p) => memberIdFor(p.name));
    const bootstrap: RaftConfig = o.join ? { voters: others, learners: [self] } : { voters: o.peers.map((p) => memberIdFor(p.name)), learners: [] };
    const raft = new RaftCore({
      id: self,
      members: bootstrap.voters,
      learners: bootstrap.learners,
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: 1,
      random: o.random ?? Math.random,
      snapshotSource: () => holder.member?.snapshotForPeer(),
      ...(st.snapshot ? { snapshot: { index: st.snapshot.index, term: st.snapshot.term, ...(snapshotConfig ? { config: snapshotConfig } : {}) } } : {}),
      ...(st.hardState ? { hardState: st.hardState } : {}),
      entries: st.entries,
    });
    const member = new ClusterMember(o, { raft, wal, mvcc, snapshotIndex: st.snapshot?.index ?? 0, metrics, logger, members, config: snapshotConfig ?? bootstrap });
    holder.member = member;
    member.unlock = unlock;
    try {
      await member.transport.start();
    } catch (err) {
      await wal?.close();
      await unlock?.();
      throw unavailable(`the peer listener could not start: ${(err as Error).message}`, { member: o.name });
    }
    logger?.info({ id: hex(member.id), peerUrl: member.transport.url, voters: raft.members.map((m) => hex(m)) }, 'member started');
    if (raft.members.length === 1 && raft.members[0] === self) raft.campaign();
    await member.kick();
    member.ticker.start();
    return member;
  }

  /**
   * Shutdown begins: requests in progress and new ones get at most `graceMs` more (a group
   * without a quorum would otherwise hold each of them for the whole request timeout); then
   * every one still waiting fails with CAPSTAN_ERR_STORE_CLOSED and new ones fail at once.
   */
  drain(graceMs: number): void {
    if (this.closed || this.drainBy !== undefined) return;
    this.drainBy = this.clock.now() + graceMs;
    this.logger?.info({ graceMs }, 'shutting down: requests get at most the grace period');
    this.drainTimer = this.clock.setTimeout(() => this.cancelWaiting(shuttingDown()), graceMs);
  }

  /** Fails every request still waiting: proposals, forwards, reads and read-your-write waits. */
  private cancelWaiting(err: CapstanError): void {
    for (const p of this.pending) p.reject(err);
    this.pending = [];
    for (const p of this.forwarding) p.reject(err);
    this.forwarding.clear();
    for (const w of this.inflight.values()) w.reject(err);
    this.inflight.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    for (const w of this.appliedWaiters) w.reject(err);
    this.appliedWaiters = [];
  }

  // ---- status and control ----

  status(): MemberStatus {
    const s = this.raft.state;
    const c = this.raft.config;
    const members = [...c.voters.map((id) => [id, true] as const), ...c.learners.map((id) => [id, false] as const)].map(([id, voter]) => ({
      id: id.toString(16),
      name: this.names.get(id)?.name ?? id.toString(16),
      peerUrl: this.names.get(id)?.url ?? '',
      voter,
    }));
    return {
      id: this.id.toString(16),
      name: this.name,
      peerUrl: this.names.get(this.id)?.url ?? this.transport.url,
      role: s.role,
      term: this.raft.term,
      leader: hex(this.leader),
      commit: this.raft.commit,
      applied: this.raft.applied,
      lastIndex: this.raft.lastIndex,
      ...(s.role === 'leader' ? { progress: [...s.progress].map(([id, p]) => ({ id: id.toString(16), match: p.match, next: p.next })) } : {}),
      members,
    };
  }

  /** The leader's status (this member's own when it leads). */
  async leaderStatus(): Promise<MemberStatus> {
    const leader = await this.waitForLeader(this.deadline());
    if (leader === this.id) return this.status();
    return this.peerStatus(leader);
  }

  /** Another member's status over the transport. */
  peerStatus(id: number): Promise<MemberStatus> {
    return this.transport.peerStatus(id) as Promise<MemberStatus>;
  }

  /** Tests: cut this member off (nothing in or out) or reconnect it. */
  setIsolated(isolated: boolean): void {
    this.transport.setBlocked(isolated);
  }

  /**
   * Stops the member. A leader first hands leadership to the most up-to-date voter, so the
   * group does not wait out an election timeout.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.transferLeadership().catch((err: unknown) => this.logger?.debug({ err }, 'leadership transfer on shutdown failed'));
    this.closed = true;
    this.ticker.stop();
    if (this.drainTimer !== undefined) this.clock.clearTimeout(this.drainTimer);
    await this.transport.stop();
    await this.writeLoop.active;
    await this.snapshots.settle();
    await this.snapshots.release();
    this.cancelWaiting(this.drainBy !== undefined ? shuttingDown() : closedError());
    this.hub.closeAll();
    await this.wal?.close();
    await this.unlock?.();
    this.logger?.info('member stopped');
  }

  private async transferLeadership(): Promise<void> {
    const s = this.raft.state;
    if (s.role !== 'leader') return;
    let best: number | undefined;
    let bestMatch = -1;
    for (const [id, p] of s.progress) {
      if (this.raft.members.includes(id) && p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    if (best === undefined || !this.raft.transferLeader(best)) return;
    this.logger?.info({ to: hex(best) }, 'handing leadership over before stopping');
    void this.kick();
    const deadline = this.clock.now() + Math.max(1000, this.tickMs * 20);
    while (this.raft.isLeader && this.clock.now() < deadline) await this.pause(this.tickMs / 2);
  }
}
