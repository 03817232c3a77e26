import { describe, expect, it } from 'vitest';
import { RaftCore, type Entry, type RaftMessage } from '../../src/store/raft/index.js';

/** A seeded generator so elections are reproducible. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Persists everything a ready asks for at once (an in-memory disk), returning the rest. */
function drive(node: RaftCore, disk: Entry[]): { messages: RaftMessage[]; committed: Entry[] } {
  const messages: RaftMessage[] = [];
  const committed: Entry[] = [];
  for (let i = 0; i < 10; i++) {
    const r = node.ready();
    if (r.entries.length) {
      disk.length = r.entries[0]!.index - 1;
      disk.push(...r.entries);
      const last = r.entries[r.entries.length - 1]!;
      node.persisted(last.index, last.term);
    }
    messages.push(...r.messages);
    committed.push(...r.committed);
    if (!r.entries.length && !r.messages.length && !r.committed.length && !r.hardState) break;
  }
  return { messages, committed };
}

describe('raft core, one member', () => {
  it('elects itself at once when it campaigns and appends a no-op for the term', () => {
    const n = new RaftCore({ id: 1, members: [1], random: seeded(1) });
    expect(n.state.role).toBe('follower');
    n.campaign();
    expect(n.state.role).toBe('leader');
    expect(n.term).toBe(1);
    expect(n.vote).toBe(1);
    const r = n.ready();
    expect(r.hardState).toEqual({ term: 1, vote: 1, commit: 0 });
    expect(r.entries).toEqual([{ term: 1, index: 1, data: new Uint8Array(0) }]);
    // Nothing is committed before it is durable.
    expect(r.committed).toEqual([]);
    n.persisted(1, 1);
    expect(n.ready().committed.map((e) => e.index)).toEqual([1]);
  });

  it('campaigns by itself after the election timeout', () => {
    const n = new RaftCore({ id: 1, members: [1], random: seeded(2), electionTicks: 5 });
    let ticks = 0;
    while (n.state.role !== 'leader' && ticks < 100) {
      n.tick();
      ticks++;
    }
    expect(n.state.role).toBe('leader');
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(ticks).toBeLessThan(10);
  });

  it('batches proposals into one persist and commits them in order', () => {
    const n = new RaftCore({ id: 1, members: [1], random: seeded(3) });
    const disk: Entry[] = [];
    n.campaign();
    drive(n, disk);
    const idx = n.propose([bytes('a'), bytes('b'), bytes('c')]);
    expect(idx).toEqual([2, 3, 4]);
    const r = n.ready();
    expect(r.entries.map((e) => text(e.data))).toEqual(['a', 'b', 'c']);
    expect(r.committed).toEqual([]);
    n.persisted(4, 1);
    expect(n.ready().committed.map((e) => text(e.data))).toEqual(['a', 'b', 'c']);
    expect(n.commit).toBe(4);
  });

  it('restarts from its hard state and log and commits old entries through a new-term no-op', () => {
    const disk: Entry[] = [];
    const a = new RaftCore({ id: 1, members: [1], random: seeded(4) });
    a.campaign();
    drive(a, disk);
    a.propose([bytes('x')]);
    const r = a.ready();
    disk.push(...r.entries); // durable, but the crash comes before commit is recorded
    const b = new RaftCore({ id: 1, members: [1], random: seeded(4), hardState: { term: 1, vote: 1, commit: 1 }, entries: disk });
    expect(b.lastIndex).toBe(2);
    b.campaign();
    expect(b.term).toBe(2);
    const out = drive(b, disk);
    // Applied state lives in memory, so everything is applied again from the start.
    expect(out.committed.map((e) => [e.index, e.term, text(e.data)])).toEqual([
      [1, 1, ''],
      [2, 1, 'x'],
      [3, 2, ''],
    ]);
  });

  it('refuses proposals when not the leader and drops unwritten entries on a failed persist', () => {
    const n = new RaftCore({ id: 1, members: [1], random: seeded(5) });
    expect(() => n.propose([bytes('x')])).toThrow(/not the leader/);
    n.campaign();
    drive(n, []);
    n.propose([bytes('lost')]);
    n.ready();
    n.dropUnstable();
    expect(n.lastIndex).toBe(1);
    const idx = n.propose([bytes('kept')]);
    expect(idx).toEqual([2]);
    const out = drive(n, []);
    expect(out.committed.map((e) => text(e.data))).toEqual(['kept']);
  });

  it('compacts its in-memory log up to an applied index', () => {
    const n = new RaftCore({ id: 1, members: [1], random: seeded(6) });
    n.campaign();
    n.propose([bytes('1'), bytes('2')]);
    drive(n, []);
    n.compact(2);
    expect(n.termAt(1)).toBeUndefined();
    expect(n.termAt(2)).toBe(1);
    expect(n.lastIndex).toBe(3);
  });
});

