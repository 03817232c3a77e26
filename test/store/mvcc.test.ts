import { describe, expect, it } from 'vitest';
import {
  MvccState,
  SortedKeys,
  decodeCommand,
  decodeSnapshot,
  encodeCommand,
  encodeSnapshot,
  toBytes,
  type Command,
} from '../../src/store/mvcc/index.js';

const put = (key: string, value: string, lease = 0): Command => ({ type: 'put', key, value: toBytes(value), lease });

function script(): Command[] {
  return [
    { type: 'leaseGrant', ttlSeconds: 10, now: 0 },
    put('/a', '1'),
    put('/b', '1', 1),
    put('/a', '2'),
    { type: 'delete', key: '/b', prefix: false },
    {
      type: 'txn',
      compare: [{ key: '/a', target: 'version', op: '==', value: 2 }],
      success: [put('/c', 'c') as never, { type: 'delete', key: '/a', prefix: false }],
      failure: [],
    },
    put('/d', 'd', 1),
    { type: 'leaseExpire', now: 20_000 },
    put('/a', 'again'),
  ];
}

function run(cmds: Command[]): MvccState {
  const s = new MvccState();
  for (const c of cmds) s.apply(decodeCommand(encodeCommand(c)));
  return s;
}

describe('MVCC state machine', () => {
  it('is deterministic: the same log gives byte-identical snapshots', () => {
    expect(encodeSnapshot(run(script()))).toEqual(encodeSnapshot(run(script())));
  });

  it('restores from a snapshot with current and past reads and watch history intact', () => {
    const s = run(script());
    const r = decodeSnapshot(encodeSnapshot(s));
    expect(r.revision).toBe(s.revision);
    for (let rev = 1; rev <= s.revision; rev++) expect(r.range('/', { revision: rev })).toEqual(s.range('/', { revision: rev }));
    expect(r.batchesFrom(1)).toEqual(s.batchesFrom(1));
    expect(r.liveKeys).toBe(s.liveKeys);
    expect(r.liveBytes).toBe(s.liveBytes);
    expect(encodeSnapshot(r)).toEqual(encodeSnapshot(s));
  });

  it('expires leases by the time carried in commands, one revision per lease', () => {
    const s = run(script());
    expect(s.current('/d')).toBeUndefined();
    const expiry = s.history.find((b) => b.events.some((e) => e.kv.key === '/d' && e.type === 'delete'));
    expect(expiry?.events).toHaveLength(1);
    expect(s.leases.size).toBe(0);
  });

  it('compacts history but keeps the latest value of each key at the compaction point', () => {
    const s = new MvccState();
    for (let i = 0; i < 10; i++) s.apply(put('/k', String(i)));
    s.apply(put('/gone', 'x'));
    s.apply({ type: 'delete', key: '/gone', prefix: false });
    const at = s.revision;
    s.apply(put('/k', 'after'));
    expect(s.apply({ type: 'compact', revision: at }).ok).toBe(true);
    expect(s.histories.get('/k')).toHaveLength(2);
    expect(s.histories.has('/gone')).toBe(true); // its deletion is at the compaction point
    expect(Buffer.from(s.range('/k', { revision: at }).kvs[0]!.value).toString()).toBe('9');
    const again = s.apply({ type: 'compact', revision: at });
    expect(again.ok).toBe(false);
    s.apply(put('/x', 'y'));
    s.apply({ type: 'compact', revision: s.revision });
    expect(s.histories.has('/gone')).toBe(false);
    expect(() => s.range('/', { revision: at })).toThrow(/compacted/);
  });

  it('leaves the state unchanged when a txn refers to a missing lease', () => {
    const s = new MvccState();
    s.apply(put('/a', '1'));
    const before = encodeSnapshot(s);
    const out = s.apply({ type: 'txn', compare: [], success: [{ type: 'put', key: '/b', value: toBytes('x'), lease: 0 }, { type: 'put', key: '/c', value: toBytes('x'), lease: 42 }], failure: [] });
    expect(out.ok).toBe(false);
    expect(encodeSnapshot(s)).toEqual(before);
  });
});

describe('MVCC values', () => {
  it('keeps each value in its own exact-size buffer, not a view into the log entry', () => {
    const data = encodeCommand({
      type: 'txn',
      compare: [],
      success: Array.from({ length: 50 }, (_, i) => put(`/pods/p${i}`, `value-${i}`) as never),
      failure: [],
    });
    const s = new MvccState();
    s.apply(decodeCommand(data));
    for (let i = 0; i < 50; i++) {
      const v = s.current(`/pods/p${i}`)!.value;
      expect(Buffer.from(v).toString()).toBe(`value-${i}`);
      expect(v.buffer).not.toBe(data.buffer);
      expect(v.buffer.byteLength).toBe(v.length);
    }
    // Changing the entry's bytes afterwards does not reach the state.
    data.fill(0);
    expect(Buffer.from(s.current('/pods/p7')!.value).toString()).toBe('value-7');
  });

  it('encodes a transaction into a buffer of about its own size (log entries are kept until the next snapshot)', () => {
    for (const n of [1, 7, 30, 120]) {
      const data = encodeCommand({
        type: 'txn',
        compare: [{ key: '/pods/p0', target: 'modRevision', op: '==', value: 3 }],
        success: Array.from({ length: n }, (_, i) => put(`/pods/p${i}`, 'x'.repeat(100 + i)) as never),
        failure: [],
      });
      expect(data.buffer.byteLength).toBeLessThanOrEqual(Math.max(8192, Math.ceil(data.length * 1.25)));
      expect(decodeCommand(data)).toMatchObject({ type: 'txn', success: { length: n } });
    }
  });

  it('restores values from a snapshot without keeping the snapshot buffer', () => {
    const snap = encodeSnapshot(run(script()));
    const restored = decodeSnapshot(snap);
    const v = restored.current('/a')!.value;
    expect(v.buffer).not.toBe(snap.buffer);
    expect(v.buffer.byteLength).toBe(v.length);
    snap.fill(0);
    expect(Buffer.from(restored.current('/a')!.value).toString()).toBe('again');
  });
});

describe('sorted key index', () => {
  it('keeps keys ordered through inserts and removals across many chunks', () => {
    const idx = new SortedKeys();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${(i * 7919) % 5000}`);
    for (const k of keys) expect(idx.insert(k)).toBe(true);
    expect(idx.insert('k1')).toBe(false);
    for (let i = 0; i < 5000; i += 3) expect(idx.remove(`k${i}`)).toBe(true);
    const expected = keys.filter((k) => Number(k.slice(1)) % 3 !== 0).sort();
    expect([...idx.all()]).toEqual(expected);
    expect(idx.size).toBe(expected.length);
    expect([...idx.from('k49')].slice(0, 3)).toEqual(expected.filter((k) => k >= 'k49').slice(0, 3));
  });
});
