// A member of a Raft group: drives the pure core with a tick timer, persists through the WAL
// (entries and hard state fsynced before any message that depends on them is sent), sends
// and receives messages through the peer transport, applies committed entries to the MVCC
// state machine and serves the store core the KV contract runs on.
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
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CapstanError, isCapstanError } from '../../common/index.js';
import {
  BackgroundSnapshots,
  createStoreMetrics,
  failAll,
  failUnstable,
  LeaseExpiry,
  lockDataDir,
  realClock,
  tooLarge,
  WatchHub,
  WriteLoop,
  type StoreClock,
  type StoreMetrics,
} from '../embedded/index.js';
import { decodeCommand, encodeCommand, MvccState, type Command } from '../mvcc/index.js';
import {
  decodeConfEntry,
  isConfChange,
  nodeWalFs,
  RaftCore,
  Wal,
  type ConfChange,
  type Entry,
  type RaftConfig,
  type RaftMessage,
  type RaftSnapshot,
  type WalFs,
  type WalState,
} from '../raft/index.js';
import { memberIdFor, normalisePeerUrl, type PeerSpec } from './ids.js';
import { decodePayload, encodePayload } from './payload.js';
import { HttpTransport, type MembershipRequest, type PeerTls } from './transport.js';

export interface ClusterMemberOptions {
  /** This member's name; must be one of `peers`. */
  name: string;
  /** Every member at bootstrap (this one included), or the group being joined. */
  peers: PeerSpec[];
  /** Join an existing group as a learner (`capstan members add` first) instead of bootstrapping. */
  join?: boolean;
  clusterId: string;
  /** Shared secret every member presents to its peers. */
  token: string;
  /** Data folder; absent: the log lives in memory (tests). */
  dir?: string;
  /** Where the peer listener binds (default: the host and port of this member's peer URL). */
  peerListen?: { host: string; port: number };
  /** Mutual TLS between members (https:// peer URLs): the cluster CA and this member's certificate. */
  tls?: PeerTls;
  logger?: Logger;
  metrics?: Registry;
  clock?: StoreClock;
  fs?: WalFs;
  segmentBytes?: number;
  /** Take a snapshot every this many applied entries (default 10,000). */
  snapshotEvery?: number;
  /** Milliseconds per Raft tick (default 50). */
  tickMs?: number;
  /** Ticks without a leader before campaigning, randomised up to twice (default 10). */
  electionTicks?: number;
  /** How long a forwarded write or a read may take (default 10 s). */
  requestTimeoutMs?: number;
  watchBufferBatches?: number;
  random?: () => number;
}

export interface MemberStatus {
  id: string;
  name: string;
  peerUrl: string;
  role: 'leader' | 'follower' | 'preCandidate' | 'candidate';
  term: number;
  leader: string | null;
  commit: number;
  applied: number;
  lastIndex: number;
  /** The leader's view of each follower (leader only). */
  progress?: { id: string; match: number; next: number }[];
  /** Every member of the configuration this member has. */
  members: { id: string; name: string; peerUrl: string; voter: boolean }[];
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

interface Applied {
  index: number;
  result: unknown;
}

interface Proposal extends Waiter<Applied> {
  data: Uint8Array;
}

interface Inflight extends Waiter<Applied> {
  term: number;
  deadline: number;
}

interface ReadWaiter extends Waiter<number> {
  deadline: number;
}

function unavailable(message: string, context: Record<string, unknown> = {}): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', message, { context });
}

function closedError(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the store is closed');
}

function shuttingDown(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'this member is shutting down: the request was cancelled (a write may or may not have happened)');
}

const hex = (id: number | undefined): string | null => (id === undefined || id === 0 ? null : id.toString(16));

/** One read attempt waits this long for the leader's answer before asking again. */
const READ_ATTEMPT_MS = 2000;

export class ClusterMember {
  readonly id: number;
  readonly name: string;
  readonly hub: WatchHub;
  mvcc: MvccState;
  closed = false;

  private readonly raft: RaftCore;
  private readonly wal: Wal | undefined;
  private readonly transport: HttpTransport;
  private readonly clock: StoreClock;
  private readonly logger: Logger | undefined;
  private readonly metrics: StoreMetrics;
  private readonly snapshotEvery: number;
  private readonly snapshots: BackgroundSnapshots;
  private readonly tickMs: number;
  private readonly requestTimeoutMs: number;
  /** Names and peer URLs of every member id known (the configuration's and removed ones). */
  private readonly names = new Map<number, PeerSpec>();
  private unlock: (() => Promise<void>) | undefined;

