// The deterministic simulation of a Raft group: every member's pure core in one process, a
// virtual clock (an event queue), one seeded generator for every choice, an in-memory WAL
// per member whose un-fsynced tail is dropped or torn on a crash, and a network that loses,
// delays, reorders, duplicates and partitions messages. Clients run put / get / cas / delete
// against a small KV state machine through the leader (reads through ReadIndex) and record
// every request and answer. Each applied write gets the entry's index as its revision, and
// watchers follow a member's applied writes from a revision, are cut and resume from the
// revision after the last one seen, possibly on another member. The run reports every broken
// invariant it sees, checks the histories for linearizability and the watch guarantees.
import {
  RaftCore,
  decodeConfEntry,
  isConfChange,
  type ConfChange,
  type Entry,
  type HardState,
  type RaftConfig,
  type RaftMessage,
  type RaftSnapshot,
  type Ready,
} from '../../src/store/raft/index.js';
import {
  checkLinearizable,
  checkReadRevisions,
  checkWatches,
  type KvOperation,
  type RevisionObservation,
  type RevisionedWrite,
  type UnacknowledgedWrite,
  type WatchSegment,
} from '../lincheck/index.js';
import { Rng } from './prng.js';

/** Virtual milliseconds per Raft tick. */
const TICK = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
const CLIENT_TIMEOUT = 600;
/** A member snapshots and compacts its log every this many applied entries. */
const SNAP_EVERY = 24;
const KEYS = ['x', 'y', 'z'];

export interface SimOptions {
  seed: number;
  /** Ticks of client load under faults (default 400). */
  ticks?: number;
  /** Ticks after healing every fault, in which one more write must succeed (default 300). */
  settleTicks?: number;
  /** Record every message in the trace (slower; used to explain a failing seed). */
  verbose?: boolean;
  /** Fixed instead of drawn from the seed (for targeted runs). */
  members?: 3 | 5;
  churn?: number;
  /** Chance of the figure-8 crashes (a leader dying between persisting or applying and sending). */
  fig8?: number;
  maxMsgBytes?: number;
}

export interface SimStats {
  members: number;
  opsOk: number;
  opsUnknown: number;
  readsOk: number;
  followerReads: number;
  elections: number;
  crashes: number;
  partitions: number;
  pauses: number;
  snapshotsInstalled: number;
  confChanges: number;
  transfers: number;
  tornWrites: number;
  messages: number;
  deletes: number;
  watchEvents: number;
  watchResumes: number;
  /** Leaders that died between persisting or committing and sending (figure 8 histories). */
  leaderDeaths: number;
}

export interface SimResult {
  seed: number;
  violations: string[];
  trace: string[];
  stats: SimStats;
}

interface Disk {
  snap?: RaftSnapshot;
  hard: HardState;
  entries: Entry[];
}

interface Write {
  snapshot?: RaftSnapshot;
  entries: Entry[];
  hard: HardState;
}

interface ClientReq {
  client: number;
  op: number;
  attempt: number;
}

interface Member {
  id: number;
  core: RaftCore | undefined;
  disk: Disk;
  /** Base membership for a start without a snapshot. */
  base: RaftConfig;
  unsynced: Write | undefined;
  busy: boolean;
  incarnation: number;
  pausedUntil: number;
  inbox: RaftMessage[];
  /** Client requests that arrived during a pause. */
  requests: ClientReq[];
  kv: Map<string, string>;
  /** Every write applied, in revision order (kept whole: this store never compacts them). */
  events: RevisionedWrite[];
  applied: number;
  writes: Map<number, ClientReq>;
  reads: Map<string, ClientReq>;
  readyReads: Array<{ index: number; req: ClientReq }>;
  rng: Rng;
}

interface Client {
  id: number;
  target: number;
  current: number | undefined;
  attempt: number;
  count: number;
}

/** A watch on a key (or, with `prefix`, every key starting with it), one connection at a time. */
interface Watcher {
  name: string;
  key: string;
  prefix: boolean;
  /** The member it reads from now, if connected. */
  member: number | undefined;
  segments: WatchSegment[];
  /** Where the next connection starts: after the last revision seen. */
  next: number;
}

interface Command {
  op: number;
  t: 'put' | 'cas' | 'del';
  k: string;
  v: string;
  e?: string | null;
}

type Output = { notLeader: true; hint: number | undefined } | { output: KvOperation['output'] };

class EventQueue {
  private heap: Array<{ at: number; seq: number; fn: () => void }> = [];
  private seq = 0;

