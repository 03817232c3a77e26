// The Raft core's behaviour beyond the basic paper, member by member, over a synchronous
// in-memory network: PreVote, CheckQuorum, flow control, fast backtracking, the figure 8
// rule, ReadIndex, InstallSnapshot, membership changes and leadership transfer.
import { describe, expect, it } from 'vitest';
import {
  RaftCore,
  applyConfChange,
  decodeConfChange,
  decodeConfEntry,
  encodeConfChange,
  isConfChange,
  type Entry,
  type RaftMessage,
} from '../../src/store/raft/index.js';
import { Net, bytes } from '../sim/net.js';

const opts = { electionTicks: 10, heartbeatTicks: 1 };

describe('raft PreVote and CheckQuorum', () => {
  it('a partitioned follower does not raise its term, and does not disrupt the leader when it returns', () => {
    const net = new Net([1, 2, 3], opts);
    const leader = net.elect();
    const term = net.node(leader).term;
    const f = [1, 2, 3].find((id) => id !== leader)!;
    net.isolate(f);
    net.tick(100);
    // It keeps asking whether it could win, without ever starting an election.
    expect(net.node(f).term).toBe(term);
    expect(net.node(f).state.role).toBe('preCandidate');
    net.heal();
    net.tick(3);
    expect(net.leader()).toBe(leader);
    expect(net.node(leader).term).toBe(term);
    expect(net.node(f).state).toEqual({ role: 'follower', leader });
  });

  it('without PreVote the same partition forces a new election on return', () => {
    const net = new Net([1, 2, 3], { ...opts, preVote: false, checkQuorum: false });
    const leader = net.elect();
    const term = net.node(leader).term;
    const f = [1, 2, 3].find((id) => id !== leader)!;
    net.isolate(f);
    net.tick(50);
    expect(net.node(f).term).toBeGreaterThan(term + 1);
    net.heal();
    net.tick(30);
    expect(net.node(net.elect()).term).toBeGreaterThan(term + 1);
  });

  it('a partial partition (one follower cut from the leader only) leaves the leader in place', () => {
    for (const checkQuorum of [true, false]) {
      const net = new Net([1, 2, 3], { ...opts, checkQuorum });
      net.node(1).campaign();
      net.pump();
      net.node(1).propose([bytes('a')]);
      net.tick(2);
      net.cut.add('1>2');
      net.cut.add('2>1');
      net.tick(60);
      if (checkQuorum) {
        // Member 3 still hears from the leader, so it ignores member 2's PreVote.
        expect(net.leader()).toBe(1);
        expect(net.node(1).term).toBe(1);
      } else {
        // PreVote alone does not help: member 3 grants it, and member 2 takes over.
        expect(net.node(net.leader()!).term).toBeGreaterThan(1);
      }
    }
  });

  it('an isolated leader steps down within two election timeouts (CheckQuorum)', () => {
    const net = new Net([1, 2, 3], opts);
    const leader = net.elect();
    net.isolate(leader);
    let ticks = 0;
    while (net.node(leader).isLeader && ticks < 100) {
      net.tick(1, [leader]);
      ticks++;
    }
    expect(net.node(leader).isLeader).toBe(false);
    expect(ticks).toBeLessThanOrEqual(2 * 10);
  });

  it('followers that hear from a leader ignore vote requests of a higher term, unless it is a transfer', () => {
    const net = new Net([1, 2, 3], opts);
    const leader = net.elect();
    const f = [1, 2, 3].find((id) => id !== leader)!;
    const node = net.node(f);
    const term = node.term;
    node.step({ type: 'vote', from: 9, to: f, term: term + 5, lastLogIndex: 100, lastLogTerm: 100 });
    expect(node.term).toBe(term);
    expect(node.ready().messages).toEqual([]);
    node.step({ type: 'vote', from: 9, to: f, term: term + 5, lastLogIndex: 100, lastLogTerm: 100, transfer: true });
    expect(node.term).toBe(term + 5);
    expect(node.ready().messages).toEqual([{ type: 'voteResponse', from: f, to: 9, term: term + 5, granted: true }]);
  });

  it('grants a PreVote without changing term or vote, and refuses one with a stale log', () => {
    const n = new RaftCore({ id: 1, members: [1, 2, 3], random: () => 0 });
    n.step({ type: 'preVote', from: 2, to: 1, term: 1, lastLogIndex: 0, lastLogTerm: 0 });
    const r = n.ready();
    expect(r.messages).toEqual([{ type: 'preVoteResponse', from: 1, to: 2, term: 1, granted: true }]);
    expect(r.hardState).toBeUndefined();
    expect(n.term).toBe(0);
    expect(n.vote).toBe(0);
    const m = new RaftCore({ id: 1, members: [1, 2, 3], random: () => 0, hardState: { term: 2, vote: 0, commit: 0 }, entries: [{ term: 2, index: 1, data: bytes('a') }] });
    m.step({ type: 'preVote', from: 2, to: 1, term: 3, lastLogIndex: 5, lastLogTerm: 1 });
    expect(m.ready().messages).toEqual([{ type: 'preVoteResponse', from: 1, to: 2, term: 2, granted: false }]);
  });
});

