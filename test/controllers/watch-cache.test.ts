// The shared watch cache against the real embedded store: reads of cached prefixes come from
// memory at one revision, watches replay what a watcher missed since its list, a KV's own
// writes are visible to its next read, and uncached prefixes go to the store.
import { afterEach, describe, expect, it } from 'vitest';
import { Controller, WatchCache, cachedKV, watchSource, type Reconciler } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV, type WatchBatch } from '../../src/store/index.js';

const text = (v: Uint8Array): string => Buffer.from(v).toString('utf8');

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function setup(prefixes = ['/capstan/pods/', '/capstan/nodes/']): Promise<{ store: KV; cache: WatchCache; kv: KV }> {
  const store = await openEmbeddedStore();
  open.push(store);
  const cache = new WatchCache({ kv: store, prefixes, retryMs: 20 });
  open.push({ close: () => cache.stop() });
  return { store, cache, kv: cachedKV(store, cache, { catchUpMs: 2000 }) };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('WatchCache', () => {
  it('lists the cached prefixes, follows the store, and serves ranges in key order', async () => {
    const { store, cache, kv } = await setup();
    await store.put('/capstan/pods/default/b', 'b1');
    await store.put('/capstan/pods/default/a', 'a1');
    await store.put('/capstan/events/default/x', 'not cached');
    cache.start();
    const first = await kv.range('/capstan/pods/', { prefix: true });
    expect(first.kvs.map((k) => k.key)).toEqual(['/capstan/pods/default/a', '/capstan/pods/default/b']);

    const put = await store.put('/capstan/pods/default/c', 'c1');
    await store.delete('/capstan/pods/default/a');
    const del = await store.put('/capstan/nodes/n1', 'n');
    await until(() => cache.revision >= del.revision, 'the cache to follow the store');
    const now = await kv.range('/capstan/pods/default/', { prefix: true });
    expect(now.kvs.map((k) => [k.key, text(k.value)])).toEqual([
      ['/capstan/pods/default/b', 'b1'],
      ['/capstan/pods/default/c', 'c1'],
    ]);
    expect(now.revision).toBe(cache.revision);
    expect((await kv.get('/capstan/pods/default/c'))?.modRevision).toBe(put.revision);
    expect(await kv.get('/capstan/pods/default/a')).toBeUndefined();
    // keysOnly and limit behave as the store's.
    const limited = await kv.range('/capstan/pods/', { prefix: true, limit: 1, keysOnly: true });
    expect(limited).toMatchObject({ count: 2, more: true });
    expect(limited.kvs[0]!.value.length).toBe(0);
    // An uncached prefix is read from the store.
    expect((await kv.range('/capstan/events/', { prefix: true })).kvs.map((k) => text(k.value))).toEqual(['not cached']);
  });

  it("sees a KV's own write on the next read (read-your-writes)", async () => {
    const { cache, kv } = await setup();
    cache.start();
    for (let i = 0; i < 50; i++) {
      const r = await kv.txn({ compare: [], success: [{ type: 'put', key: `/capstan/pods/default/p${i}`, value: String(i) }], failure: [] });
      const got = await kv.range('/capstan/pods/', { prefix: true });
      expect(got.kvs.length).toBe(i + 1);
      expect(got.revision).toBeGreaterThanOrEqual(r.revision);
    }
  });

  it('replays to a watcher from its list revision and ends watchers that fall out of its history', async () => {
    const { store, cache, kv } = await setup();
    const small = new WatchCache({ kv: store, prefixes: ['/capstan/pods/'], historyBatches: 2, retryMs: 20 });
    open.push({ close: () => small.stop() });
    cache.start();
    small.start();
    const listed = await kv.range('/capstan/pods/', { prefix: true });
    await store.put('/capstan/pods/default/a', '1');
    const last = await store.put('/capstan/pods/default/b', '2');
    await until(() => cache.revision >= last.revision, 'the cache to follow the store');
    // Both writes happened before the watch began: it gets them from the cache's history.
    const watch = kv.watch('/capstan/pods/', { prefix: true, fromRevision: listed.revision + 1 });
    const seen: WatchBatch[] = [];
    for await (const b of watch) {
      seen.push(b);
      if (b.revision === last.revision) break;
    }
    expect(seen.flatMap((b) => b.events.map((e) => [e.type, e.kv.key]))).toEqual([
      ['put', '/capstan/pods/default/a'],
      ['put', '/capstan/pods/default/b'],
    ]);

    await until(() => small.revision >= last.revision, 'the small cache to follow');
    for (let i = 0; i < 3; i++) await store.put(`/capstan/pods/default/x${i}`, String(i));
    const rev = await store.revision();
    await until(() => small.revision >= rev, 'the small cache to follow more writes');
    const old = small.watch('/capstan/pods/', { prefix: true, fromRevision: listed.revision + 1 });
    await expect(old[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_COMPACTED' });
  });

  it('feeds a controller through watchSource over the cached KV, with a delete naming the previous value', async () => {
    const { store, cache, kv } = await setup();
    cache.start();
    const seen: string[] = [];
    const r: Reconciler = { name: 't', reconcile: async (key) => void seen.push(key) };
    const c = new Controller({
      reconciler: r,
      sources: [watchSource({ kv, prefix: '/capstan/pods/', keysOf: (item) => (item.value.length > 0 ? text(item.value) : `gone:${item.key}`), retryMs: 20 })],
    });
    open.push({ close: () => c.stop() });
    c.start();
    await store.put('/capstan/pods/default/a', 'owner-1');
    await until(() => seen.includes('owner-1'), 'the put to reach the controller');
    await store.delete('/capstan/pods/default/a');
    // The store's delete event carries no value; the cache adds the previous one.
    await until(() => seen.filter((k) => k === 'owner-1').length >= 2, 'the delete to reach the controller as its previous owner');
    expect(seen.some((k) => k.startsWith('gone:'))).toBe(false);
  });
});
