import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { Controller, ControllerManager, CONTROLLER_LEASE_KEY, LeaderElector } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

// Real store leases with a 1 s TTL: the store expires them on its own clock, so these tests
// wait about a second for a takeover (nothing here asserts on how long it took).
const TTL = 1;
const timing = { ttlSeconds: TTL, renewMs: 150, retryMs: 100 };

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

    await a.stop({ release: false }); // as if the process died: the lease is left to expire
    expect(events).toEqual(['a leads', 'a stops']);
    await vi.waitFor(() => expect(b.isLeader).toBe(true), { timeout: 10_000, interval: 50 });
    expect((await kv.get(CONTROLLER_LEASE_KEY))?.lease).toBeGreaterThan(0);
    expect((await a.holder())?.holder).toBe('b');
    expect(events).toEqual(['a leads', 'a stops', 'b leads']);
  });

  it('steps down when its lease disappears and hands over at once on release', async () => {
    const kv = await store();
    let starts = 0;
    let stops = 0;
    const a = new LeaderElector({ kv, identity: 'a', ...timing, onStartedLeading: () => void starts++, onStoppedLeading: () => void stops++ });
    const b = new LeaderElector({ kv, identity: 'b', ...timing });
    cleanups.push(() => a.stop(), () => b.stop());
    a.start();
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    // Someone revokes a's lease (e.g. an operator): a notices on its next renewal.
    const record = await a.holder();
    await kv.revoke(record!.leaseId);
    await vi.waitFor(() => expect(stops).toBe(1), { timeout: 5000, interval: 20 });
    // The key went with the lease, so a campaigns again and wins with a new lease.
    await vi.waitFor(() => expect(starts).toBe(2), { timeout: 5000, interval: 20 });
    expect((await a.holder())?.leaseId).not.toBe(record!.leaseId);
    b.start();
    await a.stop(); // release: revoke, b takes over without waiting for a TTL
    await vi.waitFor(() => expect(b.isLeader).toBe(true), { timeout: 5000, interval: 20 });
  });
});

describe('LeaderElector with a store that stops answering', () => {
  it('steps down within the TTL when a renewal hangs, instead of leading on a lease that may be gone', async () => {
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
    // Within the TTL (plus a renewal period and scheduling slack), not "whenever the call returns".
    expect(Date.now() - hungAt).toBeLessThan(TTL * 1000 + timing.renewMs + 1_000);
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
