// Which revision `capstan rollback NAME` goes back to. After one rollback the revision gone back
// to is renumbered (its template is the newest revision now), so its old number is no longer
// kept: a second rollback must pick the newest Healthy revision that is still kept.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type HistoryEntry, type Revision } from '../../src/api/cluster.js';
import { findRollbackTarget } from '../../src/rollback/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

let kv: KV;
beforeEach(async () => {
  kv = await openEmbeddedStore({});
  await kv.put(`${STORE_PREFIX.desired}Deployment/default/web`, JSON.stringify({ object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, spec: {} }, commit: 'c' }));
});
afterEach(async () => kv.close());

async function revision(n: number, hash: string): Promise<void> {
  const rev: Revision = {
    metadata: { name: `web-${hash}`, namespace: 'default', owner: { kind: 'Deployment', name: 'web' }, hash, revision: n, createdAt: '2026-01-01T00:00:00Z', commit: 'c' },
    template: { metadata: { labels: {} }, spec: { containers: [] } } as unknown as Revision['template'],
    replicas: 0,
  };
  await kv.put(`${STORE_PREFIX.revisions}default/web/${hash}`, JSON.stringify(rev));
}

async function history(n: number, outcome: HistoryEntry['outcome'], trigger: HistoryEntry['trigger'] = 'push'): Promise<void> {
  const e: HistoryEntry = { namespace: 'default', name: 'web', kind: 'Deployment', revision: n, images: [], createdAt: '2026-01-01T00:00:00Z', outcome, trigger };
  await kv.put(`${STORE_PREFIX.history}default/web/${String(n).padStart(8, '0')}`, JSON.stringify(e));
}

describe('rollback target', () => {
  it('goes back to the newest earlier Healthy revision', async () => {
    await revision(1, 'aaa');
    await revision(2, 'bbb');
    await revision(3, 'ccc');
    await history(1, 'Healthy');
    await history(2, 'Healthy');
    await history(3, 'Degraded');
    expect((await findRollbackTarget(kv, { namespace: 'default', name: 'web' }, undefined)).revision.metadata.revision).toBe(2);
  });

  it('skips a revision that was renumbered by the last rollback, and one with the running template', async () => {
    // 1 and 2 were Healthy, 3 Degraded; rolling back took 2's template (bbb), which became 4.
    await revision(1, 'aaa');
    await revision(4, 'bbb');
    await revision(3, 'ccc');
    await history(1, 'Healthy');
    await history(2, 'Healthy');
    await history(3, 'RolledBack');
    await history(4, 'Healthy', 'rollback');
    const target = await findRollbackTarget(kv, { namespace: 'default', name: 'web' }, undefined);
    expect(target.current).toBe(4);
    expect(target.revision.metadata).toMatchObject({ revision: 1, hash: 'aaa' });
  });

  it('says which Healthy revisions are gone when none is kept', async () => {
    await revision(3, 'ccc');
    await history(1, 'Healthy');
    await history(3, 'Healthy');
    await expect(findRollbackTarget(kv, { namespace: 'default', name: 'web' }, undefined)).rejects.toThrow('has no earlier Healthy revision that is still kept (Healthy: 1; kept: 3)');
  });
});
