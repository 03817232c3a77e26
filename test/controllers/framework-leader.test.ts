import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { Controller, ControllerManager, CONTROLLER_LEASE_KEY, LeaderElector, fenceKeyOf, fencedKV } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

// A record that goes stale after 1 s: a waiting instance measures it on its own clock, so these
// tests wait about a second for a takeover (only the deadline test bounds how long).
const DURATION_MS = 1000;
const timing = { leaseDurationMs: DURATION_MS, renewDeadlineMs: 600, renewMs: 150, retryMs: 100 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function store(): Promise<KV> {
  const kv = await openEmbeddedStore({ tickMs: 20 });
  cleanups.push(() => kv.close());
  return kv;
}

describe('LeaderElector', () => {
  it('elects one leader; the other takes over once the leader stops renewing', async () => {
    const kv = await store();
    const registry = new Registry();
    const events: string[] = [];
    const make = (identity: string): LeaderElector => {
      const e = new LeaderElector({
        kv,
        identity,
        registry,
        ...timing,
        onStartedLeading: () => void events.push(`${identity} leads`),
        onStoppedLeading: () => void events.push(`${identity} stops`),
      });
      cleanups.push(() => e.stop());
      return e;
    };
    const a = make('a');
    const b = make('b');
    a.start();
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    b.start();
    // b keeps trying while a renews: give it several rounds, it must stay a follower.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, timing.retryMs));
      expect(b.isLeader).toBe(false);
    }
    expect((await b.holder())?.holder).toBe('a');
    expect(await registry.getSingleMetricAsString('capstan_controller_leader')).toContain('identity="a"} 1');

    await a.stop({ release: false }); // as if the process died: the record is left to go stale
    expect(events).toEqual(['a leads', 'a stops']);
    const stoppedAt = Date.now();
    await vi.waitFor(() => expect(b.isLeader).toBe(true), { timeout: 10_000, interval: 50 });
    // Not before the record had been stale for a whole duration on b's clock.
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(DURATION_MS - timing.renewMs);
    expect(await a.holder()).toMatchObject({ holder: 'b', term: 2 });
    expect(b.fence).toMatchObject({ key: fenceKeyOf(CONTROLLER_LEASE_KEY), term: 2 });
    expect((await kv.get(fenceKeyOf(CONTROLLER_LEASE_KEY)))?.modRevision).toBe(b.fence!.revision);
    expect(events).toEqual(['a leads', 'a stops', 'b leads']);
  });

  it('steps down when someone else rewrites the record, and hands over at once on release', async () => {
    const kv = await store();
    let starts = 0;
    let stops = 0;
    const a = new LeaderElector({ kv, identity: 'a', ...timing, onStartedLeading: () => void starts++, onStoppedLeading: () => void stops++ });
    const b = new LeaderElector({ kv, identity: 'b', ...timing });
    cleanups.push(() => a.stop(), () => b.stop());
    a.start();
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    const first = a.fence!;
    // Someone (an operator, a split-brained peer) overwrites the record: a notices on its next renewal.
    await kv.put(CONTROLLER_LEASE_KEY, JSON.stringify({ holder: 'intruder', term: 7 }));
    await vi.waitFor(() => expect(stops).toBe(1), { timeout: 5000, interval: 20 });
    expect(a.fence).toBeUndefined();
    // Nobody renews the intruder's record: after a duration a takes it over, in a later term.
    await vi.waitFor(() => expect(starts).toBe(2), { timeout: 5000, interval: 20 });
    expect(a.fence!.term).toBe(8);
    expect(a.fence!.revision).toBeGreaterThan(first.revision);
    b.start();
    await a.stop(); // release: the record is deleted, b takes over without waiting for a duration
    const releasedAt = Date.now();
    await vi.waitFor(() => expect(b.isLeader).toBe(true), { timeout: 5000, interval: 20 });
    expect(Date.now() - releasedAt).toBeLessThan(DURATION_MS);
    expect((await b.holder())?.term).toBe(1);
    // stepDown gives the term up at once, without deleting the record: it goes stale first.
    const termBefore = b.fence!.term;
    b.stepDown('told to');
    await vi.waitFor(() => expect(b.isLeader).toBe(false), { timeout: 2000, interval: 10 });
    await vi.waitFor(() => expect(b.fence?.term).toBe(termBefore + 1), { timeout: 5000, interval: 20 });
  });
});

