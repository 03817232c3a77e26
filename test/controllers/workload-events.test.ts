import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { EventRecorder, VirtualClock } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { START } from '../helpers/fake-kubelet.js';

const stores: KV[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const decoder = new TextDecoder();

async function setup(max?: number) {
  const kv = await openEmbeddedStore();
  stores.push(kv);
  const clock = new VirtualClock(START);
  const recorder = new EventRecorder({ kv, clock, source: 'test', ...(max ? { maxPerNamespace: max } : {}) });
  const events = async (): Promise<{ key: string; lease: number; event: ClusterEvent }[]> => {
    const r = await kv.range(STORE_PREFIX.events, { prefix: true });
    return r.kvs.map((i) => ({ key: i.key, lease: i.lease, event: JSON.parse(decoder.decode(i.value)) as ClusterEvent }));
  };
  return { kv, clock, recorder, events };
}

const scaled = { namespace: 'default', object: 'Deployment/web', reason: 'ScalingReplicaSet', message: 'Scaled up revision web-x to 3 from 0' };

describe('EventRecorder', () => {
  it('coalesces the same object, reason and message within ten minutes', async () => {
    const t = await setup();
    await t.recorder.record(scaled);
    t.clock.advance(60_000);
    await t.recorder.record(scaled);
    t.clock.advance(60_000);
    await t.recorder.record(scaled);
    await t.recorder.record({ ...scaled, message: 'Scaled down revision web-x to 0 from 3' });
    const list = await t.events();
    expect(list).toHaveLength(2);
    const e = list.find((x) => x.event.message === scaled.message)!.event;
    expect(e).toMatchObject({ count: 3, type: 'Normal', source: 'test', firstSeen: new Date(START).toISOString(), lastSeen: new Date(START + 120_000).toISOString() });

    // Quiet for more than ten minutes: the next one is a new event.
    t.clock.advance(11 * 60_000);
    await t.recorder.record(scaled);
    const again = (await t.events()).filter((x) => x.event.message === scaled.message);
    expect(again.map((x) => x.event.count).sort()).toEqual([1, 3]);
  });

  it('keeps at most the bound per namespace, dropping the oldest', async () => {
    const t = await setup(5);
    for (let i = 0; i < 8; i++) {
      await t.recorder.record({ ...scaled, message: `m${i}` });
      t.clock.advance(1000);
    }
    await t.recorder.record({ ...scaled, namespace: 'other', message: 'elsewhere' });
    const list = await t.events();
    const inDefault = list.filter((x) => x.event.namespace === 'default').map((x) => x.event.message);
    expect(inDefault.length).toBeLessThanOrEqual(5);
    expect(inDefault).toContain('m7');
    expect(inDefault).not.toContain('m0');
    expect(list.some((x) => x.event.namespace === 'other')).toBe(true);
  });

  it('holds the default bound of 1,000 without counting the namespace on every event', async () => {
    const kv = await openEmbeddedStore();
    stores.push(kv);
    let counts = 0;
    const counting: KV = {
      ...kv,
      range: (key, opts) => {
        if (opts?.keysOnly && opts.limit === 1) counts++;
        return kv.range(key, opts);
      },
      txn: (t) => kv.txn(t),
      grant: (ttl) => kv.grant(ttl),
    };
    const clock = new VirtualClock(START);
    const recorder = new EventRecorder({ kv: counting, clock, source: 'test' });
    const written = 1200;
    for (let i = 0; i < written; i++) {
      await recorder.record({ ...scaled, message: `m${i}` });
      clock.advance(10);
    }
    const held = (await kv.range(`${STORE_PREFIX.events}default/`, { prefix: true, keysOnly: true })).count;
    expect(held).toBeLessThanOrEqual(1000);
    expect(held).toBeGreaterThan(800);
    // Counted when first seen, every 50 additions and when the estimate reaches the bound: far fewer than one per event.
    expect(counts).toBeGreaterThan(0);
    expect(counts).toBeLessThan(written / 10);
  });

  it('attaches events to a shared lease and moves to a fresh one after a while', async () => {
    const t = await setup();
    await t.recorder.record(scaled);
    await t.recorder.record({ ...scaled, reason: 'RolloutCompleted', message: 'done' });
    const first = await t.events();
    expect(first.every((x) => x.lease !== 0 && x.lease === t.recorder.leaseId)).toBe(true);
    const lease1 = t.recorder.leaseId;
    t.clock.advance(6 * 60_000);
    await t.recorder.record(scaled); // coalesced, re-written on the new lease: its expiry moves on
    expect(t.recorder.leaseId).not.toBe(lease1);
    const after = await t.events();
    expect(after.find((x) => x.event.reason === 'ScalingReplicaSet')!.lease).toBe(t.recorder.leaseId);
    expect(after.find((x) => x.event.reason === 'RolloutCompleted')!.lease).toBe(lease1);
  });

  it('lets events expire about an hour after their last write', async () => {
    // The store runs on the same virtual clock here, so its leases expire as time moves.
    const clock = new VirtualClock(START);
    const kv = await openEmbeddedStore({ clock });
    stores.push(kv);
    const recorder = new EventRecorder({ kv, clock, source: 'test' });
    const count = async () => (await kv.range(STORE_PREFIX.events, { prefix: true })).kvs.length;
    const pass = async (minutes: number) => {
      for (let i = 0; i < minutes; i++) {
        clock.advance(60_000);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    await recorder.record(scaled);
    await recorder.record({ ...scaled, reason: 'Other', message: 'once' });
    await pass(9);
    await recorder.record(scaled); // repeated: written again on a newer lease
    await pass(50);
    expect(await count()).toBe(2); // 59 min after the first write
    await pass(11); // 70 min after the first write, 61 after the repeat
    const left = await kv.range(STORE_PREFIX.events, { prefix: true });
    expect(left.kvs.map((k) => (JSON.parse(decoder.decode(k.value)) as ClusterEvent).reason)).toEqual(['ScalingReplicaSet']);
    await pass(10);
    expect(await count()).toBe(0);
  });
});
