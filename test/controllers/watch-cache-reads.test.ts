// Reads served from the shared watch cache match the store's own answers for every range
// option: prefix or single key, limit, keysOnly, counts and `more`.
import { afterEach, describe, expect, it } from 'vitest';
import { WatchCache, cachedKV } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV, type RangeOptions } from '../../src/store/index.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function until(predicate: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('WatchCache reads', () => {
  it('answers every range option as the store does', async () => {
    const store: KV = await openEmbeddedStore();
    open.push(store);
    const cache = new WatchCache({ kv: store, prefixes: ['/capstan/pods/'], retryMs: 20 });
    open.push({ close: () => cache.stop() });
    const kv = cachedKV(store, cache, { catchUpMs: 2000 });
    for (const n of ['a-1', 'a-2', 'ab-1', 'b-1', 'b-2', 'b-3']) await store.put(`/capstan/pods/default/${n}`, n);
    cache.start();
    const last = await store.put('/capstan/pods/other/c-1', 'c');
    await until(() => cache.revision >= last.revision, 'the cache to list');
    const cases: [string, RangeOptions][] = [
      ['/capstan/pods/', { prefix: true }],
      ['/capstan/pods/default/a', { prefix: true }],
      ['/capstan/pods/default/a-', { prefix: true, limit: 1 }],
      ['/capstan/pods/default/b', { prefix: true, limit: 2, keysOnly: true }],
      ['/capstan/pods/default/b', { prefix: true, limit: 5 }],
      ['/capstan/pods/default/b-2', { prefix: false }],
      ['/capstan/pods/default/b-2', { prefix: false, keysOnly: true }],
      ['/capstan/pods/default/none', { prefix: false }],
      ['/capstan/pods/zzz/', { prefix: true, keysOnly: true, limit: 1 }],
    ];
    for (const [key, opts] of cases) {
      const want = await store.range(key, opts);
      const got = await kv.range(key, opts);
      const shape = (r: typeof want) => ({ count: r.count, more: r.more, kvs: r.kvs.map((x) => [x.key, Buffer.from(x.value).toString('utf8'), x.modRevision]) });
      expect(shape(got), `${key} ${JSON.stringify(opts)}`).toEqual(shape(want));
    }
  });
});
