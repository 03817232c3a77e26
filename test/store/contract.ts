// The KV contract as one backend-neutral suite: every backend (embedded in memory, embedded on
// disk, etcd) runs exactly these tests. Each test works under its own random key prefix so
// backends can share one server. Semantics follow etcd v3 (see src/store/types.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV, KeyValue, Watch } from '../../src/store/types.js';
import { MAX_REQUEST_BYTES } from '../../src/store/types.js';
import { expectCode, sleep, text, within, WatchReader } from './contract-helpers.js';

export interface OpenedStore {
  kv: KV;
  cleanup(): Promise<void>;
}

export function runContractSuite(name: string, open: () => Promise<OpenedStore>): void {
  describe(`KV contract: ${name}`, () => {
    let store: OpenedStore;
    let kv: KV;
    let p: string;
    const watches: Watch[] = [];
    const reader = (w: Watch) => {
      watches.push(w);
      return new WatchReader(w);
    };

    beforeAll(async () => {
      store = await open();
      kv = store.kv;
    });
    afterAll(async () => {
      for (const w of watches) w.close();
      await store?.cleanup();
    });
    // A fresh prefix for every test.
    const fresh = () => (p = `/contract/${randomBytes(6).toString('hex')}/`);

    it('put returns increasing revisions and get reads the latest value', async () => {
      fresh();
      const r1 = await kv.put(`${p}a`, 'one');
      const r2 = await kv.put(`${p}a`, 'two');
      const r3 = await kv.put(`${p}b`, new Uint8Array([0, 1, 2, 255]));
      expect(r2.revision).toBeGreaterThan(r1.revision);
      expect(r3.revision).toBeGreaterThan(r2.revision);
      expect(await kv.revision()).toBeGreaterThanOrEqual(r3.revision);
      const a = await kv.get(`${p}a`);
      expect(text(a?.value)).toBe('two');
      expect(Array.from((await kv.get(`${p}b`))!.value)).toEqual([0, 1, 2, 255]);
      expect(await kv.get(`${p}missing`)).toBeUndefined();
    });

    it('tracks createRevision, modRevision and version, and resets them on re-create', async () => {
      fresh();
      const k = `${p}k`;
      const r1 = await kv.put(k, 'v1');
      const r2 = await kv.put(k, 'v2', { prevKv: true });
      expect(text(r2.prevKv?.value)).toBe('v1');
      expect(r2.prevKv?.version).toBe(1);
      let got = (await kv.get(k))!;
      expect(got).toMatchObject({ key: k, createRevision: r1.revision, modRevision: r2.revision, version: 2, lease: 0 });
      const r3 = await kv.put(k, 'v3');
      got = (await kv.get(k))!;
      expect(got.version).toBe(3);
      expect(got.modRevision).toBe(r3.revision);
      expect(got.createRevision).toBe(r1.revision);
      const d = await kv.delete(k);
      expect(d.deleted).toBe(1);
      expect(d.revision).toBeGreaterThan(r3.revision);
      expect(await kv.get(k)).toBeUndefined();
      const r4 = await kv.put(k, 'again');
      got = (await kv.get(k))!;
      expect(got).toMatchObject({ createRevision: r4.revision, modRevision: r4.revision, version: 1 });
    });

    it('ranges over a prefix in key order with limit, more, count and keysOnly', async () => {
      fresh();
      for (const k of ['c', 'a', 'e', 'b', 'd']) await kv.put(`${p}${k}`, `val-${k}`);
      await kv.put(`${p.slice(0, -1)}x`, 'outside'); // shares the prefix string but not the folder
      const all = await kv.range(p);
      expect(all.kvs.map((x) => x.key)).toEqual(['a', 'b', 'c', 'd', 'e'].map((k) => `${p}${k}`));
      expect(all.count).toBe(5);
      expect(all.more).toBe(false);
      expect(text(all.kvs[2]!.value)).toBe('val-c');
      const lim = await kv.range(p, { limit: 2 });
      expect(lim.kvs.map((x) => x.key)).toEqual([`${p}a`, `${p}b`]);
      expect(lim.count).toBe(5);
      expect(lim.more).toBe(true);
      const exact = await kv.range(`${p}c`, { limit: 10 });
      expect(exact.count).toBe(1);
      const one = await kv.range(`${p}c`, { prefix: false });
      expect(one.kvs.map((x) => x.key)).toEqual([`${p}c`]);
      const none = await kv.range(`${p}zz`, { prefix: false });
      expect(none.kvs).toEqual([]);
      expect(none.count).toBe(0);
      const keys = await kv.range(p, { keysOnly: true });
      expect(keys.count).toBe(5);
      for (const x of keys.kvs) expect(x.value.length).toBe(0);
      expect(keys.kvs[0]!.version).toBe(1);
      expect(all.revision).toBeGreaterThanOrEqual(all.kvs.reduce((m, x) => Math.max(m, x.modRevision), 0));
    });

    it('reads as of an earlier revision, including keys deleted since', async () => {
      fresh();
      const r1 = await kv.put(`${p}a`, 'a1');
      const r2 = await kv.put(`${p}b`, 'b1');
      await kv.put(`${p}a`, 'a2');
      await kv.delete(`${p}b`);
      const atR1 = await kv.range(p, { revision: r1.revision });
      expect(atR1.kvs.map((x) => [x.key, text(x.value)])).toEqual([[`${p}a`, 'a1']]);
      expect(atR1.revision).toBeGreaterThanOrEqual(r2.revision);
      const atR2 = await kv.range(p, { revision: r2.revision });
      expect(atR2.kvs.map((x) => [x.key, text(x.value)])).toEqual([
        [`${p}a`, 'a1'],
        [`${p}b`, 'b1'],
      ]);
      expect(text((await kv.get(`${p}a`, { revision: r1.revision }))?.value)).toBe('a1');
      expect(await kv.get(`${p}b`, { revision: r1.revision })).toBeUndefined();
      const now = await kv.range(p);
      expect(now.kvs.map((x) => [x.key, text(x.value)])).toEqual([[`${p}a`, 'a2']]);
      await expectCode(kv.range(p, { revision: (await kv.revision()) + 1000 }), 'CAPSTAN_ERR_STORE_FUTURE_REVISION');
    });

    it('deletes one key or a prefix in one revision, returning prevKvs', async () => {
      fresh();
      await kv.put(`${p}a`, '1');
      await kv.put(`${p}d/x`, '2');
      await kv.put(`${p}d/y`, '3');
      const before = await kv.revision();
      const none = await kv.delete(`${p}nothing`);
      expect(none.deleted).toBe(0);
      expect(none.prevKvs).toEqual([]);
      expect(await kv.revision()).toBe(before); // deleting nothing writes nothing
      const one = await kv.delete(`${p}a`);
      expect(one.deleted).toBe(1);
      expect(one.prevKvs.map((x) => [x.key, text(x.value)])).toEqual([[`${p}a`, '1']]);
      const many = await kv.delete(`${p}d/`, { prefix: true });
      expect(many.deleted).toBe(2);
      expect(many.revision).toBe(one.revision + 1);
      expect(many.prevKvs.map((x) => x.key).sort()).toEqual([`${p}d/x`, `${p}d/y`]);
      expect((await kv.range(p)).count).toBe(0);
    });

    it('compares every target with every operator in txn, missing keys as zeros', async () => {
      fresh();
      const k = `${p}k`;
      const m = `${p}missing`;
      const r1 = await kv.put(k, 'bbb');
      const r2 = await kv.put(k, 'bbb');
      const cases: Array<[TxnCmp, boolean]> = [
        [{ key: k, target: 'value', op: '==', value: 'bbb' }, true],
        [{ key: k, target: 'value', op: '==', value: new TextEncoder().encode('bbb') }, true],
        [{ key: k, target: 'value', op: '!=', value: 'bbb' }, false],
        [{ key: k, target: 'value', op: '<', value: 'ccc' }, true],
        [{ key: k, target: 'value', op: '<', value: 'aaa' }, false],
        [{ key: k, target: 'value', op: '>', value: 'aaa' }, true],
        [{ key: k, target: 'value', op: '>', value: 'bbbb' }, false],
        [{ key: k, target: 'version', op: '==', value: 2 }, true],
        [{ key: k, target: 'version', op: '!=', value: 2 }, false],
        [{ key: k, target: 'version', op: '<', value: 3 }, true],
        [{ key: k, target: 'version', op: '>', value: 2 }, false],
        [{ key: k, target: 'version', op: '<', value: 2 }, false],
        [{ key: k, target: 'version', op: '>', value: 1 }, true],
        [{ key: k, target: 'value', op: '<', value: 'bbb' }, false],
        [{ key: k, target: 'value', op: '>', value: 'bbb' }, false],
        [{ key: k, target: 'createRevision', op: '==', value: r1.revision }, true],
        [{ key: k, target: 'createRevision', op: '>', value: r1.revision }, false],
        [{ key: k, target: 'createRevision', op: '<', value: r2.revision }, true],
        [{ key: k, target: 'modRevision', op: '==', value: r2.revision }, true],
        [{ key: k, target: 'modRevision', op: '==', value: r1.revision }, false],
        [{ key: k, target: 'modRevision', op: '>', value: r1.revision }, true],
        [{ key: k, target: 'modRevision', op: '!=', value: r1.revision }, true],
        [{ key: k, target: 'lease', op: '==', value: 0 }, true],
        [{ key: k, target: 'lease', op: '>', value: 0 }, false],
        [{ key: m, target: 'version', op: '==', value: 0 }, true],
        [{ key: m, target: 'createRevision', op: '==', value: 0 }, true],
        [{ key: m, target: 'modRevision', op: '==', value: 0 }, true],
        [{ key: m, target: 'modRevision', op: '<', value: 1 }, true],
        [{ key: m, target: 'lease', op: '==', value: 0 }, true],
        [{ key: m, target: 'version', op: '>', value: 0 }, false],
      ];
      for (const [cmp, expected] of cases) {
        const r = await kv.txn({ compare: [cmp], success: [], failure: [] });
        expect(r.succeeded, `${cmp.key === m ? 'missing' : 'k'} ${cmp.target} ${cmp.op} ${String(cmp.value)}`).toBe(expected);
      }
      // All compares must hold for success.
      const both = await kv.txn({
        compare: [cases[0]![0], { key: k, target: 'version', op: '==', value: 99 }],
        success: [],
        failure: [],
      });
      expect(both.succeeded).toBe(false);
    });

    it('runs the success or failure branch; ops of one txn share one revision', async () => {
      fresh();
      const seed = await kv.put(`${p}lock`, 'free');
      const ok = await kv.txn({
        compare: [{ key: `${p}lock`, target: 'modRevision', op: '==', value: seed.revision }],
        success: [
          { type: 'put', key: `${p}lock`, value: 'held' },
          { type: 'put', key: `${p}x`, value: 'x1' },
          { type: 'put', key: `${p}y`, value: new Uint8Array([7]) },
          { type: 'get', key: `${p}`, prefix: true },
        ],
        failure: [{ type: 'put', key: `${p}failed`, value: 'yes' }],
      });
      expect(ok.succeeded).toBe(true);
      expect(ok.revision).toBe(seed.revision + 1);
      expect(ok.results.map((r) => r.type)).toEqual(['put', 'put', 'put', 'get']);
      for (const r of ok.results.slice(0, 3)) expect(r.type === 'put' && r.revision).toBe(ok.revision);
      const g = ok.results[3]!;
      expect(g.type).toBe('get');
      if (g.type === 'get') {
        expect(g.count).toBe(3); // reads inside a txn see its earlier writes
        expect(g.kvs.map((x) => text(x.value))).toEqual(['held', 'x1', '\u0007']);
      }
      for (const key of ['lock', 'x', 'y']) expect((await kv.get(`${p}${key}`))!.modRevision).toBe(ok.revision);
      expect(await kv.get(`${p}failed`)).toBeUndefined();

      const again = await kv.txn({
        compare: [{ key: `${p}lock`, target: 'modRevision', op: '==', value: seed.revision }],
        success: [{ type: 'put', key: `${p}lock`, value: 'stolen' }],
        failure: [
          { type: 'get', key: `${p}lock` },
          { type: 'delete', key: `${p}x` },
        ],
      });
      expect(again.succeeded).toBe(false);
      expect(again.revision).toBe(ok.revision + 1);
      const [get, del] = again.results;
      expect(get?.type === 'get' && text(get.kvs[0]?.value)).toBe('held');
      expect(del?.type === 'delete' && del.deleted).toBe(1);
      expect(text((await kv.get(`${p}lock`))?.value)).toBe('held');

      const readOnly = await kv.txn({ compare: [], success: [{ type: 'get', key: `${p}y` }], failure: [] });
      expect(readOnly.succeeded).toBe(true);
      expect(readOnly.revision).toBe(again.revision);
    });

    it('replays watch events from a past revision in order, then streams new ones', async () => {
      fresh();
      const r1 = await kv.put(`${p}a`, '1');
      await kv.put(`${p}b`, '2');
      await kv.put(`${p.slice(0, -1)}-other`, 'not watched');
      await kv.delete(`${p}a`);
      const w = reader(kv.watch(p, { prefix: true, fromRevision: r1.revision }));
      const past = await w.events(3);
      expect(past.map((b) => b.events.map((e) => [e.type, e.kv.key]))).toEqual([
        [['put', `${p}a`]],
        [['put', `${p}b`]],
        [['delete', `${p}a`]],
      ]);
      expect(past[0]!.revision).toBe(r1.revision);
      for (let i = 1; i < past.length; i++) expect(past[i]!.revision).toBeGreaterThan(past[i - 1]!.revision);
      for (const b of past) for (const e of b.events) expect(e.kv.modRevision).toBe(b.revision);
      const r5 = await kv.put(`${p}c`, '3');
      const live = await w.next();
      expect(live.revision).toBe(r5.revision);
      expect(live.events).toHaveLength(1);
      expect(live.events[0]).toMatchObject({ type: 'put', kv: { key: `${p}c`, version: 1, createRevision: r5.revision } });
      expect(text(live.events[0]!.kv.value)).toBe('3');
      w.close();
    });

    it('delivers a watch on one key only for that key', async () => {
      fresh();
      const start = (await kv.revision()) + 1;
      const w = reader(kv.watch(`${p}a`, { fromRevision: start }));
      await kv.put(`${p}ab`, 'longer key');
      await kv.put(`${p}b`, 'other');
      const r = await kv.put(`${p}a`, 'mine');
      const b = await w.next();
      expect(b.revision).toBe(r.revision);
      expect(b.events.map((e) => e.kv.key)).toEqual([`${p}a`]);
      w.close();
    });

    it('keeps all events of one revision in one batch, with prevKv when asked', async () => {
      fresh();
      await kv.put(`${p}a`, 'old-a');
      const start = (await kv.revision()) + 1;
      const w = reader(kv.watch(p, { prefix: true, fromRevision: start, prevKv: true }));
      const t = await kv.txn({
        compare: [],
        success: [
          { type: 'put', key: `${p}a`, value: 'new-a' },
          { type: 'put', key: `${p}b`, value: 'b' },
          { type: 'put', key: `${p}c`, value: 'c' },
        ],
        failure: [],
      });
      const d = await kv.delete(p, { prefix: true });
      const b1 = await w.next();
      expect(b1.revision).toBe(t.revision);
      expect(b1.events.map((e) => [e.type, e.kv.key, text(e.kv.value)])).toEqual([
        ['put', `${p}a`, 'new-a'],
        ['put', `${p}b`, 'b'],
        ['put', `${p}c`, 'c'],
      ]);
      expect(text(b1.events[0]!.prevKv?.value)).toBe('old-a');
      expect(b1.events[1]!.prevKv).toBeUndefined();
      const b2 = await w.next();
      expect(b2.revision).toBe(d.revision);
      expect(b2.events).toHaveLength(3);
      for (const e of b2.events) {
        expect(e.type).toBe('delete');
        expect(e.kv.modRevision).toBe(d.revision);
        expect(e.prevKv?.modRevision).toBe(t.revision);
      }
      expect(b2.events.map((e) => e.kv.key).sort()).toEqual([`${p}a`, `${p}b`, `${p}c`]);
      w.close();
    });

    it('resumes a watch from the revision after the last one seen, with no gaps', async () => {
      fresh();
      const start = (await kv.revision()) + 1;
      const revs: number[] = [];
      for (let i = 0; i < 6; i++) revs.push((await kv.put(`${p}k${i % 2}`, String(i))).revision);
      const w1 = reader(kv.watch(p, { prefix: true, fromRevision: start }));
      const first = await w1.events(3);
      w1.close();
      const last = first[first.length - 1]!.revision;
      const w2 = reader(kv.watch(p, { prefix: true, fromRevision: last + 1 }));
      const rest = await w2.events(3);
      w2.close();
      expect([...first, ...rest].map((b) => b.revision)).toEqual(revs);
      expect(rest.map((b) => text(b.events[0]!.kv.value))).toEqual(['3', '4', '5']);
    });

    it('ends a watch on close and on abort', async () => {
      fresh();
      const w = kv.watch(p, { prefix: true, fromRevision: (await kv.revision()) + 1 });
      const it1 = w[Symbol.asyncIterator]();
      const pending = it1.next();
      w.close();
      expect((await within(pending, 5000, 'watch end')).done).toBe(true);
      const ac = new AbortController();
      const w2 = kv.watch(p, { prefix: true, signal: ac.signal });
      const it2 = w2[Symbol.asyncIterator]();
      const pending2 = it2.next();
      ac.abort();
      expect((await within(pending2, 5000, 'watch end on abort')).done).toBe(true);
    });

    it('refuses reads and watches below the compacted revision', async () => {
      fresh();
      const r1 = await kv.put(`${p}a`, '1');
      await kv.put(`${p}a`, '2');
      const r3 = await kv.put(`${p}a`, '3');
      await kv.put(`${p}b`, 'x');
      await kv.compact(r3.revision);
      await expectCode(kv.range(p, { revision: r1.revision }), 'CAPSTAN_ERR_STORE_COMPACTED');
      await expectCode(kv.get(`${p}a`, { revision: r1.revision }), 'CAPSTAN_ERR_STORE_COMPACTED');
      // The compacted revision itself and later ones still read.
      expect(text((await kv.get(`${p}a`, { revision: r3.revision }))?.value)).toBe('3');
      expect((await kv.range(p)).count).toBe(2);
      const w = reader(kv.watch(p, { prefix: true, fromRevision: r1.revision }));
      await expectCode(w.next(), 'CAPSTAN_ERR_STORE_COMPACTED');
      w.close();
      const ok = reader(kv.watch(p, { prefix: true, fromRevision: r3.revision + 1 }));
      expect((await ok.next()).events[0]!.kv.key).toBe(`${p}b`);
      ok.close();
    });

    it('grants leases; revoking one deletes its keys with delete events', async () => {
      fresh();
      const lease = await kv.grant(60);
      expect(lease.id).not.toBe(0);
      expect(lease.ttlSeconds).toBeGreaterThanOrEqual(60);
      await kv.put(`${p}a`, '1', { lease: lease.id });
      await kv.txn({ compare: [], success: [{ type: 'put', key: `${p}b`, value: '2', lease: lease.id }], failure: [] });
      await kv.put(`${p}keep`, 'no lease');
      expect((await kv.get(`${p}a`))!.lease).toBe(lease.id);
      const hit = await kv.txn({
        compare: [{ key: `${p}b`, target: 'lease', op: '==', value: lease.id }],
        success: [],
        failure: [],
      });
      expect(hit.succeeded).toBe(true);
      const refreshed = await kv.keepAlive(lease.id);
      expect(refreshed.id).toBe(lease.id);
      const w = reader(kv.watch(p, { prefix: true, fromRevision: (await kv.revision()) + 1 }));
      await kv.revoke(lease.id);
      const b = await w.next();
      expect(b.events.map((e) => [e.type, e.kv.key]).sort()).toEqual([
        ['delete', `${p}a`],
        ['delete', `${p}b`],
      ]);
      expect((await kv.range(p)).kvs.map((x) => x.key)).toEqual([`${p}keep`]);
      await expectCode(kv.keepAlive(lease.id), 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND');
      await expectCode(kv.put(`${p}c`, 'x', { lease: lease.id }), 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND');
      w.close();
    });

    it('expires a lease after its TTL, deleting its keys', async () => {
      fresh();
      const lease = await kv.grant(1);
      await kv.put(`${p}eph`, 'gone soon', { lease: lease.id });
      expect(await kv.get(`${p}eph`)).toBeDefined();
      // etcd rounds tiny TTLs up to its minimum, so wait for the granted TTL plus slack.
      const deadline = Date.now() + (lease.ttlSeconds + 2.5) * 1000;
      let present: KeyValue | undefined = await kv.get(`${p}eph`);
      while (present && Date.now() < deadline) {
        await sleep(100);
        present = await kv.get(`${p}eph`);
      }
      expect(present).toBeUndefined();
      await expectCode(kv.keepAlive(lease.id), 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND');
    });

    it('refuses requests over 1.5 MiB and empty keys', async () => {
      fresh();
      const big = new Uint8Array(MAX_REQUEST_BYTES + 1);
      await expectCode(kv.put(`${p}big`, big), 'CAPSTAN_ERR_STORE_TOO_LARGE');
      await expectCode(
        kv.txn({ compare: [], success: [{ type: 'put', key: `${p}big`, value: big }], failure: [] }),
        'CAPSTAN_ERR_STORE_TOO_LARGE',
      );
      expect(await kv.get(`${p}big`)).toBeUndefined();
      await expectCode(kv.put('', 'x'), 'CAPSTAN_ERR_STORE_INVALID_KEY');
      await expectCode(kv.get(''), 'CAPSTAN_ERR_STORE_INVALID_KEY');
      // A large value under the limit goes through intact.
      const ok = new Uint8Array(1024 * 1024).fill(7);
      await kv.put(`${p}ok`, ok);
      expect((await kv.get(`${p}ok`))!.value.length).toBe(ok.length);
    });

    it('serves many concurrent writers with distinct, increasing revisions', async () => {
      fresh();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => kv.put(`${p}c${i}`, String(i))),
      );
      const revs = results.map((r) => r.revision);
      expect(new Set(revs).size).toBe(100);
      const got = await kv.range(p);
      expect(got.count).toBe(100);
      for (const x of got.kvs) expect(x.modRevision).toBe(revs[Number(x.key.slice(p.length + 1))]);
    });
  });
}

type TxnCmp = Parameters<KV['txn']>[0]['compare'][number];
