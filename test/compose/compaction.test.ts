import { describe, expect, it } from 'vitest';
import { VirtualClock, isCapstanError, silentLogger } from '../../src/common/index.js';
import { retentionTarget, startCompactor } from '../../src/compose/compaction.js';
import { openEmbeddedStore } from '../../src/store/index.js';

describe('startCompactor', () => {
  it('compacts to the revision that was current one interval earlier', async () => {
    const kv = await openEmbeddedStore({});
    const clock = new VirtualClock();
    const compactor = startCompactor({ kv, logger: silentLogger(), clock, intervalMs: 1000 });
    try {
      await kv.put('a', '1');
      clock.advance(1000); // records the current revision, compacts nothing yet
      await new Promise((r) => setTimeout(r, 20));
      const remembered = await kv.revision();
      await kv.put('a', '2');
      await kv.put('a', '3');
      clock.advance(1000); // compacts to `remembered`
      await new Promise((r) => setTimeout(r, 20));
      // Reads below the compacted revision fail; reads at or above it still work.
      await expect(kv.get('a', { revision: remembered - 1 })).rejects.toSatisfy((e: unknown) => isCapstanError(e, 'CAPSTAN_ERR_STORE_COMPACTED'));
      expect(new TextDecoder().decode((await kv.get('a', { revision: remembered }))!.value)).toBe('1');
      expect(new TextDecoder().decode((await kv.get('a'))!.value)).toBe('3');
    } finally {
      compactor.stop();
      await kv.close();
    }
  });

  it('keeps the newest revisions when more than the retained count pile up between intervals', async () => {
    const kv = await openEmbeddedStore({});
    const clock = new VirtualClock();
    const compactor = startCompactor({ kv, logger: silentLogger(), clock, intervalMs: 3_600_000, retainRevisions: 20, checkMs: 1000 });
    const settle = () => new Promise((r) => setTimeout(r, 20));
    try {
      for (let i = 0; i < 15; i++) await kv.put('a', String(i));
      clock.advance(1000); // 16 revisions: within the 20 kept, nothing compacted
      await settle();
      await kv.get('a', { revision: 2 });
      for (let i = 15; i < 40; i++) await kv.put('a', String(i));
      clock.advance(1000); // 41 revisions: compacts to 41 - 20 = 21
      await settle();
      const current = await kv.revision();
      expect(current).toBe(41);
      await expect(kv.get('a', { revision: current - 21 })).rejects.toSatisfy((e: unknown) => isCapstanError(e, 'CAPSTAN_ERR_STORE_COMPACTED'));
      expect(new TextDecoder().decode((await kv.get('a', { revision: current - 20 }))!.value)).toBe('19');
      // A watch from before the compaction point is told so (and lists again).
      const w = kv.watch('a', { fromRevision: 5 });
      await expect(w[Symbol.asyncIterator]().next()).rejects.toSatisfy((e: unknown) => isCapstanError(e, 'CAPSTAN_ERR_STORE_COMPACTED'));
      // A couple more writes are not worth another compaction (a tenth of the kept count).
      await kv.put('a', 'x');
      clock.advance(1000);
      await settle();
      expect(new TextDecoder().decode((await kv.get('a', { revision: 21 }))!.value)).toBe('19');
    } finally {
      compactor.stop();
      await kv.close();
    }
  });
});

describe('retentionTarget', () => {
  it('compacts only past the kept count plus a tenth of it, and never when turned off', () => {
    expect(retentionTarget(10_000, 0, 10_000)).toBeUndefined();
    expect(retentionTarget(10_999, 0, 10_000)).toBeUndefined();
    expect(retentionTarget(11_000, 0, 10_000)).toBe(1000);
    expect(retentionTarget(11_999, 1000, 10_000)).toBeUndefined();
    expect(retentionTarget(12_000, 1000, 10_000)).toBe(2000);
    expect(retentionTarget(50_000, 0, 0)).toBeUndefined();
  });
});