  private pending: Proposal[] = [];
  private inflight = new Map<number, Inflight>();
  private reads = new Map<string, ReadWaiter>();
  private readSeq = 0;
  private appliedWaiters: { index: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Proposals on their way to the leader (forwarded or waiting for one to be known). */
  private forwarding = new Set<Proposal>();
  /** Set once shutdown begins: every request is answered (or cancelled) by then. */
  private drainBy: number | undefined;
  private drainTimer: unknown;
  private readonly writeLoop = new WriteLoop(
    () => this.run(),
    (err) => this.fatal(err),
    () => this.pending.length > 0 && !this.closed,
  );
  private tickHandle: unknown;
  private ticks = 0;
  private wasLeader = false;
  private readonly expiry = new LeaseExpiry(
    (cmd) => this.submit(encodeCommand(cmd)),
    (err) => this.logger?.warn({ err }, 'lease expiry failed'),
  );
  private promoting = false;
  /** The membership as of the applied index (what a snapshot of the applied state carries). */
  private appliedConfig: RaftConfig;

  private constructor(
    o: ClusterMemberOptions,
    parts: {
      raft: RaftCore;
      wal: Wal | undefined;
      mvcc: MvccState;
      snapshotIndex: number;
      metrics: StoreMetrics;
      logger: Logger | undefined;
      members: PeerSpec[];
      config: RaftConfig;
    },
  ) {
    this.appliedConfig = parts.config;
    this.name = o.name;
    this.id = memberIdFor(o.name);
    this.raft = parts.raft;
    this.wal = parts.wal;
    this.mvcc = parts.mvcc;
    this.metrics = parts.metrics;
    this.logger = parts.logger;
    this.clock = o.clock ?? realClock;
    this.snapshotEvery = o.snapshotEvery ?? 10_000;
    this.snapshots = new BackgroundSnapshots(
      {
        raft: this.raft,
        wal: this.wal,
        logger: this.logger,
        every: this.snapshotEvery,
        encode: () => encodePayload(this.mvcc, this.members(this.appliedConfig), this.appliedConfig),
        compact: (index) => this.compactLog(index),
        wake: () => {
          if (!this.closed) void this.kick();
        },
      },
      parts.snapshotIndex,
    );
    this.tickMs = o.tickMs ?? 50;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.hub = new WatchHub(o.watchBufferBatches ?? 10_000);
    for (const p of parts.members) this.names.set(memberIdFor(p.name), p);
    const selfUrl = new URL(this.names.get(this.id)?.url ?? o.peers.find((p) => p.name === o.name)!.url);
    const listen = o.peerListen ?? { host: selfUrl.hostname, port: Number(selfUrl.port) };
    this.transport = new HttpTransport({
      selfId: this.id,
      clusterId: o.clusterId,
      token: o.token,
      host: listen.host,
      port: listen.port,
      peers: new Map([...this.names].map(([id, p]) => [id, p.url])),
      ...(o.tls ? { tls: o.tls } : {}),
      logger: this.logger,
      onSent: (peer, messages, ok) => this.onSent(peer, messages, ok),
      handlers: {
        messages: (ms) => this.onMessages(ms),
        propose: (data) => this.onForwardedProposal(data),
        membership: (req) => this.changeMembership(req),
        status: () => this.status(),
      },
    });
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
    member.scheduleTick();
    return member;
  }

  // ---- the store core ----

  now(): number {
    return this.clock.now();
  }

  get isLeader(): boolean {
    return this.raft.isLeader;
  }

  /** The leader this member knows of (itself included), if any. */
  get leader(): number | undefined {
    return this.raft.leader;
  }

  get peerUrl(): string {
    return this.transport.url;
  }

  propose<T>(cmd: Command): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (this.drained) return Promise.reject(shuttingDown());
    const large = tooLarge(cmd);
    if (large) return Promise.reject(large);
    return this.submit(encodeCommand(cmd)).then((a) => a.result as T);
  }

  /** Resolves once this member has applied everything acknowledged before the call. */
  async readBarrier(): Promise<void> {
    if (this.closed) throw closedError();
    if (this.drained) throw shuttingDown();
    const index = await this.readIndex();
    await this.waitApplied(index, this.deadline());
  }

  /** Now plus the request timeout, or the end of the shutdown grace when that is sooner. */
  private deadline(): number {
    const d = this.clock.now() + this.requestTimeoutMs;
    return this.drainBy === undefined ? d : Math.min(d, this.drainBy);
  }

