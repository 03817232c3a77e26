// Pods counted per topology domain, kept up to date as pods are assumed and forgotten, so
// inter-pod affinity and topology spread read a count per node instead of scanning pods.
//
// A counter is made the first time a term asks for it (one scan of the placed pods) and is
// then updated on every assume/forget. Counters whose selector names a `key: value` label are
// filed under that label, so placing a pod touches only the counters that could match it.

import type { NodeState } from './compile.js';
import { bucketLabel, matchCondition, type Labels, type PodCondition } from './selector.js';

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** A node's domain for a topology key; `kubernetes.io/hostname` falls back to the node's name. */
export function domainOf(node: NodeState, key: string): string | undefined {
  const v = node.labels.get(key);
  if (v !== undefined) return v;
  return key === HOSTNAME_LABEL ? node.name : undefined;
}

/** One inter-pod affinity term after compiling: which pods, and over which topology key. */
export interface AffinityTerm {
  cond: PodCondition;
  key: string;
  id: string;
}

/** What the index needs of a placed pod. */
export interface IndexedPod {
  namespace: string;
  labels: Labels;
  /** Required anti-affinity terms of this pod, which other pods must keep away from. */
  antiTerms: readonly AffinityTerm[];
}

/** Placed pods matching every condition, per domain of each key and per node. */
export class DomainCounts {
  readonly byValue: Map<string, number>[];
  readonly byNode = new Map<NodeState, number>();
  constructor(
    readonly conds: readonly PodCondition[],
    readonly keys: readonly string[],
  ) {
    this.byValue = keys.map(() => new Map());
  }

  matches(pod: IndexedPod): boolean {
    for (let i = 0; i < this.conds.length; i++) if (!matchCondition(this.conds[i], pod.namespace, pod.labels)) return false;
    return true;
  }

  add(node: NodeState, delta: number): void {
    for (let i = 0; i < this.keys.length; i++) {
      const v = domainOf(node, this.keys[i]);
      if (v !== undefined) bump(this.byValue[i], v, delta);
    }
    bump(this.byNode, node, delta);
  }

  /** Matching pods in the node's domain of key i (0 when the node has no such label). */
  at(node: NodeState, i = 0): number {
    const v = domainOf(node, this.keys[i]);
    return v === undefined ? 0 : (this.byValue[i].get(v) ?? 0);
  }

  /** No matching pod on any node carrying the keys. */
  get empty(): boolean {
    for (const m of this.byValue) if (m.size > 0) return false;
    return true;
  }
}

function bump<K>(m: Map<K, number>, k: K, delta: number): void {
  const n = (m.get(k) ?? 0) + delta;
  if (n > 0) m.set(k, n);
  else m.delete(k);
}

/** Existing pods holding one required anti-affinity term, per domain of its key. */
export interface AntiHolders {
  term: AffinityTerm;
  byValue: Map<string, number>;
}

class Buckets<T> {
  readonly byLabel = new Map<string, T[]>();
  readonly rest: T[] = [];
  add(label: string | null, item: T): void {
    if (label === null) {
      this.rest.push(item);
      return;
    }
    const list = this.byLabel.get(label);
    if (list) list.push(item);
    else this.byLabel.set(label, [item]);
  }
  /** Calls fn for each item that a pod with these labels could match. */
  each(labels: Labels, fn: (item: T) => void): void {
    if (this.byLabel.size > 0) {
      for (const k in labels) {
        const list = this.byLabel.get(`${k}\u0000${labels[k]}`);
        if (list) for (let i = 0; i < list.length; i++) fn(list[i]);
      }
    }
    for (let i = 0; i < this.rest.length; i++) fn(this.rest[i]);
  }
}

export class TopologyIndex {
  /** Placed pods by `key=value` label, so a new counter reads only the pods that could match. */
  private readonly byLabel = new Map<string, Map<IndexedPod, NodeState>>();
  private readonly counters = new Map<string, DomainCounts>();
  private counterBuckets = new Buckets<DomainCounts>();
  private readonly holders = new Map<string, AntiHolders>();
  private holderBuckets = new Buckets<AntiHolders>();

  /** The counter for these conditions and keys, made (from `placed`) on first use. */
  counter(conds: readonly PodCondition[], keys: readonly string[], placed: () => Iterable<[IndexedPod, NodeState]>): DomainCounts {
    const id = `${keys.join('\u0001')}\u0002${conds.map((c) => c.id).join('\u0003')}`;
    let c = this.counters.get(id);
    if (c) return c;
    c = new DomainCounts(conds, keys);
    const label = conds.length > 0 ? bucketLabel(conds[0]) : null;
    if (label !== null) {
      const some = this.byLabel.get(label);
      if (some) for (const [pod, node] of some) if (c.matches(pod)) c.add(node, 1);
    } else {
      for (const [pod, node] of placed()) if (c.matches(pod)) c.add(node, 1);
    }
    this.counters.set(id, c);
    this.counterBuckets.add(label, c);
    return c;
  }

  /** A pod placed (delta 1) or removed (-1) on a node. */
  update(pod: IndexedPod, node: NodeState, delta: number): void {
    const labels = pod.labels;
    for (const k in labels) {
      const key = `${k}\u0000${labels[k]}`;
      let m = this.byLabel.get(key);
      if (delta > 0) {
        if (!m) this.byLabel.set(key, (m = new Map()));
        m.set(pod, node);
      } else if (m) {
        m.delete(pod);
        if (m.size === 0) this.byLabel.delete(key);
      }
    }
    if (this.counters.size > 0) {
      this.counterBuckets.each(pod.labels, (c) => {
        if (c.matches(pod)) c.add(node, delta);
      });
    }
    for (const t of pod.antiTerms) {
      let h = this.holders.get(t.id);
      if (!h) {
        if (delta < 0) continue;
        h = { term: t, byValue: new Map() };
        this.holders.set(t.id, h);
        this.holderBuckets.add(bucketLabel(t.cond), h);
      }
      const v = domainOf(node, t.key);
      if (v !== undefined) bump(h.byValue, v, delta);
    }
  }

  get hasHolders(): boolean {
    return this.holders.size > 0;
  }

  /** Required anti-affinity terms of placed pods that this pod matches (the ones it must keep away from). */
  holdersMatching(namespace: string, labels: Labels, out: AntiHolders[]): void {
    if (this.holders.size === 0) return;
    this.holderBuckets.each(labels, (h) => {
      if (h.byValue.size > 0 && matchCondition(h.term.cond, namespace, labels)) out.push(h);
    });
  }

  /** Node labels changed: counts by domain are stale, so every counter is dropped and rebuilt on use. */
  reset(placed: Iterable<[IndexedPod, NodeState]>): void {
    this.counters.clear();
    this.counterBuckets = new Buckets();
    this.holders.clear();
    this.holderBuckets = new Buckets();
    this.byLabel.clear();
    for (const [pod, node] of placed) this.update(pod, node, 1);
  }
}
