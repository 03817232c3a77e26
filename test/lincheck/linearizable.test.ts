// The checker on hand-written histories with a known answer, and on random ones checked
// against the model they were generated from and against a brute-force search.

import { describe, expect, it } from 'vitest';
import { checkLinearizable, type KvOperation, type LinearizabilityResult } from './index.js';
import { bruteForceLinearizable, randomHistory } from './testing.js';

const put = (client: number, key: string, value: string, call: number, ret?: number): KvOperation =>
  ret === undefined ? { client, op: 'put', input: { key, value }, call } : { client, op: 'put', input: { key, value }, output: {}, call, ret };
const get = (client: number, key: string, value: string | undefined, call: number, ret: number): KvOperation => ({
  client,
  op: 'get',
  input: { key },
  output: { value },
  call,
  ret,
});
const cas = (client: number, key: string, expected: string | undefined, value: string, ok: boolean | undefined, call: number, ret?: number): KvOperation =>
  ok === undefined || ret === undefined
    ? { client, op: 'cas', input: { key, expected, value }, call }
    : { client, op: 'cas', input: { key, expected, value }, output: { ok }, call, ret };
const del = (client: number, key: string, deleted: boolean | undefined, call: number, ret?: number): KvOperation =>
  ret === undefined ? { client, op: 'delete', input: { key }, call } : { client, op: 'delete', input: { key }, output: { deleted }, call, ret };

function violation(result: LinearizabilityResult) {
  if (result.outcome !== 'violation') throw new Error(`expected a violation, got ${JSON.stringify(result)}`);
  return result.counterexample;
}

describe('checkLinearizable: linearizable histories', () => {
  it('accepts the empty history and a sequential one', () => {
    expect(checkLinearizable([]).outcome).toBe('ok');
    const h = [put(1, 'a', '1', 0, 1), get(1, 'a', '1', 2, 3), del(1, 'a', true, 4, 5), get(1, 'a', undefined, 6, 7)];
    expect(checkLinearizable(h)).toMatchObject({ outcome: 'ok', keys: 1, operations: 4 });
  });

  it('accepts overlapping operations whose order is only fixed by what the reads saw', () => {
    const h = [
      put(1, 'a', '1', 0, 10),
      put(2, 'a', '2', 2, 8),
      get(3, 'a', '2', 3, 5), // put 2 went first...
      get(3, 'a', '1', 9, 12), // ...and put 1 after it
      get(4, 'a', undefined, 0, 1), // before either
    ];
    expect(checkLinearizable(h).outcome).toBe('ok');
  });

  it('accepts an unanswered write that took effect, and one that never did', () => {
    const happened = [put(1, 'a', '1', 0), get(2, 'a', undefined, 1, 2), get(2, 'a', '1', 50, 51), get(3, 'a', '1', 90, 91)];
    expect(checkLinearizable(happened).outcome).toBe('ok');
    const never = [put(1, 'a', '1', 0), get(2, 'a', undefined, 5, 6), get(2, 'a', undefined, 100, 101)];
    expect(checkLinearizable(never).outcome).toBe('ok');
  });

  it('accepts an unanswered write taking effect long after it was sent', () => {
    const h = [put(0, 'a', '0', 0, 1), put(1, 'a', '1', 2), put(2, 'a', '2', 3, 4), get(3, 'a', '2', 10, 11), get(3, 'a', '1', 20, 21)];
    expect(checkLinearizable(h).outcome).toBe('ok');
  });

  it('accepts concurrent compare-and-puts where exactly one wins', () => {
    const h = [
      put(0, 'a', '0', 0, 1),
      cas(1, 'a', '0', '1', true, 2, 6),
      cas(2, 'a', '0', '2', false, 3, 5),
      get(3, 'a', '1', 7, 8),
      cas(1, 'a', undefined, 'x', false, 9, 10),
      cas(2, 'b', undefined, 'created', true, 0, 1),
    ];
    expect(checkLinearizable(h)).toMatchObject({ outcome: 'ok', keys: 2 });
  });

  it('accepts an unanswered compare-and-put either way', () => {
    const took = [put(0, 'a', '0', 0, 1), cas(1, 'a', '0', '1', undefined, 2), get(2, 'a', '1', 10, 11)];
    const didNot = [put(0, 'a', '0', 0, 1), cas(1, 'a', '0', '1', undefined, 2), get(2, 'a', '0', 10, 11)];
    expect(checkLinearizable(took).outcome).toBe('ok');
    expect(checkLinearizable(didNot).outcome).toBe('ok');
  });

  it('drops reads without an answer and treats touching intervals as concurrent', () => {
    const h: KvOperation[] = [
      { client: 9, op: 'get', input: { key: 'a' }, call: 0 },
      { client: 9, op: 'get', input: { key: 'a' }, call: 0, ret: 100 }, // answered, but output lost
      put(1, 'a', '1', 0, 5),
      get(2, 'a', undefined, 5, 6),
    ];
    expect(checkLinearizable(h).outcome).toBe('ok');
  });

  it('checks a delete that says whether the key existed', () => {
    expect(checkLinearizable([del(1, 'a', false, 0, 1), put(1, 'a', '1', 2, 3), del(1, 'a', true, 4, 5)]).outcome).toBe('ok');
    expect(checkLinearizable([put(1, 'a', '1', 0, 1), del(1, 'a', false, 2, 3)]).outcome).toBe('violation');
  });
});

