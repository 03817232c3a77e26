// Inter-pod affinity and topology spread for one pod: compiled once from the pod, turned into
// per-cycle state (the counts it needs, the spread minimums) once per schedule() call, then
// read per node by the filter and the scores.

import type { CompiledPod, NodeState } from './compile.js';
import { toleratesAny } from './compile.js';
import { matchNodeAffinity } from './filters.js';
import { compileCondition, compileSelector, matchCondition, type Labels, type PodCondition } from './selector.js';
import { DomainCounts, TopologyIndex, domainOf, type AffinityTerm, type AntiHolders, type IndexedPod } from './topology.js';
import type { PodAffinityTerm, PodRequest, TopologySpreadConstraint } from './types.js';

export const FAIL_SPREAD_LABEL = 5;
export const FAIL_SPREAD = 6;
export const FAIL_POD_AFFINITY = 7;
export const FAIL_POD_ANTI_AFFINITY = 8;
export const FAIL_EXISTING_ANTI_AFFINITY = 9;

export const REASON_SPREAD = "node(s) didn't match pod topology spread constraints";
export const REASON_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
export const REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules";
export const REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

export interface CompiledSpread {
  key: string;
  maxSkew: number;
  minDomains: number;
  cond: PodCondition;
  honorAffinity: boolean;
  honorTaints: boolean;
  /** 1 when the incoming pod matches its own selector (it adds to the count where it goes). */
  self: number;
}

export interface CompiledTopology {
  namespace: string;
  labels: Labels;
  affinity: readonly AffinityTerm[];
  selfMatchesAffinity: boolean;
  anti: readonly AffinityTerm[];
  preferred: ReadonlyArray<{ term: AffinityTerm; weight: number }>;
  hard: readonly CompiledSpread[];
  soft: readonly CompiledSpread[];
  /** Node-affinity identity (nodeSelector, required terms), for caching eligible domains. */
  nodeAffinityId: string;
  tolerationsId: string;
  /** Any inter-pod affinity or spread at all. */
  active: boolean;
}

const NONE: readonly never[] = Object.freeze([]);
const NO_LABELS: Labels = Object.freeze({});

export function podNamespace(pod: PodRequest): string {
  if (pod.namespace !== undefined) return pod.namespace;
  const slash = pod.id.indexOf('/');
  return slash > 0 ? pod.id.slice(0, slash) : 'default';
}

function compileTerm(pod: PodRequest, ns: string, field: string, t: PodAffinityTerm, nsLabels: ReadonlyMap<string, Labels>): AffinityTerm {
  const sel = compileSelector(pod.id, `${field}.labelSelector`, t.labelSelector);
  const cond = compileCondition(pod.id, field, ns, sel, t.namespaces, t.namespaceSelector, nsLabels);
  return { cond, key: t.topologyKey, id: `${t.topologyKey}\u0001${cond.id}` };
}

