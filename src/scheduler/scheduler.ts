// The scheduler over an in-memory cluster view: filter → score → pick, as kube-scheduler.
//
// Speed: like kube-scheduler's percentageOfNodesToScore, a pod stops filtering once enough
// feasible nodes are found (adaptive: 50% - nodes/125, at least 5% and at least 100 nodes)
// and the next pod starts where this one stopped, so every node gets its turn. At 5,000
// nodes that is 500 feasible nodes per pod instead of 5,000. A pod that fits nowhere still
// checks every node, so its failure message counts them all.

import { CapstanError } from '../common/index.js';
import { NodeState, compilePod, encodePort } from './compile.js';
import { MAX_NODE_SCORE } from './scores.js';
import type { CompiledPod } from './compile.js';
import { FIT, filterNode, formatUnschedulable, recordFailure } from './filters.js';
import { selectPreemption, type PreemptionHost } from './preemption.js';
import {
  DEFAULT_WEIGHTS,
  balancedAllocationScore,
  compileScoringStrategy,
  intolerableSoftTaints,
  normalize,
  preferredAffinityWeight,
  resourceScore,
  spreadScore,
  type ResourceScorer,
} from './scores.js';
import type { Labels } from './selector.js';
import type { AntiHolders, IndexedPod } from './topology.js';
import {
  FAIL_EXISTING_ANTI_AFFINITY,
  FAIL_POD_AFFINITY,
  FAIL_POD_ANTI_AFFINITY,
  FAIL_SPREAD,
  FAIL_SPREAD_LABEL,
  REASON_EXISTING_ANTI_AFFINITY,
  REASON_POD_AFFINITY,
  REASON_POD_ANTI_AFFINITY,
  REASON_SPREAD,
  REASON_SPREAD_LABEL,
  TopologyPlanner,
  compileAntiTerms,
  compileTopology,
  filterTopology,
  interPodRaw,
  podNamespace,
  spreadRaw,
  type CompiledTopology,
  type TopologyState,
} from './topology-state.js';
import type { Decision, DisruptionBudget, NodeInfo, PodRequest, Preemption, ScoreWeights, SchedulerOptions } from './types.js';

const TOPOLOGY_REASONS: Record<number, string> = {
  [FAIL_SPREAD_LABEL]: REASON_SPREAD_LABEL,
  [FAIL_SPREAD]: REASON_SPREAD,
  [FAIL_POD_AFFINITY]: REASON_POD_AFFINITY,
  [FAIL_POD_ANTI_AFFINITY]: REASON_POD_ANTI_AFFINITY,
  [FAIL_EXISTING_ANTI_AFFINITY]: REASON_EXISTING_ANTI_AFFINITY,
};

function recordCode(code: number, node: NodeState, counts: Map<string, number>): void {
  const topo = TOPOLOGY_REASONS[code];
  if (topo !== undefined) counts.set(topo, (counts.get(topo) ?? 0) + 1);
  else recordFailure(code, node, counts);
}

/** Below this many nodes every node is checked (kube-scheduler's minFeasibleNodesToFind). */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
/** Floor of the adaptive percentage (kube-scheduler's minFeasibleNodesPercentageToFind). */
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