describe('checkLinearizable: histories that are not linearizable', () => {
  it('finds a stale read after an acknowledged write', () => {
    const h = [put(1, 'a', '1', 0, 1), get(2, 'a', undefined, 2, 3)];
    const c = violation(checkLinearizable(h));
    expect(c.key).toBe('a');
    expect(c.last.index).toBe(1);
    expect(c.involved.map((i) => i.index)).toEqual([0, 1]);
    expect(c.text).toContain('not linearizable: key "a"');
    expect(c.text).toContain('get("a") → ∅');
  });

  it('finds a lost acknowledged write', () => {
    const h = [put(1, 'a', '0', 0, 1), put(1, 'a', '1', 2, 3), get(2, 'a', '0', 4, 5), get(3, 'b', undefined, 0, 9)];
    const c = violation(checkLinearizable(h));
    expect(c.key).toBe('a');
    expect(c.involved.map((i) => i.index)).toEqual([0, 1, 2]);
  });

  it('finds two readers that saw two writes in opposite orders', () => {
    const h = [
      put(1, 'a', '1', 0, 100),
      put(2, 'a', '2', 0, 100),
      get(3, 'a', '1', 10, 11),
      get(3, 'a', '2', 12, 13),
      get(4, 'a', '2', 10, 11),
      get(4, 'a', '1', 12, 13),
    ];
    const c = violation(checkLinearizable(h));
    expect(c.involved.map((i) => i.index).sort()).toEqual([2, 3, 4, 5]);
    expect(c.last.index === 3 || c.last.index === 5).toBe(true);
  });

  it('finds a compare-and-put that succeeded twice from the same expected value', () => {
    const h = [put(0, 'a', '0', 0, 1), cas(1, 'a', '0', '1', true, 2, 6), cas(2, 'a', '0', '2', true, 3, 5)];
    const c = violation(checkLinearizable(h));
    // The put's answer is not needed (it was sent before either cas), but it wrote the value.
    expect(c.involved.map((i) => i.index).sort()).toEqual([1, 2]);
    expect(c.writers.map((i) => i.index)).toEqual([0]);
    expect(c.text).toContain('writes of the values they read or expected:');
  });

  it('finds a read of a value nobody wrote, even next to unanswered writes', () => {
    const h = [put(1, 'a', '1', 0), put(2, 'a', '2', 0), get(3, 'a', '3', 5, 6)];
    const c = violation(checkLinearizable(h));
    expect(c.involved.map((i) => i.index)).toEqual([2]);
  });

  it('narrows a long history down to the prefix and the answers that break it', () => {
    const h: KvOperation[] = [];
    let t = 0;
    for (let i = 0; i < 150; i++) {
      h.push(put(i % 3, 'a', String(i), t, t + 3));
      h.push(get((i + 1) % 3, 'a', String(i), t + 4, t + 6));
      t += 10;
    }
    h.push(put(7, 'a', 'new', t, t + 1)); // index 300
    h.push(get(8, 'a', '149', t + 2, t + 3)); // index 301: stale
    for (let i = 0; i < 50; i++) h.push(get(9, 'a', 'new', t + 10 + i, t + 10 + i));
    const c = violation(checkLinearizable(h));
    expect(c.last.index).toBe(301);
    expect(c.prefix.map((p) => p.index)).toContain(300);
    expect(c.prefix.map((p) => p.index)).not.toContain(302);
    // The stale read, the write it saw and the write that had overwritten it.
    expect(c.involved.map((i) => i.index)).toEqual([298, 300, 301]);
    expect(c.untested).toBe(0);
    expect(c.longestPartial.length).toBeGreaterThanOrEqual(300);
  });

  it('examines at most 200 writes one by one, and says so', () => {
    const h: KvOperation[] = [];
    for (let i = 0; i < 260; i++) h.push(put(1, 'a', String(i), i * 10, i * 10 + 5));
    h.push(get(2, 'a', '0', 3000, 3001));
    const c = violation(checkLinearizable(h));
    expect(c.untested).toBe(60);
    expect(c.writers.map((i) => i.index)).toEqual([0]);
    expect(c.text).toContain('60 earlier writes not examined');
  });

  it('answers unknown when the step budget runs out', () => {
    // Wide overlaps with few values and unanswered writes: a hard search for any checker.
    const { history } = randomHistory(42, { operations: 3_000, keys: 1, values: 3, window: 40, unknownRate: 0.1 });
    const result = checkLinearizable(history, { maxSteps: 100_000 });
    expect(result).toMatchObject({ outcome: 'unknown', key: 'k0', steps: 100_000 });
    expect(result.outcome === 'unknown' && result.reason).toContain('step budget of 100000');
  });

  it('still finds a violation in one key when another is too hard to decide', () => {
    const { history } = randomHistory(42, { operations: 3_000, keys: 1, values: 3, window: 40, unknownRate: 0.1 });
    // A larger key, so it is searched after the hard one, and a stale read at its end.
    const other: KvOperation[] = [];
    for (let i = 0; i < 1_600; i++) other.push(put(1, 'other', String(i), i * 10, i * 10 + 1), get(2, 'other', String(i), i * 10 + 2, i * 10 + 3));
    other.push(get(2, 'other', '0', 20_000, 20_001));
    const c = violation(checkLinearizable([...history, ...other], { maxSteps: 100_000, skipShrink: true }));
    expect(c.key).toBe('other');
  });

    it('rejects a malformed history', () => {
    expect(() => checkLinearizable([put(1, 'a', '1', 5, 4)])).toThrow(/before its call/);
  });
});

