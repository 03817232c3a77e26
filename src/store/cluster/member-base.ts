// The state a Raft group member shares across its parts (reads, forwarding, membership,
// snapshots, the drive loop; see member.ts): the core, the WAL, the transport, the queues of
// waiting requests, and the waits and deadlines every part uses.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CapstanError } from '../../common/index.js';
import { BackgroundSnapshots, realClock, WatchHub, WriteLoop, type StoreClock, type StoreMetrics } from '../embedded/index.js';
import type { MvccState } from '../mvcc/index.js';
import type { RaftConfig, RaftCore, RaftMessage, Wal, WalFs } from '../raft/index.js';
import { memberIdFor, type PeerSpec } from './ids.js';
import { encodePayload } from './payload.js';
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

export interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

export interface Applied {
  index: number;
  result: unknown;
}

export interface Proposal extends Waiter<Applied> {
  data: Uint8Array;
}

export interface Inflight extends Waiter<Applied> {
  term: number;
  deadline: number;
}

/** What the member is made of once its log is open (see ClusterMember.open). */
export interface MemberParts {
  raft: RaftCore;
  wal: Wal | undefined;
  mvcc: MvccState;
  snapshotIndex: number;
  metrics: StoreMetrics;
  logger: Logger | undefined;
  members: PeerSpec[];
  config: RaftConfig;
}

export function unavailable(message: string, context: Record<string, unknown> = {}): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', message, { context });
}

export function closedError(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'the store is closed');
}

export function shuttingDown(): CapstanError {
  return new CapstanError('CAPSTAN_ERR_STORE_CLOSED', 'this member is shutting down: the request was cancelled (a write may or may not have happened)');
}

export const hex = (id: number | undefined): string | null => (id === undefined || id === 0 ? null : id.toString(16));

export abstract class MemberBase {
  readonly id: number;
  readonly name: string;
  readonly hub: WatchHub;
  mvcc: MvccState;
  closed = false;

  protected readonly raft: RaftCore;
  protected readonly wal: Wal | undefined;
  protected readonly transport: HttpTransport;
  protected readonly clock: StoreClock;
  protected readonly logger: Logger | undefined;
  protected readonly metrics: StoreMetrics;
  protected readonly snapshotEvery: number;
  protected readonly snapshots: BackgroundSnapshots;
  protected readonly tickMs: number;
  protected readonly requestTimeoutMs: number;
  /** Names and peer URLs of every member id known (the configuration's and removed ones). */
  protected readonly names = new Map<number, PeerSpec>();
  protected unlock: (() => Promise<void>) | undefined;

  protected pending: Proposal[] = [];
  protected inflight = new Map<number, Inflight>();
  /** Set once shutdown begins: every request is answered (or cancelled) by then. */
  protected drainBy: number | undefined;
  protected drainTimer: unknown;
  protected readonly writeLoop = new WriteLoop(
    () => this.run(),
    (err) => this.fatal(err),
    () => this.pending.length > 0 && !this.closed,
  );
  /** The membership as of the applied index (what a snapshot of the applied state carries). */
  protected appliedConfig: RaftConfig;

  protected constructor(o: ClusterMemberOptions, parts: MemberParts) {
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

  // ---- provided by the parts ----

  /** One pass of the write loop (member-drive.ts). */
  protected abstract run(): Promise<void>;
  protected abstract fatal(err: unknown): void;
  protected abstract onMessages(messages: RaftMessage[]): void;
  protected abstract onSent(peer: number, messages: RaftMessage[], ok: boolean): void;
  /** A write another member forwarded to this one as leader (member-forward.ts). */
  protected abstract onForwardedProposal(data: Uint8Array): Promise<Applied>;
  /** Add, promote or remove a member (member-membership.ts). */
  abstract changeMembership(req: MembershipRequest): Promise<{ index: number }>;
  /** Names and URLs of the members of `c` (member-membership.ts). */
  protected abstract members(c: RaftConfig): PeerSpec[];
  /** Drops the in-memory log a snapshot covers (member-snapshots.ts). */
  protected abstract compactLog(index: number): void;
  abstract status(): MemberStatus;

  // ---- shared by the parts ----

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

  protected kick(): Promise<void> {
    return this.writeLoop.kick();
  }

  /** Now plus the request timeout, or the end of the shutdown grace when that is sooner. */
  protected deadline(): number {
    const d = this.clock.now() + this.requestTimeoutMs;
    return this.drainBy === undefined ? d : Math.min(d, this.drainBy);
  }

  protected get drained(): boolean {
    return this.drainBy !== undefined && this.clock.now() >= this.drainBy;
  }

  protected pause(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimeout(r, ms));
  }

  protected async waitForLeader(deadline: number): Promise<number> {
    for (;;) {
      if (this.closed) throw closedError();
      if (this.drained) throw shuttingDown();
      const leader = this.leader;
      if (leader !== undefined) return leader;
      if (this.clock.now() >= deadline) throw unavailable('no leader: fewer than a majority of the members answer', { member: this.name });
      await this.pause(this.tickMs);
    }
  }

  protected notLeader(): CapstanError {
    return new CapstanError('CAPSTAN_ERR_STORE_NOT_LEADER', `member ${this.name} is not the leader`, { context: { leader: hex(this.leader) } });
  }
}
