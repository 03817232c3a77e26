import { describe, expect, it } from 'vitest';
import { SyncCoalescer } from '../../src/webhooks/index.js';

/** A virtual clock with timers that fire when time is advanced. */
function virtualTime() {
  let t = 0;
  const timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => t,
    setTimer: (fn: () => void, ms: number) => timers.push({ at: t + ms, fn }),
    async advance(ms: number) {
      t += ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > t) break;
        timers.shift();
        next.fn();
        await flush();
      }
    },
    pending: () => timers.length,
  };
}

const flush = () => new Promise((r) => setImmediate(r));

/** A sync that ends when told to. */
function controlledRun() {
  const ends: (() => void)[] = [];
  return {
    run: () => new Promise<void>((resolve) => ends.push(resolve)),
    async finish() {
      ends.shift()?.();
      await flush();
    },
    get open() {
      return ends.length;
    },
  };
}

describe('SyncCoalescer', () => {
  it('runs one sync at a time and folds every trigger during it into one more', async () => {
    const clock = virtualTime();
    const sync = controlledRun();
    const c = new SyncCoalescer({ run: sync.run, minIntervalMs: 1000, now: clock.now, setTimer: clock.setTimer });
    expect(c.trigger()).toBe('started');
    expect(c.trigger()).toBe('queued');
    for (let i = 0; i < 500; i++) expect(c.trigger()).toBe('joined');
    expect(c.started).toBe(1);
    await sync.finish();
    // The interval has not passed yet: the queued sync waits for it.
    expect(c.started).toBe(1);
    await clock.advance(1000);
    expect(c.started).toBe(2);
    expect(sync.open).toBe(1);
    await sync.finish();
    await clock.advance(10_000);
    expect(c.started).toBe(2); // nothing was asked for after the second started
  });

  it('spaces starts by the interval even when each sync is quick', async () => {
    const clock = virtualTime();
    let runs = 0;
    const c = new SyncCoalescer({ run: async () => void runs++, minIntervalMs: 2000, now: clock.now, setTimer: clock.setTimer });
    // A flood over 10 s of virtual time: one trigger every 10 ms.
    for (let ms = 0; ms < 10_000; ms += 10) {
      c.trigger();
      await clock.advance(10);
    }
    await clock.advance(2000);
    // One start at 0, then at most one per 2 s: 0, 2, 4, 6, 8, 10 s.
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(runs).toBeLessThanOrEqual(6);
  });

  it('a failed sync is reported and does not stop the next one', async () => {
    const clock = virtualTime();
    const errors: unknown[] = [];
    let calls = 0;
    const c = new SyncCoalescer({
      run: async () => {
        calls++;
        if (calls === 1) throw new Error('git unreachable');
      },
      minIntervalMs: 0,
      now: clock.now,
      setTimer: clock.setTimer,
      onError: (e) => errors.push(e),
    });
    expect(c.trigger()).toBe('started');
    expect(c.trigger()).toBe('queued');
    await flush();
    await clock.advance(0);
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/git unreachable/);
  });

  it('a trigger after a quiet spell starts at once', async () => {
    const clock = virtualTime();
    const c = new SyncCoalescer({ run: async () => undefined, minIntervalMs: 1000, now: clock.now, setTimer: clock.setTimer });
    expect(c.trigger()).toBe('started');
    await flush();
    await clock.advance(5000);
    expect(c.trigger()).toBe('started');
    expect(clock.pending()).toBe(0);
  });
});
