// The etcd backend against a real etcd: the KV contract suite, then etcd-specific behaviour
// (writes never applied twice, watch resume across a dropped connection, compaction,
// unavailability). One etcd serves the whole file; every store works under its own prefix.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { openEtcdStore } from '../../src/store/etcd/index.js';
import type { KV, WatchBatch } from '../../src/store/types.js';
import { etcdSkipReason, etcdSuiteName, freePortForTest, freshPrefix, startEtcd, startTcpProxy, type EtcdCluster } from '../helpers/etcd.js';
import { runContractSuite } from './contract.js';

const text = (v: Uint8Array): string => Buffer.from(v).toString('utf8');

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let server: Promise<EtcdCluster> | undefined;
const sharedEtcd = (): Promise<EtcdCluster> => (server ??= startEtcd());

afterAll(async () => {
  if (server) await (await server).stop();
});

describe.skipIf(etcdSkipReason !== undefined)(etcdSuiteName('etcd backend'), () => {
  runContractSuite('etcd', async () => {
    const etcd = await sharedEtcd();
    const kv = await openEtcdStore({ endpoints: etcd.endpoints, prefix: freshPrefix('contract') });
    return { kv, cleanup: () => kv.close() };
  });

  describe('etcd-specific behaviour', etcdSpecific);
});