  push(at: number, fn: () => void): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  pop(): { at: number; fn: () => void } | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function encodeState(kv: Map<string, string>, events: RevisionedWrite[]): Uint8Array {
  return enc.encode(JSON.stringify({ kv: [...kv], events }));
}

function decodeState(data: Uint8Array): { kv: Map<string, string>; events: RevisionedWrite[] } {
  const s = JSON.parse(dec.decode(data)) as { kv: Array<[string, string]>; events: RevisionedWrite[] };
  return { kv: new Map(s.kv), events: s.events };
}

function watches(w: Watcher, key: string): boolean {
  return w.prefix ? key.startsWith(w.key) : key === w.key;
}

export class Sim {
  readonly rng: Rng;
  readonly violations: string[] = [];
  readonly history: KvOperation[] = [];
  readonly stats: SimStats;
  private readonly trace: string[] = [];
  private readonly verbose: boolean;
  private readonly q = new EventQueue();
  now = 0;
  private readonly members = new Map<number, Member>();
  private readonly clients: Client[] = [];
  private readonly watchers: Watcher[] = [];
  private readonly spares: number[] = [];
  private readonly blocked = new Set<string>();
  /** Entry applied at each index by anyone: no member may apply another there. */
  /**
   * `by`: the lowest term of a member seen applying it, an upper bound of the term the entry
   * was committed in (leaders of higher terms must hold it).
   */
  private readonly applied = new Map<number, { term: number; data: string; by: number }>();
  private readonly leaders = new Map<number, number>();
  private readonly drop: number;
  private readonly dup: number;
  private readonly jitter: number;
  /** Chance that a new leader is cut off or crashes right after winning (figure 8 histories). */
  private readonly churn: number;
  /**
   * Chance that a leader dies after persisting its no-op (or, a tenth of it, client entries)
   * but before sending them, and after committing entries of earlier terms but before telling
   * anyone: with the un-committed entries of older terms that crashes and elections leave on
   * a minority, the histories of the paper's figure 8.
   */
  private readonly fig8: number;
  private readonly maxInflight: number;
  private readonly maxMsgBytes: number;
  private readonly runEnd: number;
  private readonly end: number;
  private faultsOn = true;
  private clientsOn = true;
  private finalOp: number | undefined;

  constructor(readonly o: SimOptions) {
    this.rng = new Rng(o.seed);
    this.verbose = o.verbose ?? false;
    const rng = this.rng;
    const drawn = rng.chance(0.7) ? 3 : 5;
    const n = o.members ?? drawn;
    this.drop = rng.pick([0, 0.01, 0.05, 0.15]);
    this.dup = rng.pick([0, 0.02, 0.1]);
    this.jitter = rng.pick([1, 5, 20]);
    // Small limits so that pipelining and flow control are exercised.
    this.churn = rng.pick([0, 0, 0.3, 0.6]);
    this.maxInflight = rng.pick([1, 2, 4, 64]);
    this.maxMsgBytes = rng.pick([1, 64, 128, 1024]);
    this.fig8 = rng.pick([0, 0.2, 0.5]);
    if (o.churn !== undefined) this.churn = o.churn;
    if (o.fig8 !== undefined) this.fig8 = o.fig8;
    if (o.maxMsgBytes !== undefined) this.maxMsgBytes = o.maxMsgBytes;
    this.runEnd = (o.ticks ?? 400) * TICK;
    this.end = this.runEnd + (o.settleTicks ?? 300) * TICK;
    this.stats = {
      members: n,
      opsOk: 0,
      opsUnknown: 0,
      readsOk: 0,
      followerReads: 0,
      elections: 0,
      crashes: 0,
      partitions: 0,
      pauses: 0,
      snapshotsInstalled: 0,
      confChanges: 0,
      transfers: 0,
      tornWrites: 0,
      messages: 0,
      deletes: 0,
      watchEvents: 0,
      watchResumes: 0,
      leaderDeaths: 0,
    };
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    for (const id of voters) this.addMember(id, { voters, learners: [] });
    this.spares.push(n + 1, n + 2);
    for (let c = 0; c < 3; c++) this.clients.push({ id: c, target: rng.pick(voters), current: undefined, attempt: 0, count: 0 });
    for (const [key, prefix] of [['x', false], ['', true], [rng.pick(KEYS), false]] as const) {
      this.watchers.push({ name: `w${this.watchers.length}`, key, prefix, member: undefined, segments: [], next: rng.range(1, 3) });
    }
    this.log(`seed ${o.seed}: ${n} members, drop ${this.drop}, dup ${this.dup}, jitter ${this.jitter}ms, churn ${this.churn}, fig8 ${this.fig8}, inflight ${this.maxInflight}, bytes ${this.maxMsgBytes}`);
  }

  // ---- running ----

  run(): SimResult {
    for (const m of this.members.values()) this.start(m);
    this.q.push(TICK, () => this.tickAll());
    for (const c of this.clients) this.q.push(this.rng.range(50, 150), () => this.nextOp(c));
    for (const w of this.watchers) this.q.push(this.rng.range(1, 400), () => this.connect(w));
    this.q.push(this.rng.range(200, 500), () => this.fault());
    this.q.push(this.runEnd, () => this.heal());
    for (;;) {
      const ev = this.q.pop();
      if (!ev || ev.at > this.end) break;
      this.now = ev.at;
      try {
        ev.fn();
      } catch (err) {
        this.violation(`exception: ${(err as Error).stack ?? String(err)}`);
        break;
      }
      // Verbose replays end at the first violation, so the trace ends where it happened.
      if (this.violations.length > 20 || (this.verbose && this.violations.length)) break;
    }
    this.finalChecks();
    return { seed: this.o.seed, violations: this.violations, trace: this.trace, stats: this.stats };
  }

  private log(line: string): void {
    this.trace.push(`${this.now.toFixed(1).padStart(7)} ${line}`);
    if (this.trace.length > 400) this.trace.splice(0, 100);
  }

