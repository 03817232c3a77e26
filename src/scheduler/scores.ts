// Scores, each 0..100 like kube-scheduler's (integer arithmetic, so equal nodes tie exactly
// and the seeded tie-break decides). Raw per-node values that need normalising across the
// scored nodes (spread, preferred affinity, PreferNoSchedule taints) are normalised by the
// scheduler with `normalize`.

import { toleratesAny } from './compile.js';
import { matchTerm } from './filters.js';
import type { CompiledPod, NodeState } from './compile.js';
import { CapstanError } from '../common/index.js';
import type { ScoreWeights, ScoringStrategy } from './types.js';

export const MAX_NODE_SCORE = 100;

/** kube-scheduler's default plugin weights for the matching plugins. */
export const DEFAULT_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({
  leastAllocated: 1,
  balancedAllocation: 1,
  spread: 2,
  nodeAffinity: 2,
  taintToleration: 3,
  interPodAffinity: 2,
  topologySpread: 2,
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

/** A scoring strategy compiled for the per-node loop. */
export interface ResourceScorer {
  type: 0 | 1 | 2;
  cpuWeight: number;
  memoryWeight: number;
  /** RequestedToCapacityRatio: points (utilization 0..100 → score 0..100), utilization ascending. */
  xs: number[];
  ys: number[];
}

export const LEAST_ALLOCATED = 0;
export const MOST_ALLOCATED = 1;
export const REQUESTED_TO_CAPACITY_RATIO = 2;

/** Checks and compiles a scoringStrategy; errors name the field to fix. */
export function compileScoringStrategy(s: ScoringStrategy | undefined): ResourceScorer {
  const field = 'scoringStrategy';
  const bad = (f: string, m: string): CapstanError => new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${field}.${f}: ${m}`, { field: `${field}.${f}` });
  const type = s?.type ?? 'LeastAllocated';
  const code = type === 'LeastAllocated' ? LEAST_ALLOCATED : type === 'MostAllocated' ? MOST_ALLOCATED : type === 'RequestedToCapacityRatio' ? REQUESTED_TO_CAPACITY_RATIO : -1;
  if (code < 0) throw bad('type', `unknown strategy ${JSON.stringify(type)}; use LeastAllocated, MostAllocated or RequestedToCapacityRatio`);
  let cpuWeight = 1;
  let memoryWeight = 1;
  if (s?.resources !== undefined) {
    cpuWeight = 0;
    memoryWeight = 0;
    s.resources.forEach((r, i) => {
      if (!Number.isInteger(r.weight) || r.weight < 1 || r.weight > 100) throw bad(`resources[${i}].weight`, 'must be an integer from 1 to 100');
      if (r.name === 'cpu') cpuWeight = r.weight;
      else if (r.name === 'memory') memoryWeight = r.weight;
      else throw bad(`resources[${i}].name`, `only cpu and memory are scheduled, not ${JSON.stringify(r.name)}`);
    });
  }
  const xs: number[] = [];
  const ys: number[] = [];
  if (code === REQUESTED_TO_CAPACITY_RATIO) {
    const shape = s?.requestedToCapacityRatio?.shape ?? [];
    if (shape.length === 0) throw bad('requestedToCapacityRatio.shape', 'needs at least one {utilization, score} point');
    shape.forEach((p, i) => {
      if (!(p.utilization >= 0 && p.utilization <= 100)) throw bad(`requestedToCapacityRatio.shape[${i}].utilization`, 'must be from 0 to 100');
      if (!(p.score >= 0 && p.score <= 10)) throw bad(`requestedToCapacityRatio.shape[${i}].score`, 'must be from 0 to 10');
      if (i > 0 && p.utilization <= shape[i - 1].utilization) throw bad(`requestedToCapacityRatio.shape[${i}].utilization`, 'utilizations must increase');
      xs.push(p.utilization);
      ys.push(p.score * (MAX_NODE_SCORE / 10));
    });
  }
  return { type: code as 0 | 1 | 2, cpuWeight, memoryWeight, xs, ys };
}

function mostRequested(requested: number, capacity: number): number {
  if (capacity <= 0) return 0;
  if (requested > capacity) return MAX_NODE_SCORE;
  return Math.floor((requested * MAX_NODE_SCORE) / capacity);
}

/** The shape's value at a utilization, linear between points and flat beyond the ends. */
function shapeAt(r: ResourceScorer, utilization: number): number {
  const { xs, ys } = r;
  if (utilization <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (utilization <= xs[i]) return ys[i - 1] + Math.trunc(((ys[i] - ys[i - 1]) * (utilization - xs[i - 1])) / (xs[i] - xs[i - 1]));
  }
  return ys[ys.length - 1];
}

function ratioScore(r: ResourceScorer, requested: number, capacity: number): number {
  if (capacity <= 0) return 0;
  return shapeAt(r, Math.min(100, Math.floor((requested * 100) / capacity)));
}

/** NodeResourcesFit under the configured strategy: cpu and memory scores, weighted. */
export function resourceScore(r: ResourceScorer, pod: CompiledPod, node: NodeState): number {
  if (r.type === LEAST_ALLOCATED && r.cpuWeight === r.memoryWeight) return leastAllocatedScore(pod, node);
  const reqCpu = node.usedCpu + pod.cpu;
  const reqMem = node.usedMemory + pod.memory;
  let cpu: number;
  let mem: number;
  if (r.type === LEAST_ALLOCATED) {
    cpu = leastRequested(reqCpu, node.capCpu);
    mem = leastRequested(reqMem, node.capMemory);
  } else if (r.type === MOST_ALLOCATED) {
    cpu = mostRequested(reqCpu, node.capCpu);
    mem = mostRequested(reqMem, node.capMemory);
  } else {
    cpu = ratioScore(r, reqCpu, node.capCpu);
    mem = ratioScore(r, reqMem, node.capMemory);
  }
  const w = r.cpuWeight + r.memoryWeight;
  return w === 0 ? 0 : Math.floor((cpu * r.cpuWeight + mem * r.memoryWeight) / w);
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