describe('raft core, three members over a simulated network', () => {
  function cluster(seed: number) {
    const rnd = seeded(seed);
    const nodes = new Map([1, 2, 3].map((id) => [id, new RaftCore({ id, members: [1, 2, 3], random: rnd, checkQuorum: false })]));
    const disks = new Map([1, 2, 3].map((id) => [id, [] as Entry[]]));
    const applied = new Map([1, 2, 3].map((id) => [id, [] as string[]]));
    const down = new Set<number>();
    const pump = () => {
      for (let round = 0; round < 50; round++) {
        let moved = false;
        for (const [id, node] of nodes) {
          if (down.has(id)) continue;
          const { messages, committed } = drive(node, disks.get(id)!);
          for (const e of committed) if (e.data.length) applied.get(id)!.push(text(e.data));
          for (const m of messages) {
            if (down.has(m.to)) continue;
            nodes.get(m.to)!.step(m);
            moved = true;
          }
        }
        if (!moved) return;
      }
    };
    return { nodes, applied, down, pump };
  }

  it('elects one leader, replicates and commits on a majority, and survives losing it', () => {
    const c = cluster(7);
    c.nodes.get(1)!.campaign();
    c.pump();
    expect(c.nodes.get(1)!.state.role).toBe('leader');
    expect(c.nodes.get(2)!.state).toEqual({ role: 'follower', leader: 1 });
    c.nodes.get(1)!.propose([bytes('a'), bytes('b')]);
    c.pump();
    c.nodes.get(1)!.tick(); // a heartbeat carries the new commit index
    c.pump();
    for (const id of [1, 2, 3]) expect(c.applied.get(id)).toEqual(['a', 'b']);

    // The leader goes away; a follower takes over in a higher term and keeps the log.
    c.down.add(1);
    c.nodes.get(2)!.campaign();
    c.pump();
    expect(c.nodes.get(2)!.state.role).toBe('leader');
    expect(c.nodes.get(2)!.term).toBe(2);
    c.nodes.get(2)!.propose([bytes('c')]);
    c.pump();
    c.nodes.get(2)!.tick();
    c.pump();
    expect(c.applied.get(3)).toEqual(['a', 'b', 'c']);

    // The old leader returns, learns the new term and catches up.
    c.down.delete(1);
    c.nodes.get(2)!.tick();
    c.pump();
    c.nodes.get(2)!.tick();
    c.pump();
    expect(c.nodes.get(1)!.state).toEqual({ role: 'follower', leader: 2 });
    expect(c.applied.get(1)).toEqual(['a', 'b', 'c']);
  });

  it('does not vote for a candidate with a shorter log, and overwrites uncommitted entries', () => {
    const c = cluster(8);
    c.nodes.get(1)!.campaign();
    c.pump();
    // Node 1 appends an entry nobody else receives.
    c.down.add(2);
    c.down.add(3);
    c.nodes.get(1)!.propose([bytes('orphan')]);
    c.pump();
    c.down.clear();
    c.down.add(1);
    c.nodes.get(2)!.campaign();
    c.pump();
    expect(c.nodes.get(2)!.state.role).toBe('leader');
    c.nodes.get(2)!.propose([bytes('winner')]);
    c.pump();
    c.down.clear();
    c.nodes.get(2)!.tick();
    c.pump();
    c.nodes.get(2)!.tick();
    c.pump();
    expect(c.applied.get(1)).toEqual(['winner']);
    // A stale candidate with a shorter log does not win votes.
    const n3 = c.nodes.get(3)!;
    const before = n3.term;
    n3.step({ type: 'vote', from: 1, to: 3, term: before + 1, lastLogIndex: 0, lastLogTerm: 0 });
    const r = n3.ready();
    expect(r.messages.find((m) => m.type === 'voteResponse')).toMatchObject({ granted: false });
  });
});