  private violation(what: string): void {
    this.log(`VIOLATION ${what}`);
    this.violations.push(`t=${this.now} ${what}`);
  }

  private tickAll(): void {
    for (const m of this.members.values()) {
      if (!m.core || m.pausedUntil > this.now) continue;
      m.core.tick();
      this.drive(m);
    }
    if (this.now + TICK <= this.end) this.q.push(this.now + TICK, () => this.tickAll());
  }

  // ---- members ----

  private addMember(id: number, base: RaftConfig): Member {
    const m: Member = {
      id,
      core: undefined,
      disk: { hard: { term: 0, vote: 0, commit: 0 }, entries: [] },
      base,
      unsynced: undefined,
      busy: false,
      incarnation: 0,
      pausedUntil: 0,
      inbox: [],
      requests: [],
      kv: new Map(),
      events: [],
      applied: 0,
      writes: new Map(),
      reads: new Map(),
      readyReads: [],
      rng: this.rng.fork(),
    };
    this.members.set(id, m);
    return m;
  }

  private start(m: Member): void {
    const snap = m.disk.snap;
    const state = snap ? decodeState(snap.data) : { kv: new Map<string, string>(), events: [] };
    m.kv = state.kv;
    m.events = state.events;
    m.applied = snap?.index ?? 0;
    m.core = new RaftCore({
      id: m.id,
      members: m.base.voters,
      learners: m.base.learners,
      random: () => m.rng.next(),
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      maxInflight: this.maxInflight,
      maxMsgBytes: this.maxMsgBytes,
      snapshot: snap ? { index: snap.index, term: snap.term, config: snap.config } : undefined,
      hardState: { ...m.disk.hard },
      entries: m.disk.entries.slice(),
      snapshotSource: () => m.disk.snap,
    });
    this.log(`m${m.id} start (term ${m.disk.hard.term}, snapshot ${snap?.index ?? 0}, log ${m.disk.entries.length})`);
    this.drive(m);
  }

  private crash(m: Member): void {
    if (!m.core) return;
    this.stats.crashes++;
    if (m.unsynced) {
      const records = (m.unsynced.snapshot ? 1 : 0) + m.unsynced.entries.length + 1;
      const keep = m.rng.int(records + 1);
      if (keep > 0 && keep < records) this.stats.tornWrites++;
      applyWrite(m.disk, m.unsynced, keep);
      this.log(`m${m.id} crash (kept ${keep}/${records} un-fsynced records)`);
    } else {
      this.log(`m${m.id} crash`);
    }
    m.unsynced = undefined;
    m.core = undefined;
    m.busy = false;
    for (const w of this.watchers) if (w.member === m.id) this.cut(w);
    m.incarnation++;
    m.pausedUntil = 0;
    m.inbox = [];
    m.requests = [];
    m.writes.clear();
    m.reads.clear();
    m.readyReads = [];
  }

  /** Carries out what the core asks, in the Ready order: persist, then send, then apply. */
  private drive(m: Member): void {
    for (let guard = 0; guard < 100; guard++) {
      const core = m.core;
      if (!core || m.busy || m.pausedUntil > this.now) return;
      const r = core.ready();
      if (r.softState) this.onSoftState(m, r.softState);
      if (r.snapshot) this.restore(m, r.snapshot);
      for (const e of r.committed) this.apply(m, e);
      for (const rs of r.readStates) {
        const req = m.reads.get(rs.requestId);
        if (!req) continue;
        m.reads.delete(rs.requestId);
        m.readyReads.push({ index: rs.index, req });
      }
      this.serveReads(m);
      if (r.committed.length) {
        this.maybeSnapshot(m);
        // A leader that crashes right after committing, before followers learn of it.
        if (core.isLeader && this.rng.chance(this.churn / 10)) this.crashSoon(m);
        // A leader that commits entries of an earlier term and dies before sending anything:
        // the followers that made the quorum may hold those entries and nothing of its term.
        // Most likely when another member holds a different entry at one of those indexes.
        if (core.isLeader && r.committed[0]!.term < core.term) {
          const p = this.fig8 && this.otherHolds(m, (e) => r.committed.some((c) => c.index === e.index && c.term !== e.term)) ? 0.8 : this.fig8;
          if (this.dieNow(m, p, 'after committing entries of an earlier term', r)) return;
        }
      }
      if (r.entries.length || r.hardState || r.snapshot) {
        const w: Write = { entries: r.entries, hard: core.hardState, snapshot: r.snapshot };
        m.unsynced = w;
        m.busy = true;
        const inc = m.incarnation;
        const synced = (): void => {
          if (m.incarnation !== inc) return;
          if (m.pausedUntil > this.now) {
            this.q.push(m.pausedUntil, synced);
            return;
          }
          applyWrite(m.disk, w, Infinity);
          m.unsynced = undefined;
          m.busy = false;
          // A leader that dies with entries on its disk alone: its no-op (a leader elected and
          // gone without a trace but a log entry of its term), or client entries.
          // Most likely for a no-op written over entries of an earlier term another member holds.
          if (core.isLeader && w.entries.length) {
            const noop = w.entries.find((e) => e.term === core.term && e.data.length === 0);
            const over = noop && this.fig8 && this.otherHolds(m, (e) => e.index >= noop.index && e.term < noop.term);
            if (this.dieNow(m, over ? 0.7 : noop ? this.fig8 : this.fig8 / 10, noop ? 'after persisting its no-op' : 'after persisting entries')) return;
          }
          const last = w.entries[w.entries.length - 1];
          if (last) core.persisted(last.index, last.term);
          this.send(r.messages);
          this.drive(m);
        };
        this.q.push(this.now + m.rng.range(1, 3), synced);
        return;
      }
      if (!r.messages.length && !r.committed.length && !r.readStates.length && !r.softState) return;
      this.send(r.messages);
    }
  }