/** How many feasible nodes to find before scoring; kube-scheduler's numFeasibleNodesToFind. */
export function numFeasibleNodesToFind(numAllNodes: number, percentageOfNodesToScore = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  let percentage = percentageOfNodesToScore;
  if (percentage <= 0) {
    percentage = 50 - Math.trunc(numAllNodes / 125);
    if (percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  if (percentage >= 100) return numAllNodes;
  const n = Math.trunc((numAllNodes * percentage) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

/** Above this many nodes, an owner's counts move from a map to an array indexed by node slot. */
const DENSE_OWNER_NODES = 32;

/**
 * Pods of one owner per node. Most owners sit on a few nodes (a map); a large one is read for
 * every scored node, so it gets an array, which needs no per-pick preparation.
 */
class OwnerCounts {
  sparse: Map<number, number> | null = new Map();
  dense: Int32Array | null = null;
  pods = 0;

  add(slot: number, delta: number, slots: number): void {
    this.pods += delta;
    if (this.dense !== null) {
      if (slot >= this.dense.length) {
        const grown = new Int32Array(Math.max(slots, slot + 1));
        grown.set(this.dense);
        this.dense = grown;
      }
      this.dense[slot] += delta;
      return;
    }
    const sparse = this.sparse as Map<number, number>;
    const n = (sparse.get(slot) ?? 0) + delta;
    if (n > 0) sparse.set(slot, n);
    else sparse.delete(slot);
    if (sparse.size > DENSE_OWNER_NODES) {
      this.dense = new Int32Array(Math.max(slots, slot + 1));
      for (const [k, v] of sparse) this.dense[k] = v;
      this.sparse = null;
    }
  }
}

/** A pod the view counts on a node. */
export interface Placement extends IndexedPod {
  id: string;
  node: NodeState;
  owner: string | null;
  cpu: number;
  memory: number;
  ports: number[];
  priority: number;
  terminating: boolean;
  startTime: number;
  /** Index in its node's pod list. */
  at?: number;
}

export class Scheduler {
  private nodes: NodeState[] = [];
  private readonly byName = new Map<string, NodeState>();
  private readonly placements = new Map<string, Placement>();
  private readonly onNode = new Map<NodeState, Placement[]>();
  /** Bumped when nodes come, go or change, so cached per-node facts are rebuilt. */
  private nodeEpoch = 0;
  private readonly topology: TopologyPlanner;
  private readonly scorer: ResourceScorer;
  private readonly namespaceLabels: Map<string, Labels>;
  private readonly candidatePercentage: number;
  private readonly candidateAbsolute: number;
  private rawInterPod = new Float64Array(0);
  private rawTopology = new Float64Array(0);
  private readonly owners = new Map<string, OwnerCounts>();
  /** Node slots: one per node, reused after a node is removed (its pods are forgotten first). */
  private slots = 0;
  private readonly freeSlots: number[] = [];
  // Per slot, the pick's owner count for owners kept in a map, valid while the epoch matches.
  private spreadEpoch = 0;
  private stampEpoch = new Float64Array(0);
  private stampCount = new Int32Array(0);
  private readonly random: () => number;
  private readonly percentage: number;
  private readonly weights: ScoreWeights;
  private nextStartNodeIndex = 0;
  // Scratch space reused by every schedule() call.
  private feasible: NodeState[] = [];
  private rawSpread = new Float64Array(0);
  private rawAffinity = new Float64Array(0);
  private rawTaints = new Float64Array(0);
  private failedNodes: NodeState[] = [];
  private failedCodes = new Int32Array(0);

  constructor(options: SchedulerOptions) {
    this.random = options.random;
    this.percentage = options.percentageOfNodesToScore ?? 0;
    this.weights = { ...DEFAULT_WEIGHTS, ...(options.weights ?? {}) };
    this.scorer = compileScoringStrategy(options.scoringStrategy);
    this.namespaceLabels = new Map(Object.entries(options.namespaceLabels ?? {}));
    this.candidatePercentage = options.minCandidateNodesPercentage ?? 10;
    this.candidateAbsolute = options.minCandidateNodesAbsolute ?? 100;
    const self = this;
    this.topology = new TopologyPlanner({
      get nodes() {
        return self.nodes;
      },
      get epoch() {
        return self.nodeEpoch;
      },
      placed: () => this.placedPods(),
    });
    for (const n of options.nodes ?? []) this.upsertNode(n);
    for (const p of options.pods ?? []) this.assume(p, p.node);
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Adds a node, or replaces its spec while keeping the pods already placed on it. */
  upsertNode(info: NodeInfo): void {
    this.nodeEpoch++;
    const prev = this.byName.get(info.name);
    if (prev) {
      const before = prev.labels;
      prev.apply(info);
      if (!sameLabels(before, prev.labels)) this.topology.index.reset(this.placedPods());
      return;
    }
    const node = new NodeState(info);
    node.slot = this.freeSlots.pop() ?? this.slots++;
    this.nodes.push(node);
    this.byName.set(info.name, node);
    this.growScratch();
  }

  /** Removes a node and forgets the pods placed on it. */
  removeNode(name: string): boolean {
    const node = this.byName.get(name);
    if (!node) return false;
    this.nodeEpoch++;
    this.byName.delete(name);
    this.nodes.splice(this.nodes.indexOf(node), 1);
    for (const [id, p] of this.placements) if (p.node === node) this.forget(id);
    this.onNode.delete(node);
    this.freeSlots.push(node.slot);
    if (this.nextStartNodeIndex >= this.nodes.length) this.nextStartNodeIndex = 0;
    return true;
  }

  /** Chooses a node for the pod. Does not change allocations: call assume() with the choice. */
  schedule(pod: PodRequest): Decision {
    const compiled = compilePod(pod);
    const topo = compileTopology(pod, this.namespaceLabels);
    const ts = topo.active || this.topology.index.hasHolders ? this.topology.state(compiled, topo) : null;
    const topoFilters = ts !== null && ts.filters;
    const nodes = this.nodes;
    const total = nodes.length;
    const want = numFeasibleNodesToFind(total, this.percentage);
    const feasible = this.feasible;
    const failedNodes = this.failedNodes;
    const failedCodes = this.failedCodes;
    let failed = 0;
    const start = this.nextStartNodeIndex;
    let found = 0;
    let processed = 0;
    for (let i = 0; i < total && found < want; i++) {
      let idx = start + i;
      if (idx >= total) idx -= total;
      const node = nodes[idx];
      processed++;
      let code = filterNode(compiled, node);
      if (code === FIT && topoFilters) code = filterTopology(ts, node);
      if (code === FIT) feasible[found++] = node;
      else {
        // Reasons are only reported when nothing fits; keep the loop cheap until then.
        failedNodes[failed] = node;
        failedCodes[failed++] = code;
      }
    }
    this.nextStartNodeIndex = total === 0 ? 0 : (start + processed) % total;
    if (found === 0) {
      const failures = new Map<string, number>();
      for (let i = 0; i < failed; i++) recordCode(failedCodes[i], failedNodes[i], failures);
      failedNodes.fill(undefined as unknown as NodeState, 0, failed);
      return {
        fits: false,
        reason: formatUnschedulable(total, failures),
        failures: Object.fromEntries(failures),
        evaluatedNodes: processed,
        feasibleNodes: 0,
      };
    }
    const { index, score } = this.pick(compiled, found, ts);
    return { fits: true, node: feasible[index].name, score, evaluatedNodes: processed, feasibleNodes: found };
  }

  /** Records the pod on the node (a decision not yet bound), so later decisions count it. */
  assume(pod: PodRequest & { terminating?: boolean; startTime?: number }, nodeName: string): void {
    const node = this.byName.get(nodeName);
    if (!node) {
      throw new CapstanError('CAPSTAN_ERR_SCHEDULER_UNKNOWN_NODE', `node ${nodeName} is not in the cluster view`, {
        context: { node: nodeName, pod: pod.id },
      });
    }
    this.forget(pod.id);
    this.place({
      id: pod.id,
      node,
      owner: pod.owner ?? null,
      cpu: pod.cpu,
      memory: pod.memory,
      ports: (pod.hostPorts ?? []).map((hp) => encodePort(hp.port, hp.protocol)),
      namespace: podNamespace(pod),
      labels: pod.labels ?? {},
      antiTerms: compileAntiTerms(pod, this.namespaceLabels),
      priority: pod.priority ?? 0,
      terminating: pod.terminating === true,
      startTime: pod.startTime ?? 0,
    });
  }

  /** Undoes assume() (binding failed, or the pod is gone). Returns false when the pod was unknown. */
  forget(podOrId: PodRequest | string): boolean {
    const id = typeof podOrId === 'string' ? podOrId : podOrId.id;
    const p = this.placements.get(id);
    if (!p) return false;
    this.unplace(p);
    return true;
  }

  private place(p: Placement): void {
    const node = p.node;
    node.usedCpu += p.cpu;
    node.usedMemory += p.memory;
    node.podCount++;
    if (p.owner !== null) {
      let counts = this.owners.get(p.owner);
      if (!counts) this.owners.set(p.owner, (counts = new OwnerCounts()));
      counts.add(node.slot, 1, this.slots);
    }
    if (p.ports.length > 0) {
      node.ports ??= new Map();
      for (const port of p.ports) node.ports.set(port, (node.ports.get(port) ?? 0) + 1);
    }
    this.placements.set(p.id, p);
    let list = this.onNode.get(node);
    if (!list) this.onNode.set(node, (list = []));
    p.at = list.length;
    list.push(p);
    this.topology.index.update(p, node, 1);
  }

  private unplace(p: Placement): void {
    this.placements.delete(p.id);
    const node = p.node;
    const list = this.onNode.get(node);
    if (list && p.at !== undefined && list[p.at] === p) {
      const last = list.pop() as Placement;
      if (last !== p) {
        list[p.at] = last;
        last.at = p.at;
      }
    }
    this.topology.index.update(p, node, -1);
    node.usedCpu -= p.cpu;
    node.usedMemory -= p.memory;
    node.podCount--;
    const counts = p.owner === null ? undefined : this.owners.get(p.owner);
    if (counts) {
      counts.add(node.slot, -1, this.slots);
      if (counts.pods === 0) this.owners.delete(p.owner as string);
    }
    if (node.ports !== null) {
      for (const port of p.ports) {
        const n = (node.ports.get(port) ?? 1) - 1;
        if (n === 0) node.ports.delete(port);
        else node.ports.set(port, n);
      }
    }
  }

  private *placedPods(): Generator<[IndexedPod, NodeState]> {
    for (const p of this.placements.values()) yield [p, p.node];
  }

  /**
   * When a pod fits nowhere, whether evicting lower-priority pods on one node would make room:
   * kube-scheduler's DefaultPreemption (nodes where only resolvable filters failed, victims
   * chosen by lowest priority with PodDisruptionBudgets honoured where possible, then the node
   * with the fewest budget violations, the lowest highest victim priority, the smallest sum of
   * priorities, the fewest victims, the latest start). The view is left as it was.
   */
  preempt(pod: PodRequest, budgets: readonly DisruptionBudget[] = []): Preemption | undefined {
    if (pod.preemptionPolicy === 'Never') return undefined;
    const compiled = compilePod(pod);
    const topo = compileTopology(pod, this.namespaceLabels);
    const host: PreemptionHost = {
      nodes: this.nodes,
      podsOn: (node) => this.onNode.get(node) ?? [],
      remove: (p) => this.unplace(p),
      restore: (p) => this.place(p),
      failure: (node) => this.fitCode(compiled, topo, node),
      random: this.random,
    };
    if (compiled.ports.length === 0 && !topo.active && !this.concernsHolders(topo)) {
      host.resourcesOnly = { cpu: compiled.cpu, memory: compiled.memory, volumeNode: compiled.volumeNode };
    }
    return selectPreemption(host, pod.priority ?? 0, budgets, this.candidatePercentage, this.candidateAbsolute);
  }

  /** Whether a placed pod's required anti-affinity matches this pod. */
  private concernsHolders(topo: CompiledTopology): boolean {
    if (!this.topology.index.hasHolders) return false;
    const out: AntiHolders[] = [];
    this.topology.index.holdersMatching(topo.namespace, topo.labels, out);
    return out.length > 0;
  }

  /** Every filter on one node, the topology state read fresh: FIT or the failure code. */
  private fitCode(compiled: CompiledPod, topo: CompiledTopology, node: NodeState): number {
    const code = filterNode(compiled, node);
    if (code !== FIT || !(topo.active || this.topology.index.hasHolders)) return code;
    const ts = this.topology.state(compiled, topo);
    return ts.filters ? filterTopology(ts, node) : FIT;
  }

  /** Where an assumed pod is, if anywhere. */
  nodeOf(podId: string): string | undefined {
    return this.placements.get(podId)?.node.name;
  }

  /** What is allocated on a node: requests summed over its pods. */
  allocated(nodeName: string): { cpu: number; memory: number; pods: number } | undefined {
    const n = this.byName.get(nodeName);
    return n ? { cpu: n.usedCpu, memory: n.usedMemory, pods: n.podCount } : undefined;
  }

  /** Scores the first `count` feasible nodes and picks the best; ties go to a seeded reservoir draw. */
  private pick(pod: CompiledPod, count: number, ts: TopologyState | null): { index: number; score: number } {
    const feasible = this.feasible;
    const w = this.weights;
    const rawSpread = this.rawSpread;
    const rawAffinity = this.rawAffinity;
    const rawTaints = this.rawTaints;
    let maxSpread = 0;
    let maxAffinity = 0;
    let maxTaints = 0;
    const ownerCounts = pod.owner === null ? undefined : this.owners.get(pod.owner);
    const useSpread = w.spread !== 0 && ownerCounts !== undefined;
    // A small owner's nodes are stamped once instead of a map lookup per scored node.
    const epoch = ++this.spreadEpoch;
    const dense = useSpread ? ownerCounts.dense : null;
    const stampEpoch = this.stampEpoch;
    const stampCount = this.stampCount;
    if (useSpread && ownerCounts.sparse !== null) {
      for (const [slot, n] of ownerCounts.sparse) {
        stampCount[slot] = n;
        stampEpoch[slot] = epoch;
      }
    }
    const useAffinity = w.nodeAffinity !== 0 && pod.preferred.length > 0;
    const useTaints = w.taintToleration !== 0;
    const useInterPod = ts !== null && ts.preferred.length > 0 && w.interPodAffinity !== 0;
    const useTopology = ts !== null && ts.soft.length > 0 && w.topologySpread !== 0;
    const rawInterPod = this.rawInterPod;
    const rawTopology = this.rawTopology;
    let minInterPod = Number.POSITIVE_INFINITY;
    let maxInterPod = Number.NEGATIVE_INFINITY;
    let minTopology = Number.POSITIVE_INFINITY;
    let maxTopology = 0;
    for (let i = 0; i < count; i++) {
      const node = feasible[i];
      if (useInterPod) {
        const v = interPodRaw(ts, node);
        rawInterPod[i] = v;
        if (v < minInterPod) minInterPod = v;
        if (v > maxInterPod) maxInterPod = v;
      }
      if (useTopology) {
        const v = spreadRaw(ts, node);
        rawTopology[i] = v;
        if (v >= 0) {
          if (v < minTopology) minTopology = v;
          if (v > maxTopology) maxTopology = v;
        }
      }
      if (useSpread) {
        const slot = node.slot;
        const v = dense !== null ? (slot < dense.length ? dense[slot] : 0) : stampEpoch[slot] === epoch ? stampCount[slot] : 0;
        rawSpread[i] = v;
        if (v > maxSpread) maxSpread = v;
      }
      if (useAffinity) {
        const v = preferredAffinityWeight(pod, node);
        rawAffinity[i] = v;
        if (v > maxAffinity) maxAffinity = v;
      }
      if (useTaints && node.softTaintKeys.length > 0) {
        const v = intolerableSoftTaints(pod, node);
        rawTaints[i] = v;
        if (v > maxTaints) maxTaints = v;
      } else {
        rawTaints[i] = 0;
      }
    }
    let best = -1;
    let bestScore = -1;
    let ties = 0;
    for (let i = 0; i < count; i++) {
      const node = feasible[i];
      let s = 0;
      if (w.leastAllocated !== 0) s += w.leastAllocated * resourceScore(this.scorer, pod, node);
      if (w.balancedAllocation !== 0) s += w.balancedAllocation * balancedAllocationScore(pod, node);
      if (w.spread !== 0) s += w.spread * (useSpread ? spreadScore(rawSpread[i], maxSpread) : 100);
      if (useAffinity) s += w.nodeAffinity * normalize(rawAffinity[i], maxAffinity, false);
      if (useTaints) s += w.taintToleration * normalize(rawTaints[i], maxTaints, true);
      if (useInterPod && maxInterPod > minInterPod) {
        s += w.interPodAffinity * Math.floor((MAX_NODE_SCORE * (rawInterPod[i] - minInterPod)) / (maxInterPod - minInterPod));
      }
      if (useTopology) {
        // kube-scheduler's PodTopologySpread normalisation; nodes without the keys score 0.
        const v = rawTopology[i];
        if (v >= 0) s += w.topologySpread * (maxTopology === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (maxTopology + minTopology - v)) / maxTopology));
      }
      if (s > bestScore) {
        bestScore = s;
        best = i;
        ties = 1;
      } else if (s === bestScore) {
        ties++;
        if (Math.floor(this.random() * ties) === 0) best = i;
      }
    }
    return { index: best, score: bestScore };
  }

  private growScratch(): void {
    if (this.stampEpoch.length < this.slots) {
      const size = Math.max(this.slots, this.stampEpoch.length * 2, 16);
      this.stampEpoch = new Float64Array(size);
      this.stampCount = new Int32Array(size);
      // New arrays hold epoch 0, which no pick uses (the epoch is incremented first).
      this.spreadEpoch = 0;
    }
    const n = this.nodes.length;
    if (this.rawSpread.length >= n) return;
    const size = Math.max(n, this.rawSpread.length * 2, 16);
    this.rawSpread = new Float64Array(size);
    this.rawAffinity = new Float64Array(size);
    this.rawTaints = new Float64Array(size);
    this.rawInterPod = new Float64Array(size);
    this.rawTopology = new Float64Array(size);
    this.feasible = new Array<NodeState>(size);
    this.failedNodes = new Array<NodeState>(size);
    this.failedCodes = new Int32Array(size);
  }
}

function sameLabels(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