/** A pod's required anti-affinity terms, which placed pods hold against newcomers. */
export function compileAntiTerms(pod: PodRequest, nsLabels: ReadonlyMap<string, Labels>): readonly AffinityTerm[] {
  const req = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!req || req.length === 0) return NONE;
  const ns = podNamespace(pod);
  return req.map((t, i) => compileTerm(pod, ns, `spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, t, nsLabels));
}

export function compileTopology(pod: PodRequest, nsLabels: ReadonlyMap<string, Labels>): CompiledTopology {
  const ns = podNamespace(pod);
  const labels = pod.labels ?? NO_LABELS;
  const aff = pod.affinity;
  if ((aff === undefined || (aff.podAffinity === undefined && aff.podAntiAffinity === undefined)) && (pod.topologySpreadConstraints === undefined || pod.topologySpreadConstraints.length === 0)) {
    // Most pods: nothing to compile; only placed pods' anti-affinity can concern them.
    return { namespace: ns, labels, affinity: NONE, selfMatchesAffinity: true, anti: NONE, preferred: NONE, hard: NONE, soft: NONE, nodeAffinityId: '', tolerationsId: '', active: false };
  }
  const pa = pod.affinity?.podAffinity;
  const paa = pod.affinity?.podAntiAffinity;
  const affinity = (pa?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t, i) =>
    compileTerm(pod, ns, `spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, t, nsLabels),
  );
  const preferred = [
    ...(pa?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w, i) => ({
      term: compileTerm(pod, ns, `spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}].podAffinityTerm`, w.podAffinityTerm, nsLabels),
      weight: w.weight,
    })),
    ...(paa?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((w, i) => ({
      term: compileTerm(pod, ns, `spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}].podAffinityTerm`, w.podAffinityTerm, nsLabels),
      weight: -w.weight,
    })),
  ];
  const hard: CompiledSpread[] = [];
  const soft: CompiledSpread[] = [];
  (pod.topologySpreadConstraints ?? []).forEach((c, i) => {
    const field = `spec.topologySpreadConstraints[${i}]`;
    const extra: Record<string, string> = {};
    for (const k of c.matchLabelKeys ?? []) if (labels[k] !== undefined) extra[k] = labels[k];
    const sel = compileSelector(pod.id, `${field}.labelSelector`, c.labelSelector, extra);
    const cond = compileCondition(pod.id, field, ns, sel, undefined, undefined, nsLabels);
    const spread: CompiledSpread = {
      key: c.topologyKey,
      maxSkew: c.maxSkew,
      minDomains: c.whenUnsatisfiable === 'DoNotSchedule' ? (c.minDomains ?? 1) : 1,
      cond,
      honorAffinity: (c.nodeAffinityPolicy ?? 'Honor') === 'Honor',
      honorTaints: c.nodeTaintsPolicy === 'Honor',
      self: matchCondition(cond, ns, labels) ? 1 : 0,
    };
    (c.whenUnsatisfiable === 'ScheduleAnyway' ? soft : hard).push(spread);
  });
  const anti = compileAntiTerms(pod, nsLabels);
  const na = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  return {
    namespace: ns,
    labels,
    affinity,
    selfMatchesAffinity: affinity.every((t) => matchCondition(t.cond, ns, labels)),
    anti,
    preferred,
    hard,
    soft,
    nodeAffinityId: hard.length + soft.length > 0 ? JSON.stringify([pod.nodeSelector ?? null, na ?? null]) : '',
    tolerationsId: hard.length + soft.length > 0 ? JSON.stringify(pod.tolerations ?? []) : '',
    active: affinity.length + anti.length + preferred.length + hard.length + soft.length > 0,
  };
}

/** Domains of a key over the nodes a constraint counts, and those nodes when not all of them. */
interface Eligible {
  epoch: number;
  domains: Map<string, number>;
  /** By node slot: 1 = counted; null = every node carrying the key. */
  nodes: Uint8Array | null;
}

export interface SpreadState {
  c: CompiledSpread;
  key: string;
  values: DomainTable;
  counts: ReadonlyMap<string, number>;
  min: number;
  domains: number;
  /** Score weight of a matching pod: log(domains + 2), as kube-scheduler. */
  weight: number;
}

/** Everything the per-node checks read for one pod in one cycle. */
export interface TopologyState {
  affinity: DomainCounts | null;
  affinityValues: DomainTable[];
  affinityEmpty: boolean;
  selfMatchesAffinity: boolean;
  anti: DomainCounts[];
  antiValues: DomainTable[];
  existing: AntiHolders[];
  existingValues: DomainTable[];
  hard: SpreadState[];
  soft: SpreadState[];
  preferred: Array<{ counts: DomainCounts; weight: number; values: DomainTable }>;
  /** Whether any filter here can fail. */
  filters: boolean;
}

export interface TopologyHost {
  readonly nodes: readonly NodeState[];
  readonly epoch: number;
  placed(): Iterable<[IndexedPod, NodeState]>;
}