describe('raft log replication', () => {
  it('keeps at most maxInflight appends in flight per follower and at most maxMsgBytes per append', () => {
    const net = new Net([1, 2], { ...opts, maxInflight: 2, maxMsgBytes: 10 });
    net.node(1).campaign();
    net.pump();
    expect(net.leader()).toBe(1);
    const sent: RaftMessage[] = [];
    net.filter = (m) => {
      if (m.type === 'append') sent.push(m);
      return m.type !== 'appendResponse'; // responses are held back
    };
    net.node(1).propose(Array.from({ length: 10 }, (_, i) => bytes(`value-${i}`))); // 7 bytes each
    net.pump();
    const withEntries = sent.filter((m) => m.type === 'append' && m.entries.length);
    expect(withEntries).toHaveLength(2);
    for (const m of withEntries) expect(m.type === 'append' && m.entries.length).toBe(1);
    // Once responses flow, the rest follows and commits.
    net.filter = undefined;
    net.tick(3);
    expect(net.texts(2)).toHaveLength(10);
  });

  it('probes one append at a time until a follower answers, then pipelines', () => {
    const net = new Net([1, 2, 3], { ...opts, maxInflight: 8 });
    net.node(1).campaign();
    net.pump();
    const p = () => (net.node(1).state as { progress: Map<number, { state?: string }> }).progress;
    expect(p().get(2)!.state).toBe('replicate');
    net.down.add(2);
    net.node(1).propose([bytes('a')]);
    net.pump();
    net.node(1).reportUnreachable(2);
    expect(p().get(2)!.state).toBe('probe');
    net.node(1).propose([bytes('b')]);
    net.node(1).propose([bytes('c')]);
    const r = net.node(1).ready();
    // Probe: a single append to member 2 carrying everything it may lack.
    expect(r.messages.filter((m) => m.to === 2 && m.type === 'append')).toHaveLength(1);
  });

  it('backtracks a long diverging log in a few round trips using the hint', () => {
    // Member 3 led term 1 alone and appended 50 entries nobody else has.
    const old: Entry[] = [{ term: 1, index: 1, data: new Uint8Array() }];
    for (let i = 2; i <= 51; i++) old.push({ term: 1, index: i, data: bytes(`old-${i}`) });
    const net = new Net([], opts);
    net.add(1, { members: [1, 2, 3], hardState: { term: 2, vote: 0, commit: 0 } });
    net.add(2, { members: [1, 2, 3], hardState: { term: 2, vote: 0, commit: 0 } });
    net.add(3, { members: [1, 2, 3], hardState: { term: 1, vote: 3, commit: 0 }, entries: old });
    net.down.add(3);
    net.node(1).campaign();
    net.pump();
    net.node(1).propose(Array.from({ length: 20 }, (_, i) => bytes(`new-${i}`)));
    net.pump();
    net.down.delete(3);
    net.tick(1);
    net.tick(3);
    const rejections = net.delivered.filter((m) => m.type === 'appendResponse' && m.from === 3 && !m.success);
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(net.texts(3)).toEqual(Array.from({ length: 20 }, (_, i) => `new-${i}`));
  });

  it('does not commit an entry of an earlier term by counting replicas (figure 8)', () => {
    // Member 1 holds an entry of term 2 at index 2 that it never committed; it leads term 4.
    const log: Entry[] = [
      { term: 1, index: 1, data: new Uint8Array() },
      { term: 2, index: 2, data: bytes('t2') },
    ];
    const n = new RaftCore({ id: 1, members: [1, 2, 3], random: () => 0, hardState: { term: 3, vote: 0, commit: 1 }, entries: log, maxMsgBytes: 1 });
    n.campaign();
    n.step({ type: 'voteResponse', from: 2, to: 1, term: 4, granted: true });
    expect(n.isLeader).toBe(true);
    const r = n.ready();
    n.persisted(r.entries[r.entries.length - 1]!.index, 4);
    // Member 2 now holds index 2 (term 2): a majority, but not of this term.
    n.step({ type: 'appendResponse', from: 2, to: 1, term: 4, success: true, matchIndex: 2 });
    expect(n.commit).toBe(1);
    // Once this term's no-op (index 3) is on a majority, both commit.
    n.step({ type: 'appendResponse', from: 2, to: 1, term: 4, success: true, matchIndex: 3 });
    expect(n.commit).toBe(3);
  });

  it('hands out entries and the vote in the same ready as the messages that depend on them', () => {
    const f = new RaftCore({ id: 2, members: [1, 2, 3], random: () => 0 });
    f.step({ type: 'vote', from: 1, to: 2, term: 1, lastLogIndex: 0, lastLogTerm: 0 });
    const r1 = f.ready();
    expect(r1.hardState).toEqual({ term: 1, vote: 1, commit: 0 });
    expect(r1.messages).toEqual([{ type: 'voteResponse', from: 2, to: 1, term: 1, granted: true }]);
    f.step({ type: 'append', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [{ term: 1, index: 1, data: bytes('a') }], commit: 0 });
    const r2 = f.ready();
    expect(r2.entries.map((e) => e.index)).toEqual([1]);
    expect(r2.messages).toEqual([{ type: 'appendResponse', from: 2, to: 1, term: 1, success: true, matchIndex: 1 }]);
  });
});