describe('fencedKV', () => {
  it('writes while the fence holds and refuses every write once another term took over', async () => {
    const kv = await store();
    const a = new LeaderElector({ kv, identity: 'a', ...timing });
    cleanups.push(() => a.stop({ release: false }));
    a.start();
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    // The fence as a was given it, kept even after a stops noticing (a paused process).
    const stale = a.fence!;
    const lost: string[] = [];
    const fenced = fencedKV(kv, () => stale, (reason) => lost.push(reason));
    const put = await fenced.put('/t/x', 'one', { prevKv: true });
    expect(put.prevKv).toBeUndefined();
    expect(new TextDecoder().decode((await fenced.put('/t/x', 'two', { prevKv: true })).prevKv?.value)).toBe('one');
    // A failed compare of the caller's own is still a plain failed transaction.
    const own = await fenced.txn({ compare: [{ key: '/t/x', target: 'version', op: '==', value: 99 }], success: [{ type: 'put', key: '/t/x', value: 'no' }], failure: [{ type: 'get', key: '/t/x' }] });
    expect(own.succeeded).toBe(false);
    expect(own.results).toHaveLength(1);
    expect(lost).toEqual([]);
    expect(own.results[0]!.type === 'get' && new TextDecoder().decode(own.results[0]!.kvs[0]!.value)).toBe('two');

    // Another instance takes over (a stopped renewing and its record went stale).
    await a.stop({ release: false });
    const b = new LeaderElector({ kv, identity: 'b', ...timing });
    cleanups.push(() => b.stop());
    b.start();
    await vi.waitFor(() => expect(b.isLeader).toBe(true), { timeout: 10_000, interval: 50 });
    await expect(fenced.put('/t/x', 'late')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_CONTROLLER_NOT_LEADER' });
    await expect(fenced.delete('/t/x')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_CONTROLLER_NOT_LEADER' });
    await expect(fenced.txn({ compare: [], success: [{ type: 'put', key: '/t/y', value: 'late' }], failure: [] })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_CONTROLLER_NOT_LEADER' });
    expect(new TextDecoder().decode((await kv.get('/t/x'))!.value)).toBe('two');
    expect(await kv.get('/t/y')).toBeUndefined();
    expect(lost).toHaveLength(3);
    expect(lost[0]).toContain('put /t/x');
    // The new holder's fence works, and no fence at all refuses.
    await fencedKV(kv, () => b.fence).put('/t/x', 'three');
    await expect(fencedKV(kv, () => undefined).put('/t/x', 'none')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_CONTROLLER_NOT_LEADER' });
  });
});

describe('LeaderElector with a store that stops answering', () => {
  it('steps down within the renew deadline when a renewal hangs, instead of leading on a record that may have gone stale', async () => {
    const kv = await store();
    // The seam: the real store, except that once `hang` is set no call answers, as when a
    // Raft group has lost its leader and every call waits for one.
    let hang = false;
    const hanging: KV = new Proxy(kv, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => (hang ? new Promise<never>(() => undefined) : (v as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const events: string[] = [];
    const e = new LeaderElector({
      kv: hanging,
      identity: 'a',
      ...timing,
      onStartedLeading: () => void events.push('leads'),
      onStoppedLeading: () => void events.push('stops'),
    });
    cleanups.push(() => e.stop({ release: false }));
    e.start();
    await vi.waitFor(() => expect(e.isLeader).toBe(true));
    hang = true;
    const hungAt = Date.now();
    await vi.waitFor(() => expect(e.isLeader).toBe(false), { timeout: 5_000, interval: 20 });
    // Within the deadline (plus a renewal period and scheduling slack), before another
    // instance could take over, not "whenever the call returns".
    expect(Date.now() - hungAt).toBeLessThan(timing.renewDeadlineMs + timing.renewMs + 250);
    expect(events).toEqual(['leads', 'stops']);
  });
});

describe('ControllerManager', () => {
  it('runs controllers only on the leader', async () => {
    const kv = await store();
    const make = (identity: string): { manager: ControllerManager; controller: Controller } => {
      const controller = new Controller({ reconciler: { name: `c-${identity}`, reconcile: async () => undefined } });
      const manager = new ControllerManager({ controllers: [controller], leaderElection: { kv, identity, ...timing } });
      cleanups.push(() => manager.stop());
      return { manager, controller };
    };
    const one = make('one');
    const two = make('two');
    one.manager.start();
    await vi.waitFor(() => expect(one.controller.state).toBe('RUNNING'));
    two.manager.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(two.controller.state).toBe('STOPPED');
    await one.manager.stop({ release: false });
    expect(one.controller.state).toBe('STOPPED');
    await vi.waitFor(() => expect(two.controller.state).toBe('RUNNING'), { timeout: 10_000, interval: 50 });
  });
});