describe('checkLinearizable: random histories', () => {
  it('accepts every history generated from a serial run with overlaps added', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const { history } = randomHistory(seed, { operations: 60, keys: 3, values: 4, window: 6, unknownRate: 0.1 });
      const result = checkLinearizable(history);
      if (result.outcome !== 'ok') throw new Error(`seed ${seed}: ${JSON.stringify(result).slice(0, 2000)}`);
    }
  });

  it('agrees with a brute-force search on small histories with one read changed', () => {
    let violations = 0;
    let linearizable = 0;
    for (let seed = 1; seed <= 800; seed++) {
      // Half with two values and many unanswered writes: many interchangeable operations.
      const shape = seed % 2 === 0 ? { values: 3, unknownRate: 0.2 } : { values: 2, unknownRate: 0.35 };
      const { history, mutateRead } = randomHistory(seed, { operations: 9, keys: 1, window: 8, ...shape });
      const mutated = mutateRead(seed * 7919);
      if (mutated === undefined) continue;
      const expected = bruteForceLinearizable(mutated);
      const result = checkLinearizable(mutated);
      if ((result.outcome === 'ok') !== expected || result.outcome === 'unknown') {
        throw new Error(`seed ${seed}: brute force says ${expected}, checker says ${result.outcome}\n${JSON.stringify(mutated)}`);
      }
      if (expected) linearizable++;
      else violations++;
    }
    // Both kinds occurred, so the comparison meant something.
    expect(violations).toBeGreaterThan(100);
    expect(linearizable).toBeGreaterThan(40);
  });

  it('rejects every history where a read returns a value never written to its key', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { history, mutateRead } = randomHistory(seed, { operations: 80, keys: 4, values: 5, window: 5, unknownRate: 0.1 });
      const mutated = mutateRead(seed, 'never-written');
      if (mutated === undefined) continue;
      const c = violation(checkLinearizable(mutated));
      const changed = mutated.findIndex((op, i) => op !== history[i]);
      expect(c.last.index).toBe(changed);
      expect(c.involved.map((i) => i.index)).toEqual([changed]);
    }
  });

  it('checks a long busy history within a modest number of steps', () => {
    const { history } = randomHistory(42, { operations: 20_000, keys: 8, values: 50, window: 20, unknownRate: 0.02 });
    const result = checkLinearizable(history);
    expect(result.outcome).toBe('ok');
    expect(result.steps).toBeLessThan(2_000_000);
  });
});
