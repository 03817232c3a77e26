import { describe, expect, it } from 'vitest';
import { VirtualClock, isCapstanError, silentLogger } from '../../src/common/index.js';
import { startCompactor } from '../../src/compose/compaction.js';
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
});
