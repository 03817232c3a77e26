// A stand-in for the scheduler and node agents at their narrow seam, the pods in the store:
// binds unbound pods to one node, marks them Running and ready after a delay, and marks pods
// asked to stop as terminated. It acts only when `step()` is called, so a test decides when
// "the cluster" moves, and times come from the test's clock. Below it, a harness that runs
// the workload controllers against it on a real embedded store.
import { STORE_PREFIX, type HistoryEntry, type Pod, type Revision } from '../../src/api/cluster.js';
import { applyDefaults, type Deployment } from '../../src/api/index.js';
import {
  VirtualClock,
  createWorkloadControllers,
  type Clock,
  type Controller,
  type StoredWorkloadStatus,
  type WorkloadControllers,
} from '../../src/controllers/index.js';
import type { StrategyRegistry } from '../../src/rollout/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';

export interface FakeKubeletOptions {
  kv: KV;
  clock: Clock;
  nodeName?: string;
  /** From binding to Running + ready (default 1 s). */
  readyAfterMs?: number;
  /** From a deletion request to terminated (default 0: at the next step). */
  terminateAfterMs?: number;
  /** Pods that start but never become ready (a failing readiness probe). */
  neverReady?: (pod: Pod) => boolean;
}

const decoder = new TextDecoder();

export class FakeKubelet {
  private readonly kv: KV;
  private readonly clock: Clock;
  private readonly node: string;
  readyAfterMs: number;
  terminateAfterMs: number;
  neverReady: (pod: Pod) => boolean;
  private due: number | undefined;

  constructor(o: FakeKubeletOptions) {
    this.kv = o.kv;
    this.clock = o.clock;
    this.node = o.nodeName ?? 'node-1';
    this.readyAfterMs = o.readyAfterMs ?? 1000;
    this.terminateAfterMs = o.terminateAfterMs ?? 0;
    this.neverReady = o.neverReady ?? (() => false);
  }

  /** When the next pod will change if time moves on, as of the last step. */
  nextDueAt(): number | undefined {
    return this.due;
  }

  /** One pass over every pod; returns how many it changed. */
  async step(): Promise<number> {
    const now = this.clock.now();
    const iso = new Date(now).toISOString();
    this.due = undefined;
    const later = (at: number): void => {
      if (this.due === undefined || at < this.due) this.due = at;
    };
    const r = await this.kv.range(STORE_PREFIX.pods, { prefix: true });
    let changed = 0;
    for (const item of r.kvs) {
      const pod = JSON.parse(decoder.decode(item.value)) as Pod;
      let next: Pod | undefined;
      const deleting = pod.metadata.deletionRequestedAt;
      if (deleting !== undefined) {
        if (!pod.spec.nodeName || pod.status.terminatedAt !== undefined) continue;
        const at = Date.parse(deleting) + this.terminateAfterMs;
        if (now >= at) next = { ...pod, status: { ...pod.status, phase: 'Succeeded', ready: false, terminatedAt: iso } };
        else later(at);
      } else if (!pod.spec.nodeName) {
        next = { ...pod, spec: { ...pod.spec, nodeName: this.node }, status: { ...pod.status, startedAt: iso } };
        if (!this.neverReady(pod)) later(now + this.readyAfterMs);
      } else if (!pod.status.ready && !this.neverReady(pod)) {
        const at = Date.parse(pod.status.startedAt ?? iso) + this.readyAfterMs;
        if (now >= at) next = { ...pod, status: { ...pod.status, phase: 'Running', ready: true, readySince: iso } };
        else later(at);
      } else if (!pod.status.ready && pod.status.phase === 'Pending') {
        next = { ...pod, status: { ...pod.status, phase: 'Running' } }; // running, never ready
      }
      if (!next) continue;
      const w = await this.kv.txn({
        compare: [{ key: item.key, target: 'modRevision', op: '==', value: item.modRevision }],
        success: [{ type: 'put', key: item.key, value: JSON.stringify(next) }],
        failure: [],
      });
      if (w.succeeded) changed++;
    }
    return changed;
  }
}

/** Waits until the controllers are idle and the store has stopped changing. */
export async function settle(kv: KV, controllers: readonly Controller[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    for (const c of controllers) await c.waitIdle();
    const before = await kv.revision();
    await new Promise((r) => setTimeout(r, 5));
    let idle = true;
    for (const c of controllers) if ((c.queue?.length ?? 0) > 0) idle = false;
    if (idle && (await kv.revision()) === before) return;
  }
  throw new Error('the store kept changing: controllers did not settle');
}

export interface PodSample {
  revision: number;
  /** Pods without a deletion request. */
  active: number;
  /** Ready pods without a deletion request. */
  ready: number;
  /** Every pod key in the store. */
  total: number;
  /** Active pods by revision hash. */
  byHash: Record<string, number>;
  /** Every pod (terminating ones too) by revision hash. */
  allByHash: Record<string, number>;
}