describe('raft ReadIndex', () => {
  it('answers a read only after a heartbeat round confirms leadership', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.node(1).propose([bytes('a')]);
    net.pump();
    const heartbeats: RaftMessage[] = [];
    net.filter = (m) => {
      if (m.type === 'heartbeatResponse') heartbeats.push(m);
      return m.type !== 'heartbeatResponse';
    };
    expect(net.node(1).readIndex('r1')).toBe(true);
    net.pump();
    expect(net.reads.get(1)).toEqual([]);
    // One acknowledgement plus the leader itself is a quorum of three.
    net.filter = undefined;
    net.node(1).step(heartbeats[0]!);
    net.pump();
    expect(net.reads.get(1)).toEqual([{ requestId: 'r1', index: net.node(1).commit }]);
    expect(net.node(1).commit).toBe(2);
  });

  it('waits for the first commit of the term before answering', () => {
    const n = new RaftCore({ id: 1, members: [1, 2, 3], random: () => 0 });
    n.campaign();
    n.step({ type: 'voteResponse', from: 2, to: 1, term: 1, granted: true });
    n.ready();
    n.readIndex('early');
    n.step({ type: 'heartbeatResponse', from: 2, to: 1, term: 1 });
    expect(n.ready().readStates).toEqual([]);
    n.persisted(1, 1);
    n.step({ type: 'appendResponse', from: 2, to: 1, term: 1, success: true, matchIndex: 1 });
    const hb = n.ready().messages.find((m) => m.type === 'heartbeat' && m.to === 2);
    expect(hb).toBeDefined();
    n.step({ type: 'heartbeatResponse', from: 2, to: 1, term: 1, context: (hb as { context: number }).context });
    expect(n.ready().readStates).toEqual([{ requestId: 'early', index: 1 }]);
  });

  it('a follower forwards reads to the leader; a deposed leader never answers', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.node(1).propose([bytes('a')]);
    net.tick(1);
    expect(net.node(2).readIndex('f1')).toBe(true);
    net.tick(1);
    expect(net.reads.get(2)).toEqual([{ requestId: 'f1', index: 2 }]);
    net.isolate(1);
    net.node(1).readIndex('stale');
    net.tick(30, [2, 3]);
    net.tick(30, [1]);
    expect(net.reads.get(1)).toEqual([]);
    expect(net.node(1).isLeader).toBe(false);
  });

  it('refuses to forward when no leader is known', () => {
    const n = new RaftCore({ id: 1, members: [1, 2, 3], random: () => 0 });
    expect(n.readIndex('x')).toBe(false);
  });
});

