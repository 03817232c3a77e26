// Behaviour of the embedded store beyond the shared contract: group commit, lease expiry on
// an injected clock, slow watchers, metrics in an injected registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { openEmbeddedStore, type KV, type WatchEvent } from '../../src/store/index.js';
import { FaultFs, ManualClock } from './fixtures/fault-fs.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('embedded store behaviour', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-emb-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const track = (kv: KV) => {
    cleanups.push(() => kv.close());
    return kv;
  };

  it('writes concurrent proposals as a few batches with one fsync each (group commit)', async () => {
    const fs = new FaultFs();
    const registry = new Registry();
    const kv = track(await openEmbeddedStore({ dir: await tempDir(), fs, metrics: registry, clock: new ManualClock() }));
    const before = fs.syncs;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => kv.put(`/g/${i}`, 'v')));
    expect(new Set(results.map((r) => r.revision)).size).toBe(200);
    const syncs = fs.syncs - before;
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThanOrEqual(10);
    const batches = (await registry.getSingleMetric('capstan_store_wal_batch_entries')!.get()).values as Array<{
      metricName?: string;
      value: number;
    }>;
    const count = batches.find((v) => v.metricName === 'capstan_store_wal_batch_entries_count')!.value;
    const sum = batches.find((v) => v.metricName === 'capstan_store_wal_batch_entries_sum')!.value;
    expect(sum).toBeGreaterThanOrEqual(200);
    expect(count).toBeLessThan(sum / 10);
  });

  it('reports fsync time, batch sizes, apply lag and size in the injected registry only', async () => {
    const registry = new Registry();
    const kv = track(await openEmbeddedStore({ dir: await tempDir(), metrics: registry, clock: new ManualClock() }));
    await kv.put('/m/a', '12345');
    await kv.put('/m/b', '1');
    await kv.delete('/m/b');
    const text = await registry.metrics();
    expect(text).toMatch(/capstan_store_wal_fsync_duration_seconds_count [1-9]/);
    expect(text).toMatch(/capstan_store_keys 1\b/);
    expect(text).toMatch(/capstan_store_bytes 9\b/); // "/m/a" + "12345"
    expect(text).toContain('capstan_store_apply_lag_entries 0');
    const { register } = await import('prom-client');
    expect(await register.getSingleMetric('capstan_store_keys')).toBeUndefined();
  });

  it('expires leases from the injected clock, proposed through the log', async () => {
    const clock = new ManualClock();
    const kv = track(await openEmbeddedStore({ clock }));
    const short = await kv.grant(5);
    const long = await kv.grant(60);
    await kv.put('/l/short', 's', { lease: short.id });
    await kv.put('/l/long', 'l', { lease: long.id });
    const from = (await kv.revision()) + 1;
    clock.advance(4000);
    await flush();
    expect(await kv.get('/l/short')).toBeDefined();
    await kv.keepAlive(short.id); // now expires at 4 s + 5 s
    clock.advance(4000);
    await flush();
    expect(await kv.get('/l/short')).toBeDefined();
    clock.advance(1500);
    for (let i = 0; i < 5 && (await kv.get('/l/short')); i++) await flush();
    expect(await kv.get('/l/short')).toBeUndefined();
    expect(await kv.get('/l/long')).toBeDefined();
    const w = kv.watch('/l/', { prefix: true, fromRevision: from });
    const b = await w[Symbol.asyncIterator]().next();
    expect(b.value?.events.map((e: WatchEvent) => [e.type, e.kv.key])).toEqual([['delete', '/l/short']]);
    w.close();
    await expect(kv.keepAlive(short.id)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND' });
  });

  it('ends a watcher that falls too far behind without blocking writers; it resumes from its last revision', async () => {
    const kv = track(await openEmbeddedStore({ watchBufferBatches: 5, clock: new ManualClock() }));
    const start = (await kv.revision()) + 1;
    const slow = kv.watch('/s/', { prefix: true, fromRevision: start });
    const it = slow[Symbol.asyncIterator]();
    const first = await kv.put('/s/0', '0');
    const got = await it.next();
    expect(got.value?.revision).toBe(first.revision);
    for (let i = 1; i <= 20; i++) await kv.put(`/s/${i}`, String(i)); // nobody reads
    let err: unknown;
    try {
      await it.next();
    } catch (e) {
      err = e;
    }
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_WATCH_OVERFLOW')).toBe(true);
    const again = kv.watch('/s/', { prefix: true, fromRevision: first.revision + 1 });
    const it2 = again[Symbol.asyncIterator]();
    const seen: number[] = [];
    while (seen.length < 20) seen.push(Number(Buffer.from((await it2.next()).value!.events[0]!.kv.value).toString()));
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    again.close();
  });

  it('fails requests with CAPSTAN_ERR_STORE_CLOSED after close', async () => {
    const kv = await openEmbeddedStore({ clock: new ManualClock() });
    await kv.close();
    await expect(kv.put('/x', 'y')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_CLOSED' });
    await expect(kv.get('/x')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_CLOSED' });
  });
});