/** Samples the pods after every store revision that touched them, starting from what exists now. */
export async function recordPods(kv: KV): Promise<{ samples: PodSample[]; stop(): void }> {
  const abort = new AbortController();
  const pods = new Map<string, Pod>();
  const samples: PodSample[] = [];
  const initial = await kv.range(STORE_PREFIX.pods, { prefix: true });
  for (const item of initial.kvs) pods.set(item.key, JSON.parse(decoder.decode(item.value)) as Pod);
  const sample = (revision: number): void => {
    const s: PodSample = { revision, active: 0, ready: 0, total: pods.size, byHash: {}, allByHash: {} };
    for (const p of pods.values()) {
      s.allByHash[p.metadata.owner.revision] = (s.allByHash[p.metadata.owner.revision] ?? 0) + 1;
      if (p.metadata.deletionRequestedAt !== undefined) continue;
      s.active++;
      if (p.status.ready) s.ready++;
      const h = p.metadata.owner.revision;
      s.byHash[h] = (s.byHash[h] ?? 0) + 1;
    }
    samples.push(s);
  };
  sample(initial.revision);
  const watch = kv.watch(STORE_PREFIX.pods, { prefix: true, fromRevision: initial.revision + 1, signal: abort.signal });
  const run = async (): Promise<void> => {
    for await (const batch of watch) {
      for (const e of batch.events) {
        if (e.type === 'delete') pods.delete(e.kv.key);
        else pods.set(e.kv.key, JSON.parse(decoder.decode(e.kv.value)) as Pod);
      }
      sample(batch.revision);
    }
  };
  run().catch(() => undefined);
  return { samples, stop: () => abort.abort() };
}

// ---- harness for the workload controller tests ----

export const START = Date.parse('2026-03-01T12:00:00.000Z');

/** A seeded [0, 1) source (mulberry32), so pod names repeat from run to run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function deployment(name: string, image: string, spec: Partial<Deployment['spec']> = {}): Deployment {
  return applyDefaults<Deployment>({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
      ...spec,
    },
  });
}

export interface Harness {
  kv: KV;
  clock: VirtualClock;
  ctl: WorkloadControllers;
  kubelet: FakeKubelet;
  apply(obj: Deployment | Record<string, unknown>, commit?: string): Promise<void>;
  remove(kind: string, name: string): Promise<void>;
  /** Runs the cluster until `until` holds; time moves only when nothing else would happen. */
  drive(until: () => Promise<boolean>, maxSteps?: number): Promise<void>;
  status(name: string, kind?: string): Promise<StoredWorkloadStatus | undefined>;
  pods(): Promise<Pod[]>;
  revisions(): Promise<Revision[]>;
  history(name: string): Promise<HistoryEntry[]>;
  list<T>(prefix: string): Promise<T[]>;
  /** Starts sampling the pods after every store revision from now on. */
  record(): Promise<{ samples: PodSample[]; stop(): void }>;
  close(): Promise<void>;
}

export async function harness(options: { kubelet?: Partial<FakeKubeletOptions>; registry?: StrategyRegistry } = {}): Promise<Harness> {
  const kv = await openEmbeddedStore();
  const clock = new VirtualClock(START);
  const ctl = createWorkloadControllers({ kv, clock, random: seeded(7), resyncMs: 0, ...(options.registry ? { registry: options.registry } : {}) });
  for (const c of ctl.all) c.start();
  const kubelet = new FakeKubelet({ kv, clock, readyAfterMs: 2000, ...options.kubelet });
  const recorders: { stop(): void }[] = [];

  async function list<T>(prefix: string): Promise<T[]> {
    const r = await kv.range(prefix, { prefix: true });
    return r.kvs.map((i) => JSON.parse(decoder.decode(i.value)) as T);
  }

  const h: Harness = {
    kv,
    clock,
    ctl,
    kubelet,
    async apply(obj, commit = 'c0ffee') {
      const o = obj as Deployment;
      const record = { object: o, source: { file: 'apps/web.yaml', index: 0, line: 1, column: 1 }, commit, appliedAt: new Date(clock.now()).toISOString() };
      await kv.put(`${STORE_PREFIX.desired}${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, JSON.stringify(record));
    },
    async remove(kind, name) {
      await kv.delete(`${STORE_PREFIX.desired}${kind}/default/${name}`);
    },
    async drive(until, maxSteps = 400) {
      for (let i = 0; i < maxSteps; i++) {
        await settle(kv, ctl.all);
        if (await until()) return;
        if ((await kubelet.step()) > 0) continue;
        await settle(kv, ctl.all);
        if (await until()) return;
        const candidates = [kubelet.nextDueAt(), clock.nextAt()].filter((t): t is number => t !== undefined);
        if (candidates.length === 0) throw new Error('nothing left to happen and the condition does not hold');
        clock.advance(Math.max(0, Math.min(...candidates) - clock.now()));
      }
      throw new Error(`condition not reached after ${maxSteps} steps`);
    },
    async status(name, kind = 'Deployment') {
      const item = await kv.get(`${STORE_PREFIX.status}${kind}/default/${name}`);
      return item ? (JSON.parse(decoder.decode(item.value)) as StoredWorkloadStatus) : undefined;
    },
    pods: () => list<Pod>(STORE_PREFIX.pods),
    revisions: () => list<Revision>(STORE_PREFIX.revisions),
    history: (name) => list<HistoryEntry>(`${STORE_PREFIX.history}default/${name}/`),
    list,
    async record() {
      const rec = await recordPods(kv);
      recorders.push(rec);
      return rec;
    },
    async close() {
      for (const r of recorders) r.stop();
      await Promise.all(ctl.all.map((c) => c.stop()));
      await kv.close();
    },
  };
  return h;
}
