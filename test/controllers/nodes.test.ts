// The node lifecycle controller with a real API server (1 s node leases) and a virtual clock
// for the eviction timeout: lease expiry → NotReady → pods removed once the timeout passes.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STORE_PREFIX, type NodeInfo } from '../../src/api/cluster.js';
import { nodeLifecycleController, NODE_NOT_READY_MESSAGE, VirtualClock } from '../../src/controllers/index.js';
import type { Controller } from '../../src/controllers/index.js';
import { nodeAction } from '../../src/controllers/nodes/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { GI, pod, putPod, readPods, registerNode } from './nodes-helpers.js';

let t: TestApi;
let controller: Controller | undefined;

beforeEach(async () => {
  t = await startApi({ nodeLeaseSeconds: 1 });
});

afterEach(async () => {
  await controller?.stop();
  controller = undefined;
  await t.close();
});

async function readNode(name: string): Promise<NodeInfo> {
  const kv = await t.kv.get(`${STORE_PREFIX.nodes}${name}`);
  return JSON.parse(Buffer.from(kv!.value).toString('utf8')) as NodeInfo;
}

describe('node lifecycle', () => {
  it('decides from the lease, the ready flag and the time NotReady was first seen', () => {
    const node = { status: { ready: true } } as NodeInfo;
    const base = { evictionTimeoutMs: 60_000, now: 1000, notReadySince: undefined };
    expect(nodeAction({ ...base, node, leasePresent: true })).toEqual({ kind: 'none' });
    expect(nodeAction({ ...base, node, leasePresent: false })).toEqual({ kind: 'markNotReady' });
    const down = { status: { ready: false } } as NodeInfo;
    expect(nodeAction({ ...base, node: down, leasePresent: false, notReadySince: 1000, now: 31_000 })).toEqual({ kind: 'wait', ms: 30_000 });
    expect(nodeAction({ ...base, node: down, leasePresent: false, notReadySince: 1000, now: 61_000 })).toEqual({ kind: 'evict' });
  });

  it('marks a node whose lease expired NotReady and evicts its pods after the timeout', async () => {
    await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: GI });
    await registerNode(t.url, t.tokens.admin, 'n2', { cpu: 1000, memory: GI });
    await putPod(t.kv, pod('a', { nodeName: 'n1' }));
    await putPod(t.kv, pod('b', { nodeName: 'n1' }));
    await putPod(t.kv, pod('c', { nodeName: 'n2' }));
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    controller = nodeLifecycleController({ kv: t.kv, clock, evictionTimeoutMs: 60_000 });
    controller.start();

    // n2 keeps heartbeating; n1 stops, and its 1 s lease runs out.
    const beat = setInterval(() => void registerNode(t.url, t.tokens.admin, 'n2', { cpu: 1000, memory: GI }).catch(() => {}), 200);
    try {
      await vi.waitFor(async () => {
        const n1 = await readNode('n1');
        expect(n1.status.ready).toBe(false);
        expect(n1.status.message).toBe(NODE_NOT_READY_MESSAGE);
      }, { timeout: 8000, interval: 100 });
      expect((await readNode('n2')).status.ready).toBe(true);
      await controller.waitIdle();

      // Before the timeout the pods stay.
      clock.advance(30_000);
      await controller.waitIdle();
      expect([...(await readPods(t.kv)).keys()].sort()).toEqual(['a', 'b', 'c']);

      clock.advance(31_000);
      await vi.waitFor(async () => expect([...(await readPods(t.kv)).keys()]).toEqual(['c']), { timeout: 5000 });
      const events = (await t.kv.range(`${STORE_PREFIX.events}default/`, { prefix: true })).kvs.map((k) => JSON.parse(Buffer.from(k.value).toString('utf8')));
      expect(events.some((e) => e.object === 'Pod/a' && e.reason === 'Evicted')).toBe(true);
      expect(events.some((e) => e.object === 'Node/n1' && e.reason === 'NodeNotReady')).toBe(true);

      // The node returns: its heartbeat makes it ready again and nothing more is evicted.
      await registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: GI });
      expect((await readNode('n1')).status.ready).toBe(true);
      await putPod(t.kv, pod('d', { nodeName: 'n1' }));
      const keepAlive = setInterval(() => void registerNode(t.url, t.tokens.admin, 'n1', { cpu: 1000, memory: GI }).catch(() => {}), 200);
      try {
        await controller.waitIdle();
        clock.advance(120_000);
        await controller.waitIdle();
        expect([...(await readPods(t.kv)).keys()].sort()).toEqual(['c', 'd']);
      } finally {
        clearInterval(keepAlive);
      }
    } finally {
      clearInterval(beat);
    }
  });
});
