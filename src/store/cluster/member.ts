// A member of a Raft group: drives the pure core with a tick timer, persists through the WAL
// (entries and hard state fsynced before any message that depends on them is sent), sends
// and receives messages through the peer transport, applies committed entries to the MVCC
// state machine and serves the store core the KV contract runs on.
//
// - Writes proposed here while another member leads are forwarded to the leader, which
//   answers once the entry is applied; the caller's answer waits until this member has
//   applied it too, so a client reading here next sees its own write.
// - Linearizable reads use ReadIndex: the leader notes its commit index, then confirms it
//   still leads with one round of heartbeats a majority answers in its term (each peer's
//   transport reply carries the term it holds after stepping the batch); the read is served
//   once the state has applied that index. No clock-based leases.
// - Serializable reads are served from the local state as it is.
// - Lease expiry is decided by the leader from its clock and carried in the log; a new
//   leader first gives every lease a full TTL (leasePromote), as etcd does.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CapstanError, isCapstanError } from '../../common/index.js';
import { createStoreMetrics, lockDataDir, realClock, WatchHub, type StoreClock, type StoreMetrics } from '../embedded/index.js';
import { commandSize, decodeCommand, decodeSnapshot, encodeCommand, encodeSnapshot, MvccState, type Command } from '../mvcc/index.js';
import { nodeWalFs, RaftCore, Wal, type Entry, type RaftMessage, type WalFs, type WalState } from '../raft/index.js';
import { MAX_REQUEST_BYTES } from '../types.js';
import { memberIdFor, type PeerSpec } from './ids.js';
import { HttpTransport } from './transport.js';

export type ReadMode = 'linearizable' | 'serializable';

export interface ClusterMemberOptions {
  /** This member's name; must be one of `peers`. */
  name: string;
  /** Every voting member at bootstrap, this one included. */
  peers: PeerSpec[];
  clusterId: string;
  /** Shared secret every member presents to its peers. */
  token: string;
  /** Data folder; absent: the log lives in memory (tests). */
  dir?: string;
  /** Where the peer listener binds (default: the host and port of this member's peer URL). */
  peerListen?: { host: string; port: number };
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
  /** How long a forwarded write or a read barrier may take (default 10 s). */
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
  members: { id: string; name: string; peerUrl: string }[];
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

interface PendingRead extends Waiter<number> {
  /** Stamp at arrival: only heartbeat batches sent later confirm it. */
  stamp: number;
  index: number;
  term: number;
  acks: Set<number>;
  deadline: number;
}

const NOOP = new Uint8Array(0);

function unavailable(message: string, context: Record<string, unknown> = {}): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', message, { context });
}

function closedError(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the store is closed');
}