  private onSoftState(m: Member, s: { leader: number | undefined; role: string }): void {
    const core = m.core!;
    this.log(`m${m.id} ${s.role} term ${core.term} leader ${s.leader ?? '-'}`);
    if (s.role !== 'leader') return;
    this.stats.elections++;
    const prev = this.leaders.get(core.term);
    if (prev !== undefined && prev !== m.id) this.violation(`election safety: m${prev} and m${m.id} both lead term ${core.term}`);
    this.leaders.set(core.term, m.id);
    if (this.rng.chance(this.churn)) this.crashSoon(m);
    // Leader completeness: an entry committed in a term is in the log of every leader of a
    // later term. (A leader of an earlier term can still win late, from delayed votes.)
    const first = core.firstIndex;
    for (const [i, g] of this.applied) {
      if (i < first || g.by >= core.term) continue;
      const t = core.termAt(i);
      if (t !== g.term) this.violation(`leader completeness: m${m.id} leads term ${core.term} without committed entry ${i} (term ${g.term}, has ${t})`);
    }
  }

  private restore(m: Member, s: RaftSnapshot): void {
    this.stats.snapshotsInstalled++;
    this.log(`m${m.id} installs snapshot ${s.index}/${s.term}`);
    const g = this.applied.get(s.index);
    if (g && g.term !== s.term) this.violation(`snapshot at ${s.index} has term ${s.term}, committed entry has ${g.term}`);
    const state = decodeState(s.data);
    // What the snapshot holds beyond what this member applied reaches its watchers as well.
    const from = m.applied;
    m.kv = state.kv;
    m.events = state.events;
    m.applied = s.index;
    for (const ev of m.events) if (ev.revision > from) this.notify(m, ev);
    for (const i of [...m.writes.keys()]) if (i <= s.index) m.writes.delete(i);
  }

  private apply(m: Member, e: Entry): void {
    if (e.index !== m.applied + 1) this.violation(`m${m.id} applies ${e.index} after ${m.applied}`);
    m.applied = e.index;
    const data = dec.decode(e.data);
    const g = this.applied.get(e.index);
    if (!g) this.applied.set(e.index, { term: e.term, data, by: m.core!.term });
    else if (m.core!.term < g.by) g.by = m.core!.term;
    if (g && (g.term !== e.term || g.data !== data)) {
      this.violation(`state machine safety: m${m.id} applies ${e.index}/${e.term} "${data}", another applied ${e.index}/${g.term} "${g.data}"`);
    }
    if (e.data.length === 0) return;
    if (isConfChange(e.data)) {
      const { change, config } = decodeConfEntry(e.data);
      this.log(`m${m.id} applies ${e.index}: ${change.type} m${change.id} -> voters ${config.voters} learners ${config.learners}`);
      return;
    }
    const cmd = JSON.parse(data) as Command;
    let output: KvOperation['output'];
    const write = (ev: RevisionedWrite): void => {
      if (ev.type === 'put') m.kv.set(ev.key, ev.value!);
      else m.kv.delete(ev.key);
      m.events.push(ev);
      this.notify(m, ev);
    };
    const revision = e.index;
    if (cmd.t === 'put') {
      write({ key: cmd.k, revision, type: 'put', value: cmd.v });
      output = { revision };
    } else if (cmd.t === 'del') {
      // Deleting a key that does not exist writes nothing, as in etcd.
      const deleted = m.kv.has(cmd.k);
      if (deleted) write({ key: cmd.k, revision, type: 'delete' });
      output = deleted ? { deleted, revision } : { deleted };
    } else {
      const ok = m.kv.get(cmd.k) === (cmd.e ?? undefined);
      if (ok) write({ key: cmd.k, revision, type: 'put', value: cmd.v });
      output = ok ? { ok, revision } : { ok };
    }
    const w = m.writes.get(e.index);
    if (!w) return;
    m.writes.delete(e.index);
    if (w.op === cmd.op) this.reply(w, { output });
  }

  private serveReads(m: Member): void {
    if (!m.readyReads.length) return;
    const keep: typeof m.readyReads = [];
    for (const r of m.readyReads) {
      if (r.index > m.applied) {
        keep.push(r);
        continue;
      }
      const op = this.history[r.req.op] as Extract<KvOperation, { op: 'get' }>;
      // The revision a read answers with: everything this member applied.
      this.reply(r.req, { output: { value: m.kv.get(op.input.key), revision: m.applied } });
    }
    m.readyReads = keep;
  }