  private get drained(): boolean {
    return this.drainBy !== undefined && this.clock.now() >= this.drainBy;
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

  private submit(data: Uint8Array): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      const p: Proposal = { data, resolve, reject };
      if (this.raft.isLeader) {
        this.pending.push(p);
        void this.kick();
      } else void this.forward(p);
    });
  }

  private async forward(p: Proposal): Promise<void> {
    const deadline = this.deadline();
    this.forwarding.add(p);
    try {
      for (;;) {
        const leader = await this.waitForLeader(deadline);
        if (leader === this.id) {
          this.pending.push(p);
          void this.kick();
          return;
        }
        try {
          const r = await this.transport.forwardPropose(leader, p.data, Math.max(1, deadline - this.clock.now()));
          // Read-your-writes here: answer once this member has the entry applied too.
          await this.waitApplied(r.index, deadline).catch(() => undefined);
          p.resolve(r);
          return;
        } catch (err) {
          // Not proposed at all (a leader that had just stepped down, or a refused
          // connection): safe to try the next leader. Anything else may have happened.
          const retry = isCapstanError(err, 'CAPSTAN_ERR_STORE_NOT_LEADER') || refused(err);
          if (!retry || this.clock.now() >= deadline || this.closed) throw err;
          await this.pause(this.tickMs);
        }
      }
    } catch (err) {
      p.reject(err);
    } finally {
      this.forwarding.delete(p);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimeout(r, ms));
  }

  private async waitForLeader(deadline: number): Promise<number> {
    for (;;) {
      if (this.closed) throw closedError();
      if (this.drained) throw shuttingDown();
      const leader = this.leader;
      if (leader !== undefined) return leader;
      if (this.clock.now() >= deadline) throw unavailable('no leader: fewer than a majority of the members answer', { member: this.name });
      await this.pause(this.tickMs);
    }
  }

  private waitApplied(index: number, deadline: number): Promise<void> {
    if (this.raft.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { index, resolve, reject };
      this.appliedWaiters.push(w);
      this.clock.setTimeout(
        () => {
          const i = this.appliedWaiters.indexOf(w);
          if (i < 0) return;
          this.appliedWaiters.splice(i, 1);
          reject(unavailable(`this member did not apply index ${index} in time`, { index, applied: this.raft.applied }));
        },
        Math.max(1, deadline - this.clock.now()),
      );
    });
  }

  /** A confirmed read index (ReadIndex through the core; forwarded to the leader by it). */
  private async readIndex(): Promise<number> {
    const deadline = this.deadline();
    for (;;) {
      await this.waitForLeader(deadline);
      const requestId = `${this.id.toString(16)}.${++this.readSeq}`;
      if (this.raft.readIndex(requestId)) {
        const attempt = Math.min(READ_ATTEMPT_MS, Math.max(1, deadline - this.clock.now()));
        const index = await new Promise<number>((resolve, reject) => {
          this.reads.set(requestId, { resolve, reject, deadline: this.clock.now() + attempt });
          void this.kick();
        }).catch((err: unknown) => {
          if (isCapstanError(err, 'CAPSTAN_ERR_STORE_CLOSED')) throw err;
          return -1;
        });
        if (index >= 0) return index;
      }
      if (this.clock.now() >= deadline) throw unavailable('a majority did not confirm the read in time', { member: this.name });
      await this.pause(this.tickMs);
    }
  }

  private notLeader(): CapstanError {
    return new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', `member ${this.name} is not the leader`, { context: { leader: hex(this.leader) } });
  }

  // ---- inbound from peers ----

  private onMessages(messages: RaftMessage[]): void {
    if (this.closed) return;
    for (const m of messages) if (m.to === this.id) this.raft.step(m);
    void this.kick();
  }

  private onSent(peer: number, messages: RaftMessage[], ok: boolean): void {
    if (this.closed) return;
    if (!ok) this.raft.reportUnreachable(peer);
    for (const m of messages) if (m.type === 'snapshot') this.raft.reportSnapshot(peer, ok);
    if (!ok || messages.some((m) => m.type === 'snapshot')) void this.kick();
  }

  private async onForwardedProposal(data: Uint8Array): Promise<Applied> {
    if (this.closed) throw closedError();
    if (!this.raft.isLeader) throw this.notLeader();
    let cmd = decodeCommand(data);
    // Lease time is the leader's clock, whoever received the request.
    if ('now' in cmd) {
      cmd = { ...cmd, now: this.clock.now() };
      data = encodeCommand(cmd);
    }
    return new Promise<Applied>((resolve, reject) => {
      this.pending.push({ data, resolve, reject });
      void this.kick();
    });
  }

  // ---- the loop ----

  private kick(): Promise<void> {
    return this.writeLoop.kick();
  }

  private async run(): Promise<void> {
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
      for (const rs of ready.readStates) {
        const w = this.reads.get(rs.requestId);
        if (!w) continue;
        this.reads.delete(rs.requestId);
        w.resolve(rs.index);
      }
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

  private releaseApplied(): void {
    if (!this.appliedWaiters.length) return;
    const applied = this.raft.applied;
    const keep: typeof this.appliedWaiters = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve();
      else keep.push(w);
    }
    this.appliedWaiters = keep;
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

  // ---- membership ----

  /** Names and URLs from a change's context; the transport learns new peers. */
  private learnMembers(cc: ConfChange): void {
    if (cc.type !== 'addLearner' || !cc.context) return;
    const spec = parseContext(cc.context);
    if (!spec) return;
    this.names.set(cc.id, spec);
    if (cc.id !== this.id) this.transport.setPeer(cc.id, spec.url);
  }

  private appliedMembership(cc: ConfChange): void {
    this.learnMembers(cc);
    const name = this.names.get(cc.id)?.name ?? hex(cc.id);
    this.logger?.info({ change: cc.type, member: name }, 'membership change applied');
    if (cc.type === 'remove') {
      if (cc.id === this.id) this.logger?.warn('this member was removed from the group; stop it');
      else this.transport.removePeer(cc.id);
    }
  }

  /** On the leader: add (as a learner), promote or remove a member; resolves once applied. */
  async changeMembership(req: MembershipRequest): Promise<{ index: number }> {
    if (this.closed) throw closedError();
    if (!this.raft.isLeader) {
      const leader = await this.waitForLeader(this.deadline());
      if (leader !== this.id) return this.transport.forwardMembership(leader, req, this.requestTimeoutMs);
    }
    const id = memberIdFor(req.name);
    let cc: ConfChange;
    if (req.op === 'add') {
      const url = normalisePeerUrl(req.url ?? '');
      const scheme = this.transport.url.startsWith('https://') ? 'https:' : 'http:';
      if (new URL(url).protocol !== scheme) {
        throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `the new member's peer URL ${url} must use ${scheme}// like the rest of the group`);
      }
      cc = { type: 'addLearner', id, context: JSON.stringify({ name: req.name, url }) };
    } else if (req.op === 'promote') cc = { type: 'promote', id };
    else cc = { type: 'remove', id };
    const deadline = this.deadline();
    for (;;) {
      const r = this.raft.proposeConfChange(cc);
      if (r.ok) {
        const applied = new Promise<Applied>((resolve, reject) => this.inflight.set(r.index, { resolve, reject, term: this.raft.term, deadline }));
        void this.kick();
        await applied;
        return { index: r.index };
      }
      if (r.reason === 'invalid') {
        throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `cannot ${req.op} member ${req.name}: ${req.op === 'add' ? 'it is already a member' : 'it is not a member (or is the last voter)'}`, {
          context: { member: req.name },
        });
      }
      if (r.reason === 'not-leader') throw this.notLeader();
      if (this.clock.now() >= deadline) {
        throw unavailable(`the membership change could not start: ${r.reason === 'not-caught-up' ? 'the learner has not caught up yet' : 'another change is in progress'}`, {
          member: req.name,
          reason: r.reason,
        });
      }
      await this.pause(this.tickMs * 2);
    }
  }

  /** The leader promotes learners that have caught up with its commit index. */
  private promoteCaughtUp(): void {
    if (!this.raft.isLeader || this.promoting) return;
    const s = this.raft.state;
    if (s.role !== 'leader') return;
    for (const learner of this.raft.config.learners) {
      const p = s.progress.get(learner);
      if (!p) continue;
      // A lagging learner gets appends on its heartbeat answers (the core), even when idle.
      if (p.match < this.raft.commit) continue;
      const name = this.names.get(learner)?.name;
      if (!name) continue;
      this.promoting = true;
      this.changeMembership({ op: 'promote', name })
        .then(() => this.logger?.info({ member: name }, 'promoted a learner that caught up'))
        .catch((err: unknown) => this.logger?.debug({ err, member: name }, 'promotion not done yet'))
        .finally(() => {
          this.promoting = false;
        });
      return;
    }
  }

  // ---- snapshots ----

  /** Names and URLs of the members of `c`. */
  private members(c: RaftConfig): PeerSpec[] {
    const ids = new Set([...c.voters, ...c.learners]);
    return [...this.names].filter(([id]) => ids.has(id)).map(([, p]) => p);
  }

  /** For a follower that needs compacted entries: the state as applied here now. */
  private snapshotForPeer(): RaftSnapshot | undefined {
    const index = this.raft.applied;
    const term = this.raft.termAt(index);
    if (term === undefined) return undefined;
    return { index, term, config: this.appliedConfig, data: encodePayload(this.mvcc, this.members(this.appliedConfig), this.appliedConfig) };
  }

  private async installSnapshot(s: RaftSnapshot): Promise<void> {
    await this.snapshots.settle();
    if (this.wal) {
      await this.wal.writeSnapshot(s.index, s.term, s.data);
      await this.wal.releaseBefore(s.index);
    }
    const payload = decodePayload(s.data);
    this.mvcc = payload.mvcc;
    this.appliedConfig = s.config;
    for (const p of payload.members) {
      const id = memberIdFor(p.name);
      this.names.set(id, p);
      if (id !== this.id) this.transport.setPeer(id, p.url);
    }
    this.snapshots.index = s.index;
    // Watchers here missed the entries the snapshot replaced: they re-watch from their
    // last revision, which the snapshot's history serves.
    this.hub.closeAll(
      new CapstanError('CAPSTAN_ERR_STORE_WATCH_OVERFLOW', 'this member caught up from a snapshot; watch again from the last revision seen'),
    );
    this.logger?.info({ index: s.index, term: s.term, bytes: s.data.length }, 'installed a snapshot from the leader');
    this.releaseApplied();
  }

  /**
   * Drops the in-memory log up to `index`, keeping what followers that are not far behind
   * still need (one that is far behind gets a snapshot instead).
   */
  private compactLog(index: number): void {
    let upTo = index;
    const s = this.raft.state;
    if (s.role === 'leader') {
      for (const p of s.progress.values()) if (p.match < upTo && index - p.match < this.snapshotEvery) upTo = p.match;
    }
    if (upTo > 0) this.raft.compact(upTo);
  }

  // ---- ticks ----

  private scheduleTick(): void {
    if (this.closed) return;
    this.tickHandle = this.clock.setTimeout(() => this.onTick(), this.tickMs);
  }

  private onTick(): void {
    if (this.closed) return;
    this.raft.tick();
    this.ticks++;
    const now = this.clock.now();
    if (this.raft.isLeader) {
      this.expiry.check(this.mvcc, now);
      if (this.ticks % 10 === 0) this.promoteCaughtUp();
    }
    if (this.ticks % 10 === 0) this.expireWaiters(now);
    void this.kick();
    this.scheduleTick();
  }

  /** Proposals and reads that outlived their deadline: their outcome is unknown. */
  private expireWaiters(now: number): void {
    for (const [index, w] of this.inflight) {
      if (w.deadline > now) continue;
      this.inflight.delete(index);
      w.reject(unavailable('the write was not committed in time; it may or may not have happened', { index }));
    }
    for (const [id, r] of this.reads) {
      if (r.deadline > now) continue;
      this.reads.delete(id);
      r.reject(unavailable('the leader did not confirm the read in time'));
    }
  }

  private fatal(err: unknown): void {
    failAll(this.inflight, this.pending, err, this.logger);
    this.pending = [];
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
    if (this.tickHandle !== undefined) this.clock.clearTimeout(this.tickHandle);
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

function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}

function parseContext(context: string): PeerSpec | undefined {
  try {
    const v = JSON.parse(context) as { name?: unknown; url?: unknown };
    return typeof v.name === 'string' && typeof v.url === 'string' ? { name: v.name, url: v.url } : undefined;
  } catch {
    return undefined;
  }
}

function withChange(members: PeerSpec[], cc: ConfChange): PeerSpec[] {
  if (cc.type !== 'addLearner' || !cc.context) return members;
  const spec = parseContext(cc.context);
  if (!spec) return members;
  return [...members.filter((m) => m.name !== spec.name), spec];
}

/** Members from a snapshot, with URLs from the command line for those it names again. */
function mergeMembers(fromSnapshot: PeerSpec[], fromFlags: PeerSpec[]): PeerSpec[] {
  const byName = new Map(fromSnapshot.map((p) => [p.name, p]));
  for (const p of fromFlags) if (!byName.has(p.name)) byName.set(p.name, p);
  return [...byName.values()];
}
