// A synchronous in-memory network of Raft cores for unit tests: every ready is persisted at
// once (an in-memory disk), then its messages are delivered unless a cut link, a down member
// or a filter drops them. The simulation (harness.ts) is the asynchronous, faulty version.
import { RaftCore, type Entry, type RaftMessage, type RaftOptions, type RaftSnapshot, type ReadState } from '../../src/store/raft/index.js';
import { Rng } from './prng.js';

export class Net {
  readonly nodes = new Map<number, RaftCore>();
  readonly disks = new Map<number, Entry[]>();
  readonly applied = new Map<number, Entry[]>();
  readonly reads = new Map<number, ReadState[]>();
  readonly restored = new Map<number, RaftSnapshot[]>();
  readonly cut = new Set<string>();
  readonly down = new Set<number>();
  /** Every message delivered, in order. */
  readonly delivered: RaftMessage[] = [];
  /** Return false to drop a message. */
  filter: ((m: RaftMessage) => boolean) | undefined;
  private readonly rng: Rng;

  constructor(
    ids: number[],
    private readonly defaults: Partial<RaftOptions> = {},
    seed = 1,
  ) {
    this.rng = new Rng(seed);
    for (const id of ids) this.add(id, { members: ids });
  }

  add(id: number, o: Partial<RaftOptions> = {}): RaftCore {
    const rng = this.rng.fork();
    const node = new RaftCore({ id, members: [], random: () => rng.next(), ...this.defaults, ...o });
    this.nodes.set(id, node);
    this.disks.set(id, []);
    this.applied.set(id, []);
    this.reads.set(id, []);
    this.restored.set(id, []);
    return node;
  }

  node(id: number): RaftCore {
    return this.nodes.get(id)!;
  }

  /** Applied state-machine entries of a member (no-ops and membership changes left out), as text. */
  texts(id: number): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.data.length && e.data[0] !== 0xcc)
      .map((e) => new TextDecoder().decode(e.data));
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
    this.down.clear();
    this.filter = undefined;
  }

  /** Runs one member's ready: persist, then hand back its messages. */
  private drive(id: number): RaftMessage[] {
    const node = this.nodes.get(id)!;
    const disk = this.disks.get(id)!;
    const out: RaftMessage[] = [];
    for (let i = 0; i < 20; i++) {
      const r = node.ready();
      if (r.snapshot) {
        disk.length = 0;
        this.restored.get(id)!.push(r.snapshot);
      }
      if (r.entries.length) {
        const first = disk[0]?.index ?? r.entries[0]!.index;
        disk.length = Math.max(0, r.entries[0]!.index - first);
        disk.push(...r.entries);
        const last = r.entries[r.entries.length - 1]!;
        node.persisted(last.index, last.term);
      }
      this.applied.get(id)!.push(...r.committed);
      this.reads.get(id)!.push(...r.readStates);
      out.push(...r.messages);
      if (!r.entries.length && !r.messages.length && !r.committed.length && !r.hardState && !r.readStates.length && !r.snapshot) break;
    }
    return out;
  }

  /** Delivers messages until the network is quiet. */
  pump(maxRounds = 100): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.nodes.keys()) {
        if (this.down.has(id)) continue;
        for (const m of this.drive(id)) {
          if (this.down.has(m.to) || this.cut.has(`${m.from}>${m.to}`) || !this.nodes.has(m.to)) continue;
          if (this.filter && !this.filter(m)) continue;
          this.delivered.push(m);
          this.nodes.get(m.to)!.step(m);
          moved = true;
        }
      }
      if (!moved) return;
    }
  }

  /** Ticks every member that is up `n` times, pumping after each tick. */
  tick(n = 1, ids?: number[]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids ?? [...this.nodes.keys()]) if (!this.down.has(id)) this.nodes.get(id)!.tick();
      this.pump();
    }
  }

  /** Ticks until some member that is up leads (up to `max` ticks); returns it. */
  elect(max = 200): number {
    for (let i = 0; i < max; i++) {
      const l = this.leader();
      if (l !== undefined) return l;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  leader(): number | undefined {
    let best: number | undefined;
    for (const [id, n] of this.nodes) {
      if (this.down.has(id) || !n.isLeader) continue;
      if (best === undefined || n.term > this.nodes.get(best)!.term) best = id;
    }
    return best;
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
