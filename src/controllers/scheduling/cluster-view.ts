// The scheduler core's cluster view, kept from one scheduling pass to the next. A pass used to
// build a fresh Scheduler and count every bound pod into it again; with thousands of pods that
// was most of the pass. Now each pass applies only what changed: nodes whose stored record or
// lease presence changed are upserted, nodes that are gone are removed, and a bound pod is
// counted again only when its stored record is a different one (records served from the watch
// cache stay the same object until the key changes, and so does the summary made of them).
// Whatever the view counted that is neither bound in the store nor pending is forgotten, so a
// pod placed by the last pass and deleted since frees its room.
import type { KeyValue } from '../../store/index.js';
import { Scheduler, type BoundPod, type NodeInfo, type PodRequest, type SchedulerOptions } from '../../scheduler/index.js';

interface Counted {
  /** The bound pod summary it was counted from; undefined when a pass placed it itself. */
  from: BoundPod | undefined;
  counted: BoundPod;
  /** The syncBound call that last saw the pod bound in the store. */
  seen: number;
}

export class ClusterView {
  readonly scheduler: Scheduler;
  /** Nodes as last applied: store revision of the record and whether it had a lease. */
  private readonly nodes = new Map<string, { modRevision: number; leased: boolean }>();
  private readonly counted = new Map<string, Counted>();
  private generation = 0;

  /** `key` names what the view was built under (namespace labels, priority classes): a new key means a new view. */
  constructor(
    readonly key: string,
    options: SchedulerOptions,
  ) {
    this.scheduler = new Scheduler(options);
  }

  /** Brings the nodes up to date with the stored node records and the names holding a node lease. */
  syncNodes(nodeKvs: readonly KeyValue[], leaseNames: ReadonlySet<string>, toInfo: (item: KeyValue, leased: boolean) => NodeInfo | undefined): void {
    const present = new Set<string>();
    for (const item of nodeKvs) {
      const leased = leaseNames.has(nameOf(item.key));
      const known = this.nodes.get(item.key);
      if (known === undefined || known.modRevision !== item.modRevision || known.leased !== leased) {
        const info = toInfo(item, leased);
        if (info === undefined) continue; // unreadable: as if it were not there
        this.scheduler.upsertNode(info);
        this.nodes.set(item.key, { modRevision: item.modRevision, leased });
      }
      present.add(item.key);
    }
    for (const key of this.nodes.keys()) {
      if (present.has(key)) continue;
      const name = nameOf(key);
      this.scheduler.removeNode(name);
      this.nodes.delete(key);
      for (const [id, c] of this.counted) if (c.counted.node === name) this.counted.delete(id);
    }
  }

  /**
   * Counts the pods bound in the store (`holding`, each as `effective` says it counts) and
   * forgets what no longer is. Pods on nodes the view does not know hold nothing.
   */
  syncBound(holding: readonly BoundPod[], effective: (b: BoundPod) => BoundPod): void {
    const gen = ++this.generation;
    for (const held of holding) {
      let c = this.counted.get(held.id);
      if (c === undefined || c.from !== held) {
        if (this.scheduler.allocated(held.node) === undefined) continue;
        const counted = effective(held);
        this.scheduler.assume(counted, counted.node);
        c = { from: held, counted, seen: gen };
        this.counted.set(held.id, c);
      }
      c.seen = gen;
    }
    for (const [id, c] of this.counted) {
      if (c.seen === gen) continue;
      this.scheduler.forget(id);
      this.counted.delete(id);
    }
  }

  /** The counted pod of `id`, bound in the store or placed by this pass. */
  bound(id: string): BoundPod | undefined {
    return this.counted.get(id)?.counted;
  }

  /** Every counted pod. */
  *boundPods(): IterableIterator<BoundPod> {
    for (const c of this.counted.values()) yield c.counted;
  }

  /** A placement the pass made itself (a bind, a preemption): counted until the store shows the pod. */
  assume(pod: PodRequest | BoundPod, node: string): void {
    this.scheduler.assume(pod, node);
    this.counted.set(pod.id, { from: undefined, counted: { ...pod, node }, seen: this.generation });
  }

  forget(id: string): void {
    this.scheduler.forget(id);
    this.counted.delete(id);
  }
}

/** The node name of a node record key (`/capstan/nodes/<name>`). */
function nameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
