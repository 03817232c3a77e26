import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import {
  Controller,
  ExponentialBackoff,
  VirtualClock,
  WorkQueue,
  watchSource,
  type Reconciler,
  type ReconcileContext,
  type Result,
} from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function reconciler(name: string, fn: (key: string, ctx: ReconcileContext) => Promise<Result>): Reconciler {
  return { name, reconcile: fn };
}

const running: Controller[] = [];
const stores: KV[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function start(c: Controller): Controller {
  running.push(c);
  c.start();
  return c;
}

describe('WorkQueue', () => {
  it('queues a key once and re-queues a key added while it is processed', async () => {
    const q = new WorkQueue({ clock: new VirtualClock() });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a'); // changed while a worker holds it
    expect(q.length).toBe(1); // only b: a waits for done()
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
    q.done('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    q.done('b');
    expect(q.length).toBe(0);
  });

  it('collapses delayed adds of one key to the earliest time', async () => {
    const clock = new VirtualClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 500);
    expect(clock.pending()).toBe(1);
    clock.advance(49);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('hands undefined to waiting workers on shutdown', async () => {
    const q = new WorkQueue({ clock: new VirtualClock() });
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('x');
    expect(q.length).toBe(0);
  });
});

describe('ExponentialBackoff', () => {
  it('doubles from 5 ms, caps at 1000 s and starts over after forget', () => {
    const b = new ExponentialBackoff();
    expect([b.when('k'), b.when('k'), b.when('k'), b.when('k')]).toEqual([5, 10, 20, 40]);
    expect(b.when('other')).toBe(5);
    for (let i = 0; i < 100; i++) b.when('k');
    expect(b.when('k')).toBe(1_000_000);
    b.forget('k');
    expect(b.when('k')).toBe(5);
  });
});

describe('Controller', () => {
  it('never runs one key on two workers at once, and runs it again after a change', async () => {
    const gate = deferred();
    const active = new Map<string, number>();
    let maxActiveA = 0;
    const calls: string[] = [];
    const c = start(
      new Controller({
        workers: 4,
        clock: new VirtualClock(),
        reconciler: reconciler('one-at-a-time', async (key) => {
          calls.push(key);
          active.set(key, (active.get(key) ?? 0) + 1);
          maxActiveA = Math.max(maxActiveA, active.get('a') ?? 0);
          if (key === 'a' && calls.filter((k) => k === 'a').length === 1) await gate.promise;
          active.set(key, active.get(key)! - 1);
        }),
      }),
    );
    c.enqueue('a');
    await vi.waitFor(() => expect(calls).toEqual(['a']));
    for (let i = 0; i < 5; i++) c.enqueue('a'); // all while the first run is in flight
    c.enqueue('b'); // another key proceeds on another worker meanwhile
    await vi.waitFor(() => expect(calls).toEqual(['a', 'b']));
    gate.resolve();
    await c.waitIdle();
    expect(calls).toEqual(['a', 'b', 'a']); // five adds collapsed into one more run
    expect(maxActiveA).toBe(1);
  });

  it('retries a failing key with growing backoff and resets it after a success', async () => {
    const clock = new VirtualClock(1_000);
    const at: number[] = [];
    let failUntil = 6;
    const registry = new Registry();
    const c = start(
      new Controller({
        clock,
        registry,
        reconciler: reconciler('flaky', async () => {
          at.push(clock.now());
          if (at.length <= failUntil) throw new Error('not yet');
        }),
      }),
    );
    c.enqueue('k');
    for (let n = 1; n <= 7; n++) {
      await vi.waitFor(() => expect(at.length).toBe(n));
      await c.waitIdle();
      if (n < 7) clock.advance(clock.nextAt()! - clock.now());
    }
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toEqual([5, 10, 20, 40, 80, 160]);
    expect(clock.pending()).toBe(0); // succeeded: nothing scheduled

    // A new failure after the success starts from the base delay again.
    failUntil = 8;
    c.enqueue('k');
    await vi.waitFor(() => expect(at.length).toBe(8));
    await c.waitIdle();
    expect(clock.nextAt()! - clock.now()).toBe(5);

    const metrics = await registry.getSingleMetricAsString('capstan_controller_reconcile_errors_total');
    expect(metrics).toContain('capstan_controller_reconcile_errors_total{controller="flaky"} 7');
  });

  it('runs a key again after requeueAfterMs', async () => {
    const clock = new VirtualClock();
    let runs = 0;
    const c = start(
      new Controller({
        clock,
        reconciler: reconciler('periodic', async () => {
          runs++;
          return runs === 1 ? { requeueAfterMs: 1000 } : undefined;
        }),
      }),
    );
    c.enqueue('k');
    await vi.waitFor(() => expect(runs).toBe(1));
    await c.waitIdle();
    clock.advance(999);
    await c.waitIdle();
    expect(runs).toBe(1);
    clock.advance(1);
    await vi.waitFor(() => expect(runs).toBe(2));
    await c.waitIdle();
    expect(clock.pending()).toBe(0);
  });

  it('gives the reconciler only keys from a store watch, resyncs on start and periodically', async () => {
    const kv = await openEmbeddedStore();
    stores.push(kv);
    const prefix = '/capstan/test-objects/';
    await kv.put(`${prefix}default/a`, '1');
    await kv.put(`${prefix}default/b`, '1');
    const clock = new VirtualClock();
    const seen: string[] = [];
    const c = start(
      new Controller({
        clock,
        workers: 2,
        sources: [watchSource({ kv, prefix, resyncMs: 60_000, clock })],
        reconciler: reconciler('watcher', async (key) => {
          seen.push(key);
        }),
      }),
    );
    // Full resync on start.
    await vi.waitFor(() => expect([...seen].sort()).toEqual(['default/a', 'default/b']));

    seen.length = 0;
    await kv.put(`${prefix}default/c`, '1');
    await kv.delete(`${prefix}default/a`);
    await vi.waitFor(() => expect([...seen].sort()).toEqual(['default/a', 'default/c']));

    seen.length = 0;
    clock.advance(60_000); // periodic resync lists what exists now
    await vi.waitFor(() => expect([...seen].sort()).toEqual(['default/b', 'default/c']));
    expect(c.state).toBe('RUNNING');
  });

  it('stops cleanly and starts again with a fresh queue', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    const c = start(
      new Controller({
        clock,
        reconciler: reconciler('restartable', async (key) => {
          seen.push(key);
          return { requeueAfterMs: 10 };
        }),
      }),
    );
    c.enqueue('x');
    await vi.waitFor(() => expect(seen).toEqual(['x']));
    await c.stop();
    expect(c.state).toBe('STOPPED');
    expect(clock.pending()).toBe(0); // the requeue timer went with the queue
    c.enqueue('ignored');
    c.start();
    c.enqueue('y');
    await vi.waitFor(() => expect(seen).toEqual(['x', 'y']));
  });
});

describe('watchSource', () => {
  it('maps stored objects to controller keys, old and new, on puts and deletes', async () => {
    const kv = await openEmbeddedStore();
    stores.push(kv);
    const prefix = '/capstan/test-pods/';
    const owned = (owner: string): string => JSON.stringify({ owner });
    await kv.put(`${prefix}p1`, owned('web'));
    const clock = new VirtualClock();
    const seen: string[] = [];
    start(
      new Controller({
        clock,
        sources: [
          watchSource({
            kv,
            prefix,
            clock,
            resyncMs: 0,
            keysOf: (item) => (item.value.length ? `deployment/${JSON.parse(Buffer.from(item.value).toString()).owner}` : undefined),
          }),
        ],
        reconciler: reconciler('owners', async (key) => void seen.push(key)),
      }),
    );
    await vi.waitFor(() => expect(seen).toEqual(['deployment/web']));
    seen.length = 0;
    await kv.put(`${prefix}p1`, owned('api')); // moved to another owner: both must look again
    await vi.waitFor(() => expect([...seen].sort()).toEqual(['deployment/api', 'deployment/web']));
    seen.length = 0;
    await kv.delete(`${prefix}p1`);
    await vi.waitFor(() => expect(seen).toEqual(['deployment/api']));
  });
});