describe('raft InstallSnapshot', () => {
  it('sends a snapshot to a follower that needs compacted entries and continues with the log', () => {
    const snaps = new Map<number, { index: number; term: number; data: Uint8Array }>();
    const net = new Net([], opts);
    for (const id of [1, 2, 3]) net.add(id, { members: [1, 2, 3], snapshotSource: () => snaps.get(id) });
    net.node(1).campaign();
    net.pump();
    net.down.add(3);
    net.node(1).propose(Array.from({ length: 10 }, (_, i) => bytes(`v${i}`)));
    net.tick(2);
    const l = net.node(1);
    expect(l.applied).toBe(11);
    snaps.set(1, { index: 11, term: l.termAt(11)!, data: bytes('state at 11') });
    l.compact(11);
    l.propose([bytes('after')]);
    net.tick(1);
    net.down.delete(3);
    net.tick(3);
    const restored = net.restored.get(3)!;
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatchObject({ index: 11, term: 1, config: { voters: [1, 2, 3], learners: [] } });
    expect(new TextDecoder().decode(restored[0]!.data)).toBe('state at 11');
    expect(net.node(3).firstIndex).toBe(12);
    expect(net.texts(3)).toEqual(['after']);
    expect(net.node(3).applied).toBe(12);
  });

  it('a snapshot the follower already has up to its end only moves the commit index', () => {
    const log: Entry[] = [1, 2, 3].map((i) => ({ term: 1, index: i, data: bytes(`e${i}`) }));
    const f = new RaftCore({ id: 2, members: [1, 2], random: () => 0, hardState: { term: 1, vote: 0, commit: 0 }, entries: log });
    f.step({ type: 'snapshot', from: 1, to: 2, term: 1, snapshot: { index: 2, term: 1, config: { voters: [1, 2], learners: [] }, data: bytes('s') } });
    const r = f.ready();
    expect(r.snapshot).toBeUndefined();
    expect(r.committed.map((e) => e.index)).toEqual([1, 2]);
    expect(f.lastIndex).toBe(3);
  });
});