  private maybeSnapshot(m: Member): void {
    const core = m.core!;
    const from = m.disk.snap?.index ?? 0;
    if (m.applied - from < SNAP_EVERY || m.applied < core.firstIndex) return;
    const index = m.applied;
    const term = core.termAt(index)!;
    m.disk.snap = { index, term, config: core.configAt(index), data: encodeState(m.kv, m.events) };
    m.disk.entries = m.disk.entries.filter((e) => e.index > index);
    core.compact(index);
  }

  // ---- network ----

  private send(messages: RaftMessage[]): void {
    for (const msg of messages) {
      this.stats.messages++;
      if (this.blocked.has(`${msg.from}>${msg.to}`) || (this.faultsOn && this.rng.chance(this.drop))) {
        if (this.verbose) this.log(`drop ${fmt(msg)}`);
        // Sometimes the transport notices, as the cluster driver's does.
        const sender = this.members.get(msg.from)?.core;
        if (sender && this.rng.chance(0.5)) {
          if (msg.type === 'snapshot') sender.reportSnapshot(msg.to, false);
          else if (msg.type === 'append') sender.reportUnreachable(msg.to);
        }
        continue;
      }
      const copies = this.faultsOn && this.rng.chance(this.dup) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        let delay = 1 + this.rng.next() * this.jitter;
        if (this.faultsOn && this.rng.chance(0.01)) delay += this.rng.range(50, 300);
        this.q.push(this.now + delay, () => this.deliver(msg));
      }
    }
  }

  private deliver(msg: RaftMessage): void {
    const m = this.members.get(msg.to);
    if (!m?.core) return;
    if (m.pausedUntil > this.now) {
      m.inbox.push(msg);
      return;
    }
    if (this.verbose) this.log(`deliver ${fmt(msg)}`);
    m.core.step(msg);
    this.drive(m);
  }

  // ---- clients ----

  private nextOp(c: Client): void {
    if (!this.clientsOn) return;
    const rng = this.rng;
    const key = rng.pick(KEYS);
    const value = `c${c.id}.${++c.count}`;
    const kind = rng.next();
    let op: KvOperation;
    if (kind < 0.35) op = { client: c.id, call: this.now, op: 'get', input: { key } };
    else if (kind < 0.7) op = { client: c.id, call: this.now, op: 'put', input: { key, value } };
    else if (kind < 0.8) op = { client: c.id, call: this.now, op: 'delete', input: { key } };
    else {
      const seen = this.history.filter((h) => h.input.key === key && h.op !== 'get' && h.op !== 'delete');
      const expected = seen.length && rng.chance(0.7) ? (rng.pick(seen).input as { value: string }).value : undefined;
      op = { client: c.id, call: this.now, op: 'cas', input: { key, expected, value } };
    }
    this.history.push(op);
    const i = this.history.length - 1;
    c.current = i;
    // Some reads go to any member, which forwards them to the leader.
    if (op.op === 'get' && rng.chance(0.3)) c.target = rng.pick([...this.members.keys()]);
    this.sendOp(c, i);
    this.q.push(this.now + CLIENT_TIMEOUT, () => {
      if (c.current !== i) return;
      c.current = undefined;
      this.log(`c${c.id} op ${i} timed out`);
      this.q.push(this.now + this.rng.range(1, 20), () => this.nextOp(c));
    });
  }

  private sendOp(c: Client, i: number): void {
    const req: ClientReq = { client: c.id, op: i, attempt: ++c.attempt };
    const target = c.target;
    this.q.push(this.now + 1, () => this.onRequest(target, req));
  }

  private onRequest(id: number | Member, req: ClientReq): void {
    const m = typeof id === 'number' ? this.members.get(id) : id;
    if (!m?.core) return; // lost: the client times out
    if (m.pausedUntil > this.now) {
      m.requests.push(req);
      return;
    }
    const core = m.core;
    const op = this.history[req.op]!;
    if (op.op === 'get') {
      const rid = `r${req.op}.${req.attempt}`;
      if (!core.readIndex(rid)) return this.reply(req, { notLeader: true, hint: undefined });
      if (!core.isLeader) this.stats.followerReads++;
      m.reads.set(rid, req);
    } else {
      if (!core.isLeader || core.transferTarget !== undefined) return this.reply(req, { notLeader: true, hint: core.leader });
      const cmd: Command =
        op.op === 'put'
          ? { op: req.op, t: 'put', k: op.input.key, v: op.input.value }
          : op.op === 'delete'
            ? { op: req.op, t: 'del', k: op.input.key, v: '' }
            : { op: req.op, t: 'cas', k: op.input.key, v: (op.input as { value: string }).value, e: (op.input as { expected?: string }).expected ?? null };
      const [index] = core.propose([enc.encode(JSON.stringify(cmd))]);
      m.writes.set(index!, req);
    }
    this.drive(m);
  }

