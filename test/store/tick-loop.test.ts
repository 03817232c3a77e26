// The tick loop shared by the embedded store and the group member, on a virtual clock: the
// core ticks every tickMs, a leader proposes lease expiry once a lease is due (one proposal
// at a time), the owner's per-tick work sees the tick count, and nothing runs once closed or
// stopped.
import { describe, expect, it } from 'vitest';
import { LeaseExpiry, TickLoop, type StoreClock } from '../../src/store/embedded/index.js';
import { MvccState, type Command } from '../../src/store/mvcc/index.js';
import { RaftCore } from '../../src/store/raft/index.js';

class VirtualClock implements StoreClock {
  t = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

function setup(leader: boolean) {
  const clock = new VirtualClock();
  const raft = new RaftCore({ id: 1, members: leader ? [1] : [1, 2, 3], random: () => 0, electionTicks: 1000 });
  if (leader) raft.campaign();
  const mvcc = new MvccState();
  mvcc.apply({ type: 'leaseGrant', ttlSeconds: 1, now: clock.now() });
  const proposed: Command[] = [];
  let answer: (() => void) | undefined;
  const expiry = new LeaseExpiry(
    (cmd) => {
      proposed.push(cmd);
      return new Promise<void>((r) => (answer = r));
    },
    () => undefined,
  );
  const seen: { ticks: number; now: number; leader: boolean }[] = [];
  let closed = false;
  const loop = new TickLoop({
    clock,
    tickMs: 100,
    raft,
    expiry,
    state: () => mvcc,
    closed: () => closed,
    after: (ticks, now, isLeader) => seen.push({ ticks, now, leader: isLeader }),
  });
  return { clock, raft, loop, proposed, seen, close: () => (closed = true), answer: () => answer?.() };
}

describe('TickLoop', () => {
  it('ticks the core every tickMs and hands the count, the time and the role to its owner', () => {
    const t = setup(true);
    const start = t.clock.now();
    t.loop.start();
    t.clock.advance(350);
    expect(t.seen).toEqual([
      { ticks: 1, now: start + 100, leader: true },
      { ticks: 2, now: start + 200, leader: true },
      { ticks: 3, now: start + 300, leader: true },
    ]);
  });

  it('on the leader proposes lease expiry once a lease is due, one proposal at a time', async () => {
    const t = setup(true);
    const start = t.clock.now();
    t.loop.start();
    t.clock.advance(900);
    expect(t.proposed).toEqual([]);
    t.clock.advance(300);
    // The lease of 1 s is due at the tenth tick.
    expect(t.proposed).toEqual([{ type: 'leaseExpire', now: start + 1000 }]);
    t.clock.advance(500);
    expect(t.proposed).toHaveLength(1);
    t.answer();
    await new Promise((r) => setImmediate(r));
    t.clock.advance(100);
    expect(t.proposed).toHaveLength(2);
  });

  it('never proposes lease expiry on a follower', () => {
    const t = setup(false);
    t.loop.start();
    t.clock.advance(3000);
    expect(t.seen.length).toBe(30);
    expect(t.seen.every((s) => !s.leader)).toBe(true);
    expect(t.proposed).toEqual([]);
  });

  it('stops once its owner is closed, and on stop()', () => {
    const t = setup(true);
    t.loop.start();
    t.clock.advance(200);
    t.close();
    t.clock.advance(1000);
    expect(t.seen).toHaveLength(2);
    const u = setup(true);
    u.loop.start();
    u.clock.advance(100);
    u.loop.stop();
    expect(u.clock.pending).toBe(0);
    u.clock.advance(1000);
    expect(u.seen).toHaveLength(1);
  });
});