/** Each node's domain for one key, by node slot: one array read in the per-node loops. */
export type DomainTable = ReadonlyArray<string | undefined>;

export class TopologyPlanner {
  readonly index = new TopologyIndex();
  private readonly eligible = new Map<string, Eligible>();
  private readonly tables = new Map<string, { epoch: number; values: Array<string | undefined> }>();

  /** The domain table of a key, rebuilt when nodes change. */
  table(key: string): DomainTable {
    const epoch = this.host.epoch;
    const hit = this.tables.get(key);
    if (hit && hit.epoch === epoch) return hit.values;
    const values: Array<string | undefined> = [];
    for (const node of this.host.nodes) values[node.slot] = domainOf(node, key);
    this.tables.set(key, { epoch, values });
    return values;
  }

  constructor(private readonly host: TopologyHost) {}

  /** The state for one pod now. Cheap when the pod has no inter-pod rules and no placed pod holds anti-affinity. */
  state(pod: CompiledPod, topo: CompiledTopology): TopologyState {
    const placed = () => this.host.placed();
    const existing: AntiHolders[] = [];
    this.index.holdersMatching(topo.namespace, topo.labels, existing);
    let affinity: DomainCounts | null = null;
    if (topo.affinity.length > 0) {
      affinity = this.index.counter(
        topo.affinity.map((t) => t.cond),
        topo.affinity.map((t) => t.key),
        placed,
      );
    }
    const anti = topo.anti.map((t) => this.index.counter([t.cond], [t.key], placed));
    const preferred = topo.preferred.map((p) => ({ counts: this.index.counter([p.term.cond], [p.term.key], placed), weight: p.weight, values: this.table(p.term.key) }));
    const hard = topo.hard.map((c) => this.spread(pod, topo, c));
    const soft = topo.soft.map((c) => this.spread(pod, topo, c));
    return {
      affinity,
      affinityValues: affinity === null ? [] : affinity.keys.map((k) => this.table(k)),
      antiValues: anti.map((a) => this.table(a.keys[0])),
      existingValues: existing.map((h) => this.table(h.term.key)),
      affinityEmpty: affinity === null || affinity.empty,
      selfMatchesAffinity: topo.selfMatchesAffinity,
      anti,
      existing,
      hard,
      soft,
      preferred,
      filters: affinity !== null || anti.length > 0 || existing.length > 0 || hard.length > 0,
    };
  }

  private spread(pod: CompiledPod, topo: CompiledTopology, c: CompiledSpread): SpreadState {
    const counter = this.index.counter([c.cond], [c.key], () => this.host.placed());
    const e = this.eligibleFor(pod, topo, c);
    let counts: ReadonlyMap<string, number>;
    if (e.nodes === null) counts = counter.byValue[0];
    else {
      const m = new Map<string, number>();
      for (const [node, n] of counter.byNode) {
        if (e.nodes[node.slot] !== 1) continue;
        const v = domainOf(node, c.key);
        if (v !== undefined) m.set(v, (m.get(v) ?? 0) + n);
      }
      counts = m;
    }
    let min = Number.POSITIVE_INFINITY;
    let seen = 0;
    for (const [v, n] of counts) {
      if (!e.domains.has(v)) continue;
      seen++;
      if (n < min) min = n;
    }
    if (seen < e.domains.size) min = 0;
    if (e.domains.size < c.minDomains || min === Number.POSITIVE_INFINITY) min = 0;
    return { c, key: c.key, values: this.table(c.key), counts, min, domains: e.domains.size, weight: Math.log(e.domains.size + 2) };
  }

