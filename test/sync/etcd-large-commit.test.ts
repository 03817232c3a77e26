// A commit changing more objects than etcd takes in one transaction (--max-txn-ops, 128 by
// default): the sync applies nothing, keeps what ran before, and says what to change.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { openEtcdStore } from '../../src/store/etcd/index.js';
import type { KV } from '../../src/store/types.js';
import { readDesired, SyncLoop } from '../../src/sync/index.js';
import { etcdSkipReason, etcdSuiteName, freshPrefix, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

const configMap = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  VALUE: "1"\n`;

describe.skipIf(etcdSkipReason !== undefined)(etcdSuiteName('sync on etcd: a commit over the transaction limit'), () => {
  let etcd: EtcdCluster;
  let kv: KV;
  let dir: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    kv = await openEtcdStore({ endpoints: etcd.endpoints, prefix: freshPrefix('sync'), timeoutMs: 10_000 });
    dir = initWorkTree({ 'keep.yaml': configMap('keep') });
    commitFiles(dir, {}, 'one object');
  });
  afterAll(async () => {
    await kv?.close();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('applies nothing, keeps the last good commit and names the etcd flag to raise', async () => {
    const loop = new SyncLoop({ source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger() });
    try {
      const first = await loop.sync('test');
      expect(first.phase, first.message).toBe('Synced');

      const files: Record<string, string> = {};
      for (let i = 0; i < 140; i++) files[`many/cm-${i}.yaml`] = configMap(`cm-${i}`);
      commitFiles(dir, files, '140 ConfigMaps at once');
      const big = await loop.sync('test');
      expect(big.phase).toBe('Failed');
      expect(big.message).toContain('the commit changes 140 objects');
      expect(big.message).toContain('--max-txn-ops');
      expect(big.message).toContain('CAPSTAN_ERR_STORE_TOO_LARGE');
      expect(big.syncedCommit).toBe(first.syncedCommit);
      // Whole or nothing: not one of the 140 landed, and what was there stays.
      const stored = [...(await readDesired(kv)).records.keys()];
      expect(stored).toEqual([expect.stringContaining('ConfigMap/default/keep')]);
    } finally {
      await loop.stop();
    }
  });
});
