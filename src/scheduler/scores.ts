// Scores, each 0..100 like kube-scheduler's (integer arithmetic, so equal nodes tie exactly
// and the seeded tie-break decides). Raw per-node values that need normalising across the
// scored nodes (spread, preferred affinity, PreferNoSchedule taints) are normalised by the
// scheduler with `normalize`.

import { toleratesAny } from './compile.js';
import { matchTerm } from './filters.js';
import type { CompiledPod, NodeState } from './compile.js';
import type { ScoreWeights } from './types.js';

export const MAX_NODE_SCORE = 100;

/** kube-scheduler's default plugin weights for the matching plugins. */
export const DEFAULT_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({
  leastAllocated: 1,
  balancedAllocation: 1,
  spread: 2,
  nodeAffinity: 2,
  taintToleration: 3,
});

function leastRequested(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** NodeResourcesFit/LeastAllocated: free share after placing the pod, cpu and memory weighted equally. */
export function leastAllocatedScore(pod: CompiledPod, node: NodeState): number {
  const cpu = leastRequested(node.usedCpu + pod.cpu, node.capCpu);
  const mem = leastRequested(node.usedMemory + pod.memory, node.capMemory);
  return Math.floor((cpu + mem) / 2);
}

/** NodeResourcesBalancedAllocation: 100 x (1 - standard deviation of the cpu and memory fractions). */
export function balancedAllocationScore(pod: CompiledPod, node: NodeState): number {
  const cpu = node.capCpu > 0 ? Math.min(1, (node.usedCpu + pod.cpu) / node.capCpu) : 1;
  const mem = node.capMemory > 0 ? Math.min(1, (node.usedMemory + pod.memory) / node.capMemory) : 1;
  // With two resources the standard deviation is half their difference.
  const std = Math.abs(cpu - mem) / 2;
  return Math.floor((1 - std) * MAX_NODE_SCORE);
}

/** Raw preferred-affinity value: sum of the weights of the preferred terms the node matches. */
export function preferredAffinityWeight(pod: CompiledPod, node: NodeState): number {
  const pref = pod.preferred;
  let sum = 0;
  for (let i = 0; i < pref.length; i++) if (matchTerm(pref[i].term, node)) sum += pref[i].weight;
  return sum;
}

/** Raw taint value: PreferNoSchedule taints the pod does not tolerate (fewer is better). */
export function intolerableSoftTaints(pod: CompiledPod, node: NodeState): number {
  const keys = node.softTaintKeys;
  let n = 0;
  for (let i = 0; i < keys.length; i++) {
    if (!toleratesAny(pod.tolerations, keys[i], node.softTaintValues[i], 'PreferNoSchedule')) n++;
  }
  return n;
}

/**
 * Maps a raw value onto 0..100 against the largest raw value among the scored nodes, as
 * kube-scheduler's DefaultNormalizeScore; `reverse` when fewer is better.
 */
export function normalize(raw: number, max: number, reverse: boolean): number {
  if (max === 0) return reverse ? MAX_NODE_SCORE : 0;
  const s = Math.floor((MAX_NODE_SCORE * raw) / max);
  return reverse ? MAX_NODE_SCORE - s : s;
}

/** SelectorSpread: 100 x (max - count) / max; every node scores 100 when no pod of the owner exists. */
export function spreadScore(count: number, max: number): number {
  if (max === 0) return MAX_NODE_SCORE;
  return Math.floor((MAX_NODE_SCORE * (max - count)) / max);
}
