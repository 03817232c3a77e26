// The etcd backend on a 3-member cluster: with one follower down, reads, writes and watches
// keep working, because a write that found no connection to its member goes to another one.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEtcdStore } from '../../src/store/etcd/index.js';
import type { KV } from '../../src/store/types.js';
import { etcdSkipReason, etcdSuiteName, freshPrefix, startEtcd, type EtcdCluster } from '../helpers/etcd.js';

/** The member that is not the leader, asked through etcd's JSON gateway. */
async function follower(cluster: EtcdCluster): Promise<number> {
  for (let i = 0; i < cluster.members.length; i++) {
    const res = await fetch(`${cluster.members[i].clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    const body = (await res.json()) as { header: { member_id: string }; leader: string };
    if (body.header.member_id !== body.leader) return i;
  }
  throw new Error('no follower found');
}

describe.skipIf(etcdSkipReason !== undefined)(etcdSuiteName('etcd backend on a 3-member cluster'), () => {
  let cluster: EtcdCluster;
  let kv: KV;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    kv = await openEtcdStore({ endpoints: cluster.endpoints, prefix: freshPrefix('cluster'), timeoutMs: 5000 });
  });
  afterAll(async () => {
    await kv?.close();
    await cluster?.stop();
  });

  it('keeps serving with one follower down, and the watch misses nothing', async () => {
    expect(cluster.endpoints).toHaveLength(3);
    const start = (await kv.put('k/0', '0')).revision;
    const watch = kv.watch('k/', { prefix: true, fromRevision: start });
    const down = cluster.members[await follower(cluster)];
    await down.stop();
    expect(down.running()).toBe(false);

    const revisions = [start];
    for (let i = 1; i <= 20; i++) revisions.push((await kv.put(`k/${i}`, String(i))).revision);
    expect((await kv.range('k/')).count).toBe(21);

    await down.start();
    const last = (await kv.put('k/21', '21')).revision;
    revisions.push(last);

    const seen: number[] = [];
    for await (const batch of watch) {
      seen.push(batch.revision);
      if (batch.revision >= last) break;
    }
    expect(seen).toEqual(revisions);
    // The restarted member caught up: read through it alone.
    const single = await openEtcdStore({ endpoints: [down.clientUrl], prefix: '' });
    try {
      expect(await single.revision()).toBeGreaterThanOrEqual(last);
    } finally {
      await single.close();
    }
  });
});