  private reply(req: ClientReq, out: Output): void {
    this.q.push(this.now + 1, () => {
      const c = this.clients[req.client]!;
      const op = this.history[req.op]!;
      if (c.current !== req.op || op.ret !== undefined) return;
      if ('notLeader' in out) {
        const ids = [...this.members.keys()];
        c.target = out.hint !== undefined && out.hint !== c.target ? out.hint : this.rng.pick(ids);
        this.q.push(this.now + 5, () => {
          if (c.current === req.op) this.sendOp(c, req.op);
        });
        return;
      }
      op.ret = this.now;
      op.output = out.output as never;
      c.current = undefined;
      this.stats.opsOk++;
      if (op.op === 'get') this.stats.readsOk++;
      if (op.op === 'delete') this.stats.deletes++;
      if (req.op === this.finalOp) this.log(`final write acknowledged`);
      if (this.clientsOn) this.q.push(this.now + this.rng.range(0, 20), () => this.nextOp(c));
    });
  }

  // ---- faults ----

  private leader(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members.values()) {
      if (m.core?.isLeader && m.pausedUntil <= this.now && (!best || m.core.term > best.core!.term)) best = m;
    }
    return best;
  }

  private fault(): void {
    if (!this.faultsOn) return;
    const rng = this.rng;
    const ids = [...this.members.keys()];
    const live = [...this.members.values()].filter((m) => m.core);
    const kind = rng.pick([
      'partition', 'asymmetric', 'partial', 'isolate', 'isolate', 'heal', 'heal',
      'crash', 'crash', 'crashLeader', 'pause', 'pause', 'conf', 'conf', 'transfer', 'shutdown', 'watch',
    ]);
    switch (kind) {
      case 'partition': {
        this.blocked.clear();
        const side = new Set(ids.filter(() => rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
        this.stats.partitions++;
        this.log(`partition {${[...side]}} | {${ids.filter((i) => !side.has(i))}}`);
        break;
      }
      case 'asymmetric': {
        const a = rng.pick(ids);
        for (const b of ids) if (b !== a) this.blocked.add(`${a}>${b}`);
        this.stats.partitions++;
        this.log(`m${a} can receive but not send`);
        break;
      }
      case 'partial': {
        const a = rng.pick(ids);
        const b = rng.pick(ids.filter((i) => i !== a));
        this.blocked.add(`${a}>${b}`);
        this.blocked.add(`${b}>${a}`);
        this.stats.partitions++;
        this.log(`link m${a} - m${b} cut`);
        break;
      }
      case 'isolate': {
        const l = this.leader();
        if (!l) break;
        for (const b of ids) {
          if (b === l.id) continue;
          this.blocked.add(`${l.id}>${b}`);
          this.blocked.add(`${b}>${l.id}`);
        }
        this.stats.partitions++;
        this.log(`leader m${l.id} isolated`);
        break;
      }
      case 'heal':
        this.blocked.clear();
        this.log('network healed');
        break;
      case 'crash':
      case 'crashLeader': {
        if (!live.length) break;
        const m = (kind === 'crashLeader' ? this.leader() : undefined) ?? rng.pick(live);
        this.crash(m);
        this.q.push(this.now + rng.range(50, 800), () => this.restart(m));
        break;
      }
      case 'pause': {
        const m = this.leader() ?? rng.pick(live);
        if (!m) break;
        const ms = rng.range(2, 6) * ELECTION_TICKS * TICK;
        this.pause(m, ms);
        break;
      }
      case 'conf':
        this.confChange();
        break;
      case 'watch': {
        const w = rng.pick(this.watchers);
        if (w.member !== undefined) this.cut(w);
        break;
      }
      case 'transfer':
      case 'shutdown': {
        const l = this.leader();
        if (!l) break;
        const to = rng.pick(l.core!.members.filter((v) => v !== l.id).concat([l.id]));
        const ok = l.core!.transferLeader(to);
        this.log(`m${l.id} transfers leadership to m${to}: ${ok}`);
        if (ok) this.stats.transfers++;
        this.drive(l);
        if (kind === 'shutdown') {
          // A graceful shutdown: hand over, then stop.
          this.q.push(this.now + 3 * TICK, () => {
            this.crash(l);
            this.q.push(this.now + rng.range(100, 500), () => this.restart(l));
          });
        }
        break;
      }
    }
    this.q.push(this.now + rng.range(50, 300), () => this.fault());
  }

  // ---- watchers ----

  /** Opens the watcher's next connection, on a random member that is up, from `next`. */
  private connect(w: Watcher): void {
    if (w.member !== undefined) return;
    const up = [...this.members.values()].filter((m) => m.core);
    if (!up.length) {
      this.q.push(this.now + 50, () => this.connect(w));
      return;
    }
    const m = this.rng.pick(up);
    w.member = m.id;
    w.segments.push({ fromRevision: w.next, events: [] });
    if (w.segments.length > 1) this.stats.watchResumes++;
    this.log(`${w.name} watches ${w.prefix ? `prefix "${w.key}"` : w.key} on m${m.id} from ${w.next}`);
    // What the member already applied first, then its applies as they happen.
    for (const ev of m.events) if (ev.revision >= w.next) this.deliverEvent(w, ev);
  }

  /** Drops the watcher's connection; it reconnects a little later, from after the last revision seen. */
  private cut(w: Watcher): void {
    w.member = undefined;
    this.q.push(this.now + this.rng.range(5, 200), () => this.connect(w));
  }

  private notify(m: Member, ev: RevisionedWrite): void {
    for (const w of this.watchers) if (w.member === m.id && ev.revision >= w.segments[w.segments.length - 1]!.fromRevision) this.deliverEvent(w, ev);
  }

  private deliverEvent(w: Watcher, ev: RevisionedWrite): void {
    if (!watches(w, ev.key)) return;
    w.segments[w.segments.length - 1]!.events.push({ ...ev });
    w.next = ev.revision + 1;
    this.stats.watchEvents++;
  }

  /** Whether a member other than `m` holds a log entry on disk that `match` accepts. */
  private otherHolds(m: Member, match: (e: Entry) => boolean): boolean {
    for (const o of this.members.values()) if (o !== m && o.disk.entries.some(match)) return true;
    return false;
  }

  /**
   * With chance `p` (while faults are on), crashes a member at once, before it sends the
   * messages of the ready it is handling (and with `r`'s writes not yet durable); it restarts
   * later.
   */
  private dieNow(m: Member, p: number, why: string, r?: Ready): boolean {
    if (!this.faultsOn || !p || !this.rng.chance(p)) return false;
    if (r && (r.entries.length || r.hardState || r.snapshot)) m.unsynced = { entries: r.entries, hard: m.core!.hardState, snapshot: r.snapshot };
    this.log(`m${m.id} dies ${why}`);
    this.stats.leaderDeaths++;
    this.crash(m);
    this.q.push(this.now + this.rng.range(20, 300), () => this.restart(m));
    return true;
  }

  /** Crashes a member within 4 ms (and restarts it later), while faults are on. */
  private crashSoon(m: Member): void {
    if (!this.faultsOn) return;
    const inc = m.incarnation;
    this.q.push(this.now + this.rng.next() * 4, () => {
      if (m.incarnation !== inc || !this.faultsOn) return;
      this.crash(m);
      this.q.push(this.now + this.rng.range(20, 300), () => this.restart(m));
    });
  }

  private pause(m: Member, ms: number): void {
    if (!m.core || m.pausedUntil > this.now) return;
    this.stats.pauses++;
    m.pausedUntil = this.now + ms;
    const inc = m.incarnation;
    this.log(`m${m.id} paused for ${ms}ms`);
    this.q.push(m.pausedUntil, () => {
      if (m.incarnation !== inc) return;
      this.resume(m);
    });
  }

  private resume(m: Member): void {
    m.pausedUntil = 0;
    this.log(`m${m.id} resumes`);
    // A process back from a pause may serve the requests it queued before it reads the
    // messages that would tell it it was deposed: exactly what ReadIndex must survive.
    const requests = m.requests;
    m.requests = [];
    for (const req of requests) this.onRequest(m, req);
    const inbox = m.inbox;
    m.inbox = [];
    for (const msg of inbox) {
      if (!m.core) break;
      m.core.step(msg);
    }
    this.drive(m);
  }

  private restart(m: Member): void {
    if (m.core) return;
    this.start(m);
  }

  private confChange(): void {
    const l = this.leader();
    if (!l) return;
    const rng = this.rng;
    const cfg = l.core!.config;
    const options: ConfChange[] = [];
    const spare = this.spares.find((s) => !cfg.voters.includes(s) && !cfg.learners.includes(s));
    if (spare !== undefined && !cfg.learners.length) options.push({ type: 'addLearner', id: spare, context: `127.0.0.1:${7000 + spare}` });
    for (const learner of cfg.learners) options.push({ type: 'promote', id: learner });
    if (cfg.voters.length > 3) options.push({ type: 'remove', id: rng.pick(cfg.voters) });
    if (!options.length) return;
    const cc = rng.pick(options);
    const res = l.core!.proposeConfChange(cc);
    this.log(`m${l.id} proposes ${cc.type} m${cc.id}: ${res.ok ? `index ${res.index}` : res.reason}`);
    if (!res.ok) return;
    this.stats.confChanges++;
    if (cc.type === 'addLearner' && !this.members.has(cc.id)) {
      // A new member starts empty, knowing only that it is a learner.
      const m = this.addMember(cc.id, { voters: [], learners: [cc.id] });
      this.start(m);
    }
    this.drive(l);
  }

  /** The end of the faults: heal the network, restart and resume everyone, stop the load. */
  private heal(): void {
    this.faultsOn = false;
    this.clientsOn = false;
    this.blocked.clear();
    this.log('all faults healed');
    for (const m of this.members.values()) {
      if (!m.core) this.start(m);
      else if (m.pausedUntil > this.now) this.resume(m);
    }
    // One more write must get through once the group is whole again.
    const c = this.clients[0]!;
    this.q.push(this.now + 20 * TICK, () => this.finalWrite(c));
  }

  private finalWrite(c: Client): void {
    if (this.finalOp !== undefined && this.history[this.finalOp]!.ret !== undefined) return;
    if (c.current !== undefined) c.current = undefined;
    const op: KvOperation = { client: c.id, call: this.now, op: 'put', input: { key: 'x', value: `final.${this.now}` } };
    this.history.push(op);
    this.finalOp = this.history.length - 1;
    c.current = this.finalOp;
    this.sendOp(c, this.finalOp);
    if (this.now + CLIENT_TIMEOUT < this.end) this.q.push(this.now + CLIENT_TIMEOUT, () => this.finalWrite(c));
  }

  // ---- checks at the end ----

  private finalChecks(): void {
    if (this.finalOp === undefined || this.history[this.finalOp]!.ret === undefined) {
      this.violation('liveness: no write succeeded after every fault was healed');
    }
    this.checkLogMatching();
    this.checkHistory();
    this.checkWatchers();
  }

  /** Watch streams (ordered, no gaps, no duplicates, resumable) and read revisions (never backwards). */
  private checkWatchers(): void {
    const acknowledged: RevisionedWrite[] = [];
    const unacknowledged: UnacknowledgedWrite[] = [];
    const observations: RevisionObservation[] = [];
    for (const op of this.history) {
      if (op.op === 'get') {
        if (op.ret !== undefined && op.output?.revision !== undefined) observations.push({ client: op.client, call: op.call, ret: op.ret, revision: op.output.revision });
        continue;
      }
      const w: UnacknowledgedWrite = op.op === 'delete' ? { key: op.input.key, type: 'delete' } : { key: op.input.key, type: 'put', value: op.input.value };
      if (op.ret === undefined) unacknowledged.push(w);
      else if (op.output?.revision !== undefined) {
        acknowledged.push({ ...w, revision: op.output.revision });
        observations.push({ client: op.client, call: op.call, ret: op.ret, revision: op.output.revision });
      }
    }
    const watchers = this.watchers.map((w) => {
      // A watcher still connected to a live member has had everything that member applied.
      const m = w.member === undefined ? undefined : this.members.get(w.member);
      return { watcher: w.name, key: w.key, prefix: w.prefix, segments: w.segments, until: m?.core ? m.applied : undefined };
    });
    for (const v of checkWatches({ acknowledged, unacknowledged, watchers }).violations) this.violation(`watch ${v.kind}: ${v.message}`);
    for (const v of checkReadRevisions(observations, { realTime: true }).violations) this.violation(`read revision ${v.kind}: ${v.message}`);
  }

  /** Two logs holding an entry with the same index and term are identical up to it. */
  private checkLogMatching(): void {
    const live = [...this.members.values()].filter((m) => m.core);
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const x = live[a]!.core!;
        const y = live[b]!.core!;
        const lo = Math.max(x.firstIndex, y.firstIndex);
        let hi = Math.min(x.lastIndex, y.lastIndex);
        while (hi >= lo && x.termAt(hi) !== y.termAt(hi)) hi--;
        if (hi < lo) continue;
        const ex = x.entries(lo, hi);
        const ey = y.entries(lo, hi);
        for (let i = 0; i < ex.length; i++) {
          const p = ex[i]!;
          const q = ey[i]!;
          if (p.term !== q.term || dec.decode(p.data) !== dec.decode(q.data)) {
            this.violation(`log matching: m${live[a]!.id} and m${live[b]!.id} agree at ${hi} but differ at ${p.index}`);
            return;
          }
        }
      }
    }
  }

  private checkHistory(): void {
    for (const op of this.history) if (op.ret === undefined && op.op !== 'get') this.stats.opsUnknown++;
    // A read without an answer says nothing.
    const history = this.history.filter((op) => op.op !== 'get' || op.ret !== undefined);
    const res = checkLinearizable(history, { skipShrink: true });
    if (res.outcome === 'violation') {
      const full = checkLinearizable(history);
      this.violation(`linearizability:\n${full.outcome === 'violation' ? full.counterexample.text : res.counterexample.text}`);
    } else if (res.outcome === 'unknown') {
      this.log(`linearizability undecided on key ${res.key}: ${res.reason}`);
    }
  }
}

