// The scheduling reconciler keeps its cluster view from one pass to the next and applies only
// what changed. One long-lived reconciler reads through the controllers' watch cache (as the
// control plane runs it) while pods come and go, nodes are cordoned, relabelled, removed and
// come back. After every pass: no node holds more than it has, and a reconciler built afresh
// from the store finds nothing left to bind (a view that still counted a pod that is gone would
// keep room closed; one that missed a pod would overfill a node).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { WatchCache, cachedKV, SchedulingReconciler } from '../../src/controllers/index.js';
import { seededRandom } from '../../src/scheduler/index.js';
import type { KV } from '../../src/store/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { GI, pod, putPod, readPods, registerNode } from './nodes-helpers.js';

let t: TestApi;
let cache: WatchCache;
let kv: KV;

const NODES = ['n1', 'n2', 'n3'];
const CPU = 1000;

beforeEach(async () => {
  t = await startApi();
  for (const n of NODES) await registerNode(t.url, t.tokens.admin, n, { cpu: CPU, memory: 4 * GI, pods: 110 }, { zone: n === 'n1' ? 'a' : 'b' });
  cache = new WatchCache({ kv: t.kv, prefixes: [STORE_PREFIX.pods, STORE_PREFIX.nodes, `${STORE_PREFIX.leases}nodes/`, STORE_PREFIX.desired], retryMs: 20 });
  cache.start();
  kv = cachedKV(t.kv, cache, { catchUpMs: 5000 });
});

afterEach(async () => {
  await cache.stop();
  await t.close();
});

const cpuOf = (p: Pod): number => Number.parseInt(String(p.spec.containers[0]!.resources?.requests?.cpu ?? '0m'), 10);

async function nodeRecord(name: string): Promise<NodeInfo | undefined> {
  const item = await t.kv.get(`${STORE_PREFIX.nodes}${name}`);
  return item ? (JSON.parse(Buffer.from(item.value).toString('utf8')) as NodeInfo) : undefined;
}

async function checkInvariants(step: string): Promise<void> {
  const pods = await readPods(t.kv);
  const used = new Map<string, number>();
  for (const p of pods.values()) {
    const n = p.spec.nodeName;
    if (n) used.set(n, (used.get(n) ?? 0) + cpuOf(p));
  }
  for (const [n, cpu] of used) expect(cpu, `${step}: cpu bound to ${n}`).toBeLessThanOrEqual(CPU);
  // A view built from nothing but the store: whatever it can still bind, the kept view missed.
  const fresh = await new SchedulingReconciler({ kv: t.kv, random: seededRandom(99) }).pass();
  expect(fresh.bound, `${step}: pods a fresh view could bind`).toEqual([]);
}

describe('the scheduling view kept across passes', () => {
  it('stays true to the store through pod deletes, cordons, relabels and node removal', async () => {
    const reconciler = new SchedulingReconciler({ kv, random: seededRandom(4) });
    const rand = seededRandom(11);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let serial = 0;
    let binds = 0;
    let frees = 0;
    for (let step = 0; step < 40; step++) {
      const pods = [...(await readPods(t.kv)).values()];
      const bound = pods.filter((p) => p.spec.nodeName);
      const op = step < 3 ? 'add' : pick(['add', 'add', 'delete-bound', 'delete-bound', 'delete-pending', 'cordon', 'relabel', 'remove-node', 'restore-node']);
      let what = op;
      if (op === 'add') {
        const n = 1 + Math.floor(rand() * 4);
        for (let i = 0; i < n; i++) {
          const selector = rand() < 0.2 ? { zone: 'b' } : undefined;
          await putPod(t.kv, pod(`p${serial++}`, { cpu: `${100 * (1 + Math.floor(rand() * 4))}m`, owner: `app${serial % 3}`, nodeSelector: selector }));
        }
        what = `add ${n}`;
      } else if (op === 'delete-bound' && bound.length > 0) {
        const victim = pick(bound);
        await t.kv.delete(`${STORE_PREFIX.pods}default/${victim.metadata.name}`);
        frees++;
        what = `delete ${victim.metadata.name} from ${victim.spec.nodeName}`;
      } else if (op === 'delete-pending') {
        const waiting = pods.filter((p) => !p.spec.nodeName);
        if (waiting.length > 0) await t.kv.delete(`${STORE_PREFIX.pods}default/${pick(waiting).metadata.name}`);
      } else if (op === 'cordon' || op === 'relabel') {
        const name = pick(NODES);
        const record = await nodeRecord(name);
        if (record) {
          const next: NodeInfo = op === 'cordon' ? { ...record, unschedulable: !record.unschedulable } : { ...record, labels: { ...record.labels, zone: record.labels?.zone === 'a' ? 'b' : 'a' } };
          await t.kv.put(`${STORE_PREFIX.nodes}${name}`, JSON.stringify(next));
          what = `${op} ${name}`;
        }
      } else if (op === 'remove-node') {
        const name = pick(NODES);
        // The node object goes; its pods stay bound to it in the store but hold nothing in the view.
        for (const p of bound.filter((b) => b.spec.nodeName === name)) await t.kv.delete(`${STORE_PREFIX.pods}default/${p.metadata.name}`);
        await t.kv.delete(`${STORE_PREFIX.nodes}${name}`);
        what = `remove ${name}`;
      } else if (op === 'restore-node') {
        const missing = [];
        for (const n of NODES) if (!(await nodeRecord(n))) missing.push(n);
        if (missing.length > 0) {
          const name = pick(missing);
          await registerNode(t.url, t.tokens.admin, name, { cpu: CPU, memory: 4 * GI, pods: 110 }, { zone: 'b' });
          what = `restore ${name}`;
        }
      }
      const r = await reconciler.pass();
      binds += r.bound.length;
      await checkInvariants(`step ${step} (${what})`);
    }
    // The run did exercise the view: pods were bound across passes and room was freed and reused.
    expect(binds).toBeGreaterThan(20);
    expect(frees).toBeGreaterThan(3);
  });
});
