// A small harness for the StatefulSet and DaemonSet controller tests: a real embedded store, a
// virtual clock, the fake kubelet (binds, marks Running and Ready, terminates) and one controller.
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { applyDefaults, type ManifestObject } from '../../src/api/index.js';
import { VirtualClock, type Controller } from '../../src/controllers/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { FakeKubelet, START, settle, type FakeKubeletOptions } from '../helpers/fake-kubelet.js';

const decoder = new TextDecoder();

export interface AppsHarness {
  kv: KV;
  clock: VirtualClock;
  kubelet: FakeKubelet;
  apply(obj: ManifestObject): Promise<void>;
  remove(kind: string, name: string): Promise<void>;
  drive(until: () => Promise<boolean>, maxSteps?: number): Promise<void>;
  list<T>(prefix: string): Promise<T[]>;
  pods(): Promise<Pod[]>;
  status<T>(kind: string, name: string): Promise<T | undefined>;
  /** Pod names after every store revision that touched pods. */
  history: Array<Array<{ name: string; ready: boolean; deleting: boolean; hash: string; node?: string }>>;
  close(): Promise<void>;
}

/**
 * `bind`: before each kubelet step, binds each unbound pod to the node this returns (the
 * scheduler's part); absent, the fake kubelet binds every pod to node-1.
 */
export async function appsHarness(
  make: (kv: KV, clock: VirtualClock) => Controller,
  kubelet: Partial<FakeKubeletOptions> = {},
  bind?: (pod: Pod) => string | undefined,
): Promise<AppsHarness> {
  const kv = await openEmbeddedStore();
  const clock = new VirtualClock(START);
  const ctl = make(kv, clock);
  ctl.start();
  const fake = new FakeKubelet({ kv, clock, readyAfterMs: 2000, ...kubelet });
  const list = async <T>(prefix: string): Promise<T[]> => (await kv.range(prefix, { prefix: true })).kvs.map((i) => JSON.parse(decoder.decode(i.value)) as T);
  const history: AppsHarness['history'] = [];
  const abort = new AbortController();
  const start = await kv.range(STORE_PREFIX.pods, { prefix: true });
  const pods = new Map<string, Pod>();
  const watch = kv.watch(STORE_PREFIX.pods, { prefix: true, fromRevision: start.revision + 1, signal: abort.signal });
  void (async () => {
    for await (const batch of watch) {
      for (const e of batch.events) {
        if (e.type === 'delete') pods.delete(e.kv.key);
        else pods.set(e.kv.key, JSON.parse(decoder.decode(e.kv.value)) as Pod);
      }
      history.push(
        [...pods.values()].map((p) => ({
          name: p.metadata.name,
          ready: p.status.ready,
          deleting: p.metadata.deletionRequestedAt !== undefined,
          hash: p.metadata.owner.revision,
          ...(p.spec.nodeName ? { node: p.spec.nodeName } : {}),
        })),
      );
    }
  })().catch(() => undefined);
  const h: AppsHarness = {
    kv,
    clock,
    kubelet: fake,
    history,
    async apply(obj) {
      const o = applyDefaults(obj);
      const record = { object: o, source: { file: 'apps/x.yaml', index: 0, line: 1, column: 1 }, commit: 'c0ffee', appliedAt: new Date(clock.now()).toISOString() };
      await kv.put(`${STORE_PREFIX.desired}${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, JSON.stringify(record));
    },
    async remove(kind, name) {
      await kv.delete(`${STORE_PREFIX.desired}${kind}/default/${name}`);
    },
    async drive(until, maxSteps = 300) {
      for (let i = 0; i < maxSteps; i++) {
        await settle(kv, [ctl]);
        if (await until()) return;
        if (bind) {
          let bound = 0;
          for (const item of (await kv.range(STORE_PREFIX.pods, { prefix: true })).kvs) {
            const pod = JSON.parse(decoder.decode(item.value)) as Pod;
            const node = pod.spec.nodeName || pod.metadata.deletionRequestedAt !== undefined ? undefined : bind(pod);
            if (node === undefined) continue;
            const next = { ...pod, spec: { ...pod.spec, nodeName: node }, status: { ...pod.status, startedAt: new Date(clock.now()).toISOString() } };
            const w = await kv.txn({ compare: [{ key: item.key, target: 'modRevision', op: '==', value: item.modRevision }], success: [{ type: 'put', key: item.key, value: JSON.stringify(next) }], failure: [] });
            if (w.succeeded) bound++;
          }
          if (bound > 0) continue;
        }
        if ((await fake.step()) > 0) continue;
        await settle(kv, [ctl]);
        if (await until()) return;
        const candidates = [fake.nextDueAt(), clock.nextAt()].filter((t): t is number => t !== undefined);
        if (candidates.length === 0) throw new Error('nothing left to happen and the condition does not hold');
        clock.advance(Math.max(0, Math.min(...candidates) - clock.now()));
      }
      throw new Error(`condition not reached after ${maxSteps} steps`);
    },
    list,
    pods: () => list<Pod>(STORE_PREFIX.pods),
    async status<T>(kind: string, name: string) {
      const item = await kv.get(`${STORE_PREFIX.status}${kind}/default/${name}`);
      return item ? (JSON.parse(decoder.decode(item.value)) as T) : undefined;
    },
    async close() {
      abort.abort();
      await ctl.stop();
      await kv.close();
    },
  };
  return h;
}

export function node(name: string, extra: Partial<NodeInfo> = {}): NodeInfo {
  return {
    name,
    labels: { 'kubernetes.io/hostname': name },
    capacity: { cpu: 4000, memory: 8 * 1024 ** 3, pods: 110 },
    runtime: 'process',
    status: { ready: true, lastHeartbeat: new Date(START).toISOString(), address: '127.0.0.1' },
    ...extra,
  };
}