describe('raft membership changes', () => {
  it('encodes a change with the configuration it results in', () => {
    const data = encodeConfChange({ type: 'addLearner', id: 4, context: 'http://127.0.0.1:7481' }, { voters: [1, 2, 3], learners: [4] });
    expect(isConfChange(data)).toBe(true);
    expect(isConfChange(bytes('{"a":1}'))).toBe(false);
    expect(decodeConfChange(data)).toEqual({ type: 'addLearner', id: 4, context: 'http://127.0.0.1:7481' });
    expect(decodeConfEntry(data).config).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(applyConfChange({ voters: [1], learners: [] }, { type: 'remove', id: 1 })).toBeUndefined();
    expect(applyConfChange({ voters: [1], learners: [2] }, { type: 'promote', id: 2 })).toEqual({ voters: [1, 2], learners: [] });
  });

  it('adds a learner that receives the log without voting, then promotes it once caught up', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.node(1).propose([bytes('a'), bytes('b')]);
    net.tick(1);
    net.add(4, { members: [], learners: [4] });
    const res = net.node(1).proposeConfChange({ type: 'addLearner', id: 4 });
    expect(res).toEqual({ ok: true, index: 4 });
    // In effect once appended: the leader replicates to the learner at once.
    expect(net.node(1).config).toEqual({ voters: [1, 2, 3], learners: [4] });
    // Only one change at a time.
    expect(net.node(1).proposeConfChange({ type: 'remove', id: 2 })).toEqual({ ok: false, reason: 'pending' });
    net.tick(2);
    expect(net.texts(4)).toEqual(['a', 'b']);
    expect(net.node(4).config).toEqual({ voters: [1, 2, 3], learners: [4] });
    // A learner never campaigns.
    net.isolate(4);
    net.tick(50, [4]);
    expect(net.node(4).state.role).toBe('follower');
    expect(net.node(4).term).toBe(1);
    net.heal();
    net.tick(2);
    expect(net.node(1).proposeConfChange({ type: 'promote', id: 4 })).toMatchObject({ ok: true });
    net.tick(2);
    expect(net.node(4).members).toEqual([1, 2, 3, 4]);
    // Four voters: a quorum is three, so two down stops commits.
    net.down.add(2);
    net.down.add(3);
    net.node(1).propose([bytes('c')]);
    net.tick(2);
    expect(net.texts(1)).toEqual(['a', 'b']);
    net.down.delete(3);
    net.tick(2);
    expect(net.texts(1)).toEqual(['a', 'b', 'c']);
  });

  it('refuses to promote a learner that has not caught up, and invalid changes', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.add(4, { members: [], learners: [4] });
    net.down.add(4);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', id: 4 })).toMatchObject({ ok: true });
    net.tick(2);
    expect(net.node(1).proposeConfChange({ type: 'promote', id: 4 })).toEqual({ ok: false, reason: 'not-caught-up' });
    expect(net.node(1).proposeConfChange({ type: 'promote', id: 2 })).toEqual({ ok: false, reason: 'invalid' });
    expect(net.node(1).proposeConfChange({ type: 'remove', id: 9 })).toEqual({ ok: false, reason: 'invalid' });
    expect(net.node(2).proposeConfChange({ type: 'remove', id: 3 })).toEqual({ ok: false, reason: 'not-leader' });
  });

  it('in an idle group, a learner that was down catches up on heartbeats alone (no new proposal)', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.node(1).propose([bytes('a'), bytes('b')]);
    net.tick(2);
    net.add(4, { members: [], learners: [4] });
    net.down.add(4);
    expect(net.node(1).proposeConfChange({ type: 'addLearner', id: 4 })).toMatchObject({ ok: true });
    // The first probe is lost while the learner is down; nothing is proposed afterwards.
    net.tick(30);
    const lastIndex = net.node(1).lastIndex;
    net.down.delete(4);
    net.tick(3);
    expect(net.node(1).lastIndex).toBe(lastIndex);
    expect(net.texts(4)).toEqual(['a', 'b']);
    const s = net.node(1).state;
    expect(s.role === 'leader' ? s.progress.get(4)?.match : undefined).toBe(lastIndex);
    expect(net.node(1).proposeConfChange({ type: 'promote', id: 4 })).toMatchObject({ ok: true });
  });

  it('a removed leader steps down once its removal commits, and the rest elect a leader', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    expect(net.node(1).proposeConfChange({ type: 'remove', id: 1 })).toMatchObject({ ok: true });
    net.pump();
    expect(net.node(1).isLeader).toBe(false);
    expect(net.node(2).members).toEqual([2, 3]);
    net.down.add(1);
    const l = net.elect();
    expect([2, 3]).toContain(l);
    net.node(l).propose([bytes('z')]);
    net.tick(2);
    expect(net.texts(2)).toEqual(['z']);
  });

  it('restores the membership from the log after a restart', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.node(1).proposeConfChange({ type: 'remove', id: 3 });
    net.tick(2);
    const again = new RaftCore({ id: 2, members: [1, 2, 3], random: () => 0, hardState: net.node(2).hardState, entries: net.disks.get(2)! });
    expect(again.members).toEqual([1, 2]);
  });
});

describe('raft leadership transfer', () => {
  it('catches the target up, then it wins at once in the next term', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.down.add(3);
    net.node(1).propose([bytes('a')]);
    net.tick(1);
    net.down.delete(3);
    expect(net.node(1).transferLeader(3)).toBe(true);
    // Proposals are refused while leadership moves.
    expect(() => net.node(1).propose([bytes('x')])).toThrow(/not the leader/);
    net.tick(1);
    expect(net.leader()).toBe(3);
    expect(net.node(3).term).toBe(2);
    expect(net.delivered.some((m) => m.type === 'timeoutNow' && m.to === 3)).toBe(true);
    // No PreVote round was needed.
    expect(net.delivered.some((m) => m.type === 'preVote')).toBe(false);
    net.node(3).propose([bytes('b')]);
    net.tick(2);
    expect(net.texts(1)).toEqual(['a', 'b']);
  });

  it('gives up after an election timeout when the target does not answer', () => {
    const net = new Net([1, 2, 3], opts);
    net.node(1).campaign();
    net.pump();
    net.down.add(3);
    expect(net.node(1).transferLeader(3)).toBe(true);
    expect(net.node(1).transferLeader(1)).toBe(false);
    net.tick(10, [1, 2]);
    expect(net.node(1).transferTarget).toBeUndefined();
    expect(net.node(1).isLeader).toBe(true);
    expect(net.node(1).propose([bytes('ok')])).toHaveLength(1);
  });
});