const hex = (id: number | undefined): string | null => (id === undefined || id === 0 ? null : id.toString(16));

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
  private readonly tickMs: number;
  private readonly requestTimeoutMs: number;
  private readonly names = new Map<number, PeerSpec>();
  private unlock: (() => Promise<void>) | undefined;

  private pending: Proposal[] = [];
  private inflight = new Map<number, Inflight>();
  private reads: PendingRead[] = [];
  private readStamp = 0;
  private heartbeatNow = false;
  private appliedWaiters: { index: number; resolve: () => void }[] = [];
  private loop: Promise<void> | undefined;
  private tickHandle: unknown;
  private ticks = 0;
  private wasLeader = false;
  private knownLeader: number | undefined;
  private expiring = false;
  private snapshotIndex: number;
  private snapshotting: Promise<void> | undefined;
  private snapshotDone: number | undefined;

  private constructor(
    o: ClusterMemberOptions,
    parts: { raft: RaftCore; wal: Wal | undefined; mvcc: MvccState; snapshotIndex: number; metrics: StoreMetrics; logger: Logger | undefined },
  ) {
    this.name = o.name;
    this.id = memberIdFor(o.name);
    this.raft = parts.raft;
    this.wal = parts.wal;
    this.mvcc = parts.mvcc;
    this.snapshotIndex = parts.snapshotIndex;
    this.metrics = parts.metrics;
    this.logger = parts.logger;
    this.clock = o.clock ?? realClock;
    this.snapshotEvery = o.snapshotEvery ?? 10_000;
    this.tickMs = o.tickMs ?? 50;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.hub = new WatchHub(o.watchBufferBatches ?? 10_000);
    for (const p of o.peers) this.names.set(memberIdFor(p.name), p);
    const self = this.names.get(this.id)!;
    const selfUrl = new URL(self.url);
    const listen = o.peerListen ?? { host: selfUrl.hostname, port: Number(selfUrl.port) };
    this.transport = new HttpTransport({
      selfId: this.id,
      clusterId: o.clusterId,
      token: o.token,
      host: listen.host,
      port: listen.port,
      peers: new Map([...this.names].map(([id, p]) => [id, p.url])),
      logger: this.logger,
      stamp: () => this.readStamp,
      onAck: (peer, term, stamp) => this.onAck(peer, term, stamp),
      handlers: {
        messages: (ms) => this.onMessages(ms),
        propose: (data) => this.onForwardedProposal(data),
        readIndex: () => this.leaderReadIndex(),
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
    let wal: Wal | undefined;
    let st: WalState = { entries: [] };
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
        if (st.snapshot) mvcc = decodeSnapshot(st.snapshot.data);
      } catch (err) {
        await wal?.close();
        await unlock();
        throw err;
      }
      logger?.info({ dir: o.dir, snapshot: st.snapshot?.index ?? 0, replay: st.entries.length, term: st.hardState?.term ?? 0 }, 'opened the write-ahead log');
    }
    const raft = new RaftCore({
      id: memberIdFor(o.name),
      members: o.peers.map((p) => memberIdFor(p.name)),
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: 1,
      random: o.random ?? Math.random,
      ...(st.snapshot ? { snapshot: { index: st.snapshot.index, term: st.snapshot.term } } : {}),
      ...(st.hardState ? { hardState: st.hardState } : {}),
      entries: st.entries,
    });
    const member = new ClusterMember(o, { raft, wal, mvcc, snapshotIndex: st.snapshot?.index ?? 0, metrics, logger });
    holder.member = member;
    member.unlock = unlock;
    try {
      await member.transport.start();
    } catch (err) {
      await wal?.close();
      await unlock?.();
      throw unavailable(`the peer listener could not start: ${(err as Error).message}`, { member: o.name });
    }
    logger?.info({ id: hex(member.id), peerUrl: member.transport.url, members: o.peers.map((p) => p.name) }, 'member started');
    // Replays what the log says is committed; then elections start with the ticks.
    if (o.peers.length === 1) raft.campaign();
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
    if (this.raft.state.role === 'leader') return this.id;
    return this.raft.state.role === 'follower' ? this.raft.state.leader : undefined;
  }

  get peerUrl(): string {
    return this.transport.url;
  }

  propose<T>(cmd: Command): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (commandSize(cmd) > MAX_REQUEST_BYTES) {
      return Promise.reject(
        new CapstanError('CAPSTAN_ERR_STORE_TOO_LARGE', `the request is ${commandSize(cmd)} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`, {
          context: { bytes: commandSize(cmd), limit: MAX_REQUEST_BYTES },
        }),
      );
    }
    return this.submit(encodeCommand(cmd)).then((a) => a.result as T);
  }

  /** Resolves once this member has applied everything acknowledged before the call. */
  async readBarrier(): Promise<void> {
    if (this.closed) throw closedError();
    const index = await this.readIndex();
    await this.waitApplied(index);
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
    const deadline = this.clock.now() + this.requestTimeoutMs;
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
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimeout(r, ms));
  }

  private async waitForLeader(deadline: number): Promise<number> {
    for (;;) {
      if (this.closed) throw closedError();
      const leader = this.leader;
      if (leader !== undefined) return leader;
      if (this.clock.now() >= deadline) throw unavailable('no leader: the group has no quorum (fewer than a majority of members answer)', { member: this.name });
      await this.pause(this.tickMs);
    }
  }

  private waitApplied(index: number, deadline?: number): Promise<void> {
    if (this.raft.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { index, resolve };
      this.appliedWaiters.push(w);
      if (deadline !== undefined) {
        this.clock.setTimeout(
          () => {
            const i = this.appliedWaiters.indexOf(w);
            if (i < 0) return;
            this.appliedWaiters.splice(i, 1);
            reject(unavailable(`this member did not apply index ${index} in time`, { index, applied: this.raft.applied }));
          },
          Math.max(1, deadline - this.clock.now()),
        );
      }
    });
  }

  /** The read index from the leader (here or over the transport). */
  private async readIndex(): Promise<number> {
    const deadline = this.clock.now() + this.requestTimeoutMs;
    for (;;) {
      const leader = await this.waitForLeader(deadline);
      try {
        if (leader === this.id) return await this.leaderReadIndex();
        return await this.transport.forwardReadIndex(leader, Math.max(1, deadline - this.clock.now()));
      } catch (err) {
        const retry = isCapstanError(err, 'CAPSTAN_ERR_STORE_NOT_LEADER') || isCapstanError(err, 'CAPSTAN_ERR_STORE_UNAVAILABLE');
        if (!retry || this.clock.now() >= deadline || this.closed) throw err;
        await this.pause(this.tickMs);
      }
    }
  }

  /** On the leader: a read index confirmed by a majority heartbeat round (ReadIndex, §6.4). */
  private leaderReadIndex(): Promise<number> {
    if (!this.raft.isLeader) return Promise.reject(this.notLeader());
    return new Promise<number>((resolve, reject) => {
      const read: PendingRead = {
        resolve,
        reject,
        stamp: ++this.readStamp,
        index: this.raft.commit,
        term: this.raft.term,
        acks: new Set([this.id]),
        deadline: this.clock.now() + this.requestTimeoutMs,
      };
      // Until an entry of its own term commits, the leader's commit index may be behind
      // what an earlier leader acknowledged: wait for the term's no-op (§6.4 step 1).
      if (this.raft.termAt(this.raft.commit) !== this.raft.term) read.index = -1;
      this.reads.push(read);
      this.heartbeatNow = true;
      this.settleReads();
      void this.kick();
    });
  }

  private onAck(peer: number, term: number, stamp: number): void {
    if (!this.raft.isLeader || term !== this.raft.term || this.reads.length === 0) return;
    for (const r of this.reads) if (r.stamp <= stamp && r.term === term) r.acks.add(peer);
    this.settleReads();
  }

  private settleReads(): void {
    if (this.reads.length === 0) return;
    const quorum = Math.floor(this.raft.members.length / 2) + 1;
    const ownTermCommitted = this.raft.termAt(this.raft.commit) === this.raft.term;
    const keep: PendingRead[] = [];
    for (const r of this.reads) {
      if (!this.raft.isLeader || this.raft.term !== r.term) {
        r.reject(this.notLeader());
        continue;
      }
      if (r.index < 0 && ownTermCommitted) r.index = this.raft.commit;
      if (r.index >= 0 && r.acks.size >= quorum) r.resolve(r.index);
      else keep.push(r);
    }
    this.reads = keep;
  }

  private notLeader(): CapstanError {
    return new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', `member ${this.name} is not the leader`, { context: { leader: hex(this.leader) } });
  }

  // ---- inbound from peers ----

  private onMessages(messages: RaftMessage[]): number {
    if (this.closed) return this.raft.term;
    for (const m of messages) if (m.to === this.id) this.raft.step(m);
    void this.kick();
    return this.raft.term;
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
    if (!this.loop) this.loop = this.runGuarded();
    return this.loop;
  }

  private async runGuarded(): Promise<void> {
    try {
      await this.run();
    } catch (err) {
      this.fatal(err);
    } finally {
      this.loop = undefined;
      if ((this.pending.length || this.heartbeatNow) && !this.closed) void this.kick();
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      await this.releaseSnapshot();
      this.noticeRole();
      if (this.pending.length) {
        const batch = this.pending;
        this.pending = [];
        if (this.raft.isLeader) {
          const indexes = this.raft.propose(batch.map((p) => p.data));
          const deadline = this.clock.now() + this.requestTimeoutMs;
          for (let i = 0; i < batch.length; i++) this.inflight.set(indexes[i]!, { ...batch[i]!, term: this.raft.term, deadline });
        } else for (const p of batch) void this.forward(p);
      }
      if (this.heartbeatNow) {
        this.heartbeatNow = false;
        // A leader's tick is a heartbeat to every follower: the round that confirms reads.
        if (this.raft.isLeader && this.raft.members.length > 1) this.raft.tick();
      }
      const ready = this.raft.ready();
      this.applyEntries(ready.committed);
      if (ready.committed.length) {
        this.maybeSnapshot();
        this.settleReads();
      }
      this.metrics.applyLag(this.raft.lastIndex - this.raft.applied);
      if (ready.entries.length || ready.hardState) {
        const last = ready.entries[ready.entries.length - 1];
        if (this.wal) {
          try {
            await this.wal.append(ready.entries, this.raft.hardState);
          } catch (err) {
            this.failUnstable(ready.entries, err);
            return;
          }
          this.metrics.batchSize(ready.entries.length);
        }
        if (last) this.raft.persisted(last.index, last.term);
      }
      // Only now that what they depend on is durable.
      if (ready.messages.length) this.transport.send(ready.messages);
      this.noticeRole();
      const idle = !ready.entries.length && !ready.hardState && !ready.messages.length && !ready.committed.length;
      if (idle && !this.pending.length && !this.heartbeatNow) return;
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
      if (e.data.length === 0) {
        if (waiter && waiter.term === e.term) waiter.resolve({ index: e.index, result: undefined });
        continue;
      }
      const outcome = this.mvcc.apply(decodeCommand(e.data));
      this.hub.publish(outcome.batches);
      if (!waiter || waiter.term !== e.term) continue;
      if (outcome.ok) waiter.resolve({ index: e.index, result: outcome.result });
      else waiter.reject(outcome.error);
    }
    if (entries.length && this.appliedWaiters.length) {
      const applied = this.raft.applied;
      const keep: typeof this.appliedWaiters = [];
      for (const w of this.appliedWaiters) {
        if (w.index <= applied) w.resolve();
        else keep.push(w);
      }
      this.appliedWaiters = keep;
    }
  }

  private failUnstable(entries: Entry[], err: unknown): void {
    this.logger?.error({ err }, 'write-ahead log write failed; refusing the batch');
    this.raft.dropUnstable();
    for (const e of entries) {
      const w = this.inflight.get(e.index);
      if (!w) continue;
      this.inflight.delete(e.index);
      w.reject(err);
    }
  }

  /** Acts on a change of role: a new leader promotes leases; a former one hands work on. */
  private noticeRole(): void {
    const leader = this.leader;
    if (leader !== this.knownLeader) {
      this.knownLeader = leader;
      this.logger?.info({ leader: hex(leader), term: this.raft.term }, leader === this.id ? 'became the leader' : leader === undefined ? 'no leader' : 'following a leader');
    }
    const isLeader = this.raft.isLeader;
    if (isLeader === this.wasLeader) return;
    this.wasLeader = isLeader;
    if (isLeader) {
      if (this.mvcc.leases.size) {
        this.pending.push({ data: encodeCommand({ type: 'leasePromote', now: this.clock.now() }), resolve: () => undefined, reject: () => undefined });
      }
    } else this.settleReads();
  }

  // ---- snapshots ----

  private maybeSnapshot(): void {
    const applied = this.raft.applied;
    if (applied - this.snapshotIndex < this.snapshotEvery || this.snapshotting) return;
    this.snapshotIndex = applied;
    const wal = this.wal;
    if (!wal) {
      this.compactLog(applied);
      return;
    }
    this.snapshotting = new Promise<void>((r) => setImmediate(r))
      .then(() => {
        const index = this.raft.applied;
        this.snapshotIndex = index;
        const data = encodeSnapshot(this.mvcc);
        return wal.writeSnapshot(index, this.raft.termAt(index)!, data).then(() => ({ index, bytes: data.length }));
      })
      .then(
        ({ index, bytes }) => {
          this.logger?.debug({ index, bytes }, 'snapshot saved');
          this.snapshotDone = index;
          if (!this.closed) void this.kick();
        },
        (err: unknown) => this.logger?.warn({ err }, 'snapshot failed'),
      )
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  private async releaseSnapshot(): Promise<void> {
    const index = this.snapshotDone;
    if (index === undefined || !this.wal) return;
    this.snapshotDone = undefined;
    try {
      await this.wal.releaseBefore(index);
    } catch (err) {
      this.logger?.warn({ err, index }, 'could not drop old WAL segments');
    }
    this.compactLog(index);
  }

  /**
   * Drops the in-memory log up to `index`, but a leader keeps what its followers still need
   * (unless one is very far behind): the core cannot send snapshots to followers yet.
   */
  private compactLog(index: number): void {
    let upTo = index;
    const s = this.raft.state;
    if (s.role === 'leader') {
      for (const p of s.progress.values()) if (p.match < upTo && index - p.match < 20 * this.snapshotEvery) upTo = p.match;
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
      const next = this.mvcc.nextLeaseExpiry();
      if (next !== undefined && next <= now && !this.expiring) {
        this.expiring = true;
        this.submit(encodeCommand({ type: 'leaseExpire', now }))
          .catch((err: unknown) => this.logger?.warn({ err }, 'lease expiry failed'))
          .finally(() => {
            this.expiring = false;
          });
      }
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
    const keep: PendingRead[] = [];
    for (const r of this.reads) {
      if (r.deadline > now) keep.push(r);
      else r.reject(unavailable('a majority did not confirm the read in time', {}));
    }
    this.reads = keep;
  }

  private fatal(err: unknown): void {
    this.logger?.error({ err }, 'the store loop failed');
    const e = err instanceof CapstanError ? err : new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', 'the store loop failed', { cause: err });
    for (const w of this.inflight.values()) w.reject(e);
    this.inflight.clear();
    for (const p of this.pending) p.reject(e);
    this.pending = [];
  }

  // ---- status and control ----

  status(): MemberStatus {
    const s = this.raft.state;
    const members = [...this.names].map(([id, p]) => ({ id: id.toString(16), name: p.name, peerUrl: p.url }));
    return {
      id: this.id.toString(16),
      name: this.name,
      peerUrl: this.names.get(this.id)!.url,
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

  /** Another member's status over the transport. */
  peerStatus(id: number): Promise<MemberStatus> {
    return this.transport.peerStatus(id) as Promise<MemberStatus>;
  }

  /** Tests: cut this member off (nothing in or out) or reconnect it. */
  setIsolated(isolated: boolean): void {
    this.transport.setBlocked(isolated);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickHandle !== undefined) this.clock.clearTimeout(this.tickHandle);
    await this.transport.stop();
    if (this.loop) await this.loop;
    if (this.snapshotting) await this.snapshotting;
    await this.releaseSnapshot();
    const err = closedError();
    for (const p of this.pending) p.reject(err);
    this.pending = [];
    for (const w of this.inflight.values()) w.reject(err);
    this.inflight.clear();
    for (const r of this.reads) r.reject(err);
    this.reads = [];
    this.hub.closeAll();
    await this.wal?.close();
    await this.unlock?.();
    this.logger?.info('member stopped');
  }
}

function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}