  private eligibleFor(pod: CompiledPod, topo: CompiledTopology, c: CompiledSpread): Eligible {
    const byAffinity = c.honorAffinity && pod.constrained;
    const id = `${c.key}\u0001${byAffinity ? topo.nodeAffinityId : ''}\u0001${c.honorTaints ? topo.tolerationsId : ''}`;
    const epoch = this.host.epoch;
    const hit = this.eligible.get(id);
    if (hit && hit.epoch === epoch) return hit;
    const domains = new Map<string, number>();
    const filtered = byAffinity || c.honorTaints;
    let maxSlot = 0;
    for (const node of this.host.nodes) if (node.slot > maxSlot) maxSlot = node.slot;
    const nodes = filtered ? new Uint8Array(maxSlot + 1) : null;
    for (const node of this.host.nodes) {
      const v = domainOf(node, c.key);
      if (v === undefined) continue;
      if (byAffinity && !matchNodeAffinity(pod, node)) continue;
      if (c.honorTaints && !toleratesHard(pod, node)) continue;
      if (nodes !== null) nodes[node.slot] = 1;
      domains.set(v, (domains.get(v) ?? 0) + 1);
    }
    const e = { epoch, domains, nodes };
    this.eligible.set(id, e);
    return e;
  }
}

function toleratesHard(pod: CompiledPod, node: NodeState): boolean {
  for (let i = 0; i < node.hardTaintKeys.length; i++) {
    if (!toleratesAny(pod.tolerations, node.hardTaintKeys[i], node.hardTaintValues[i], node.hardTaintEffects[i])) return false;
  }
  return true;
}

/** PodTopologySpread then InterPodAffinity, kube-scheduler's order; FIT (0) or the failure code. */
export function filterTopology(s: TopologyState, node: NodeState): number {
  for (let i = 0; i < s.hard.length; i++) {
    const h = s.hard[i];
    const v = h.values[node.slot];
    if (v === undefined) return FAIL_SPREAD_LABEL;
    const n = h.counts.get(v);
    if ((n === undefined ? 0 : n) + h.c.self - h.min > h.c.maxSkew) return FAIL_SPREAD;
  }
  const a = s.affinity;
  if (a !== null) {
    let exist = true;
    for (let i = 0; i < a.keys.length; i++) {
      const v = s.affinityValues[i][node.slot];
      if (v === undefined) return FAIL_POD_AFFINITY;
      if ((a.byValue[i].get(v) ?? 0) <= 0) exist = false;
    }
    // The first pod of a group with affinity to itself may go anywhere its topology keys exist.
    if (!exist && !(s.affinityEmpty && s.selfMatchesAffinity)) return FAIL_POD_AFFINITY;
  }
  for (let i = 0; i < s.anti.length; i++) {
    const v = s.antiValues[i][node.slot];
    if (v !== undefined && (s.anti[i].byValue[0].get(v) ?? 0) > 0) return FAIL_POD_ANTI_AFFINITY;
  }
  for (let i = 0; i < s.existing.length; i++) {
    const h = s.existing[i];
    const v = s.existingValues[i][node.slot];
    if (v !== undefined && (h.byValue.get(v) ?? 0) > 0) return FAIL_EXISTING_ANTI_AFFINITY;
  }
  return 0;
}

/** Raw InterPodAffinity score: preferred affinity weights times matching pods in the node's domain, less anti-affinity's. */
export function interPodRaw(s: TopologyState, node: NodeState): number {
  let sum = 0;
  for (let i = 0; i < s.preferred.length; i++) {
    const p = s.preferred[i];
    const v = p.values[node.slot];
    if (v !== undefined) sum += p.weight * (p.counts.byValue[0].get(v) ?? 0);
  }
  return sum;
}

/** Raw PodTopologySpread score (fewer is better), or -1 when the node lacks a constraint's key. */
export function spreadRaw(s: TopologyState, node: NodeState): number {
  let sum = 0;
  for (let i = 0; i < s.soft.length; i++) {
    const t = s.soft[i];
    const v = t.values[node.slot];
    if (v === undefined) return -1;
    const n = t.counts.get(v);
    sum += (n === undefined ? 0 : n * t.weight) + (t.c.maxSkew - 1);
  }
  return sum;
}