/** Applies the first `keep` records of a write: [snapshot], entries..., hard state. */
function applyWrite(disk: Disk, w: Write, keep: number): void {
  let k = keep;
  if (w.snapshot) {
    if (k-- <= 0) return;
    disk.snap = w.snapshot;
    disk.entries = [];
  }
  for (const e of w.entries) {
    if (k-- <= 0) return;
    const first = disk.entries[0]?.index;
    if (first !== undefined && e.index <= disk.entries[disk.entries.length - 1]!.index) {
      disk.entries.length = Math.max(0, e.index - first);
    }
    disk.entries.push(e);
  }
  if (k-- <= 0) return;
  disk.hard = { ...w.hard };
}

function fmt(m: RaftMessage): string {
  const base = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${base} prev ${m.prevLogIndex}/${m.prevLogTerm} n${m.entries.length} c${m.commit}`;
    case 'appendResponse':
      return `${base} ${m.success ? 'ok' : 'no'} ${m.matchIndex}${m.success ? '' : ` rej ${m.rejectIndex} ht ${m.hintTerm}`}`;
    case 'vote':
    case 'preVote':
      return `${base} last ${m.lastLogIndex}/${m.lastLogTerm}`;
    case 'voteResponse':
    case 'preVoteResponse':
      return `${base} ${m.granted}`;
    case 'heartbeat':
      return `${base} c${m.commit} ctx ${m.context}`;
    case 'snapshot':
      return `${base} ${m.snapshot.index}/${m.snapshot.term}`;
    default:
      return base;
  }
}

export function runSeed(seed: number, options: Omit<SimOptions, 'seed'> = {}): SimResult {
  return new Sim({ seed, ...options }).run();
}
