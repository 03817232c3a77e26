import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStore } from '../../src/store/index.js';
import { runContractSuite } from './contract.js';

runContractSuite('embedded, in memory', async () => {
  const kv = await openEmbeddedStore();
  return { kv, cleanup: () => kv.close() };
});

runContractSuite('embedded, on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-store-'));
  const kv = await openEmbeddedStore({ dir, snapshotEvery: 50 });
  return {
    kv,
    async cleanup() {
      await kv.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