function etcdSpecific(): void {
  let etcd: EtcdCluster;
  const open: KV[] = [];
  const store = async (prefix: string, endpoint?: string): Promise<KV> => {
    const kv = await openEtcdStore({ endpoints: [endpoint ?? etcd.endpoints[0]], prefix, timeoutMs: 3000 });
    open.push(kv);
    return kv;
  };

  beforeAll(async () => {
    etcd = await sharedEtcd();
  });
  afterAll(async () => {
    for (const kv of open) await kv.close();
  });

  it('never applies a txn twice when the connection drops after etcd received it', async () => {
    const prefix = freshPrefix('once');
    const direct = await store(prefix);
    const proxy = await startTcpProxy(etcd.endpoints[0]);
    try {
      const viaProxy = await store(prefix, proxy.url);
      // Warm the write path so the txn below travels on an established connection.
      await viaProxy.put('counter', '0');
      const before = await direct.revision();

      // The reply is held back: etcd applies the txn, the client never hears about it.
      proxy.setHolding(true);
      const txn = viaProxy.txn({
        // A compare that stays true, so a second attempt would apply again.
        compare: [{ key: 'counter', target: 'version', op: '>', value: 0 }],
        success: [{ type: 'put', key: 'counter', value: 'bumped' }],
        failure: [],
      });
      const settled = txn.then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      await until(async () => (await direct.revision()) > before, 'the txn to reach etcd');
      proxy.setHolding(false);
      proxy.cut();

      const outcome = await settled;
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(isCapstanError(outcome.e, 'CAPSTAN_ERR_STORE_UNAVAILABLE')).toBe(true);
        expect((outcome.e as { context: Record<string, unknown> }).context.outcome).toBe('unknown');
      }
      // Give a retry (if there were one) time to land on a fresh connection through the proxy.
      await viaProxy.get('counter');
      await new Promise((r) => setTimeout(r, 300));
      expect(await direct.revision()).toBe(before + 1);
      const counter = await direct.get('counter');
      expect(text(counter!.value)).toBe('bumped');
      expect(counter!.version).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('resumes a watch after the connection is cut and restored, with no gap and no duplicate', async () => {
    const prefix = freshPrefix('resume');
    const direct = await store(prefix);
    const proxy = await startTcpProxy(etcd.endpoints[0]);
    try {
      const viaProxy = await store(prefix, proxy.url);
      const start = (await direct.revision()) + 1;
      const watch = viaProxy.watch('w/', { prefix: true, fromRevision: start });
      const seen: WatchBatch[] = [];
      const written: number[] = [];
      let last = 0;
      const reader = (async () => {
        for await (const batch of watch) {
          seen.push(batch);
          if (batch.revision >= last && last > 0) break;
        }
      })();

      for (let i = 0; i < 5; i++) written.push((await direct.put(`w/${i}`, `v${i}`)).revision);
      await until(async () => seen.length >= 5, 'the first five batches');

      proxy.setDown(true);
      proxy.cut();
      for (let i = 5; i < 10; i++) written.push((await direct.put(`w/${i}`, `v${i}`)).revision);
      // One revision with three events: it must arrive as one batch.
      const multi = await direct.txn({
        compare: [],
        success: [
          { type: 'put', key: 'w/a', value: 'a' },
          { type: 'put', key: 'w/b', value: 'b' },
          { type: 'delete', key: 'w/0' },
        ],
        failure: [],
      });
      written.push(multi.revision);
      await new Promise((r) => setTimeout(r, 200));
      proxy.setDown(false);
      last = multi.revision;
      for (let i = 10; i < 12; i++) {
        const r = await direct.put(`w/${i}`, `v${i}`);
        written.push(r.revision);
        last = r.revision;
      }
      await reader;
      watch.close();

      expect(proxy.accepted()).toBeGreaterThan(1); // it did reconnect
      expect(seen.map((b) => b.revision)).toEqual(written);
      for (const b of seen) for (const e of b.events) expect(e.kv.modRevision).toBe(b.revision);
      const batch = seen.find((b) => b.revision === multi.revision)!;
      expect(batch.events.map((e) => `${e.type}:${e.kv.key}`)).toEqual(['put:w/a', 'put:w/b', 'delete:w/0']);
    } finally {
      await proxy.close();
    }
  });

  it('ends a watch from a compacted revision with CAPSTAN_ERR_STORE_COMPACTED', async () => {
    const kv = await store(freshPrefix('compact'));
    const first = await kv.put('k', '1');
    await kv.put('k', '2');
    const third = await kv.put('k', '3');
    await kv.compact(third.revision);

    const watch = kv.watch('k', { fromRevision: first.revision });
    const err = await (async () => {
      try {
        for await (const _ of watch) {
          // nothing should arrive
        }
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_COMPACTED')).toBe(true);

    await expect(kv.get('k', { revision: first.revision })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_COMPACTED' });
    await expect(kv.compact(first.revision)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_COMPACTED' });
    // From the compaction point on, history is still there.
    const ok = kv.watch('k', { fromRevision: third.revision });
    const it1 = ok[Symbol.asyncIterator]();
    const b = await it1.next();
    expect(b.value?.revision).toBe(third.revision);
    ok.close();
  });

  it('starts a watch without fromRevision at the compaction point when its client fell behind one', async () => {
    const prefix = freshPrefix('stale');
    const idle = await store(prefix);
    const busy = await store(prefix);
    await busy.put('k', '1');
    await busy.put('k', '2');
    const third = await busy.put('k', '3');
    await busy.compact(third.revision); // `idle` last saw a revision below this
    const watch = idle.watch('k');
    const it = watch[Symbol.asyncIterator]();
    const next = await busy.put('k', '4');
    const batch = await it.next();
    // No COMPACTED for a watch that asked for no history, and the new write arrives.
    expect(batch.done).toBe(false);
    expect([third.revision, next.revision]).toContain(batch.value!.revision);
    watch.close();
  });

  it('reports an unreachable cluster as CAPSTAN_ERR_STORE_UNAVAILABLE with the endpoint and no password', async () => {
    const port = await freePortForTest();
    const endpoint = `http://127.0.0.1:${port}`;
    const err = await openEtcdStore({
      endpoints: [endpoint],
      auth: { username: 'capstan', password: 'hunter2-secret' },
      timeoutMs: 1000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_UNAVAILABLE')).toBe(true);
    const shown = `${(err as Error).message} ${JSON.stringify((err as { context: unknown }).context)}`;
    expect(shown).toContain(`127.0.0.1:${port}`);
    expect(shown).not.toContain('hunter2-secret');
  });

  it('keeps keys under the prefix and strips it on the way out', async () => {
    const a = await store(freshPrefix('pa'));
    const b = await store(freshPrefix('pb'));
    await a.put('same', 'from-a');
    await b.put('same', 'from-b');
    expect(text((await a.get('same'))!.value)).toBe('from-a');
    const all = await b.range('');
    expect(all.kvs.map((kv) => kv.key)).toEqual(['same']);
    expect(text(all.kvs[0].value)).toBe('from-b');
  });

  it('refuses oversized requests and empty keys before they reach etcd', async () => {
    const kv = await store(freshPrefix('limits'));
    const big = new Uint8Array(1.5 * 1024 * 1024);
    await expect(kv.put('big', big)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_TOO_LARGE' });
    await expect(kv.put('', 'x')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_INVALID_KEY' });
    // Just under the limit goes through.
    const fits = new Uint8Array(1.5 * 1024 * 1024 - 'fits'.length);
    await expect(kv.put('fits', fits)).resolves.toMatchObject({ revision: expect.any(Number) });
    expect((await kv.get('fits'))!.value.length).toBe(fits.length);
  });

  it('ends open watches on close and refuses calls afterwards', async () => {
    const kv = await openEtcdStore({ endpoints: etcd.endpoints, prefix: freshPrefix('close') });
    const watch = kv.watch('k');
    const pending = watch[Symbol.asyncIterator]().next();
    await kv.close();
    expect((await pending).done).toBe(true);
    await expect(kv.get('k')).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_CLOSED' });
    expect(() => kv.watch('k')).toThrow(/closed/);
  });

  it('draws another lease id when etcd already has the one it asked for', async () => {
    const taken = 4242_0000 + Math.floor(Math.random() * 10_000);
    const ids = [taken, taken, taken + 1];
    const kv = await openEtcdStore({ endpoints: etcd.endpoints, prefix: freshPrefix('ids'), leaseId: () => ids.shift()! });
    open.push(kv);
    expect((await kv.grant(30)).id).toBe(taken);
    expect((await kv.grant(30)).id).toBe(taken + 1);
    await kv.revoke(taken);
    await kv.revoke(taken + 1);
    await expect(kv.revoke(taken)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND' });
  });

  it('reports keepAlive on an expired lease as CAPSTAN_ERR_STORE_LEASE_NOT_FOUND', async () => {
    const kv = await store(freshPrefix('lease'));
    const lease = await kv.grant(1);
    expect(Number.isSafeInteger(lease.id)).toBe(true);
    await kv.put('owned', 'x', { lease: lease.id });
    expect((await kv.get('owned'))!.lease).toBe(lease.id);
    await until(async () => (await kv.get('owned')) === undefined, 'the lease to expire', 15_000);
    await expect(kv.keepAlive(lease.id)).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND' });
    await expect(kv.put('late', 'x', { lease: lease.id })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND' });
  });
}
