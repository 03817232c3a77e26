// kube-scheduler's DefaultPreemption over the cluster view: a dry run per node (remove every
// lower-priority pod, check the preemptor fits, then give back as many as can stay, the most
// important first and those a PodDisruptionBudget protects before the others), then one node
// chosen by Kubernetes' order. The host undoes every removal before this returns.

import type { NodeState } from './compile.js';
import { FAIL_AFFINITY, FAIL_CPU, FAIL_MEMORY, FAIL_PODS, FAIL_TAINT, FAIL_UNSCHEDULABLE, FAIL_VOLUME_NODE, FIT } from './filters.js';

const RESOURCE_BITS = FAIL_CPU | FAIL_MEMORY | FAIL_PODS;
import type { Placement } from './scheduler.js';
import { compileSelector, matchSelector, type CompiledSelector } from './selector.js';
import { FAIL_POD_AFFINITY, FAIL_SPREAD_LABEL } from './topology-state.js';
import type { DisruptionBudget, Preemption } from './types.js';

export interface PreemptionHost {
  readonly nodes: readonly NodeState[];
  podsOn(node: NodeState): readonly Placement[];
  remove(p: Placement): void;
  restore(p: Placement): void;
  /** The preemptor's filter result on the node as the view is now. */
  failure(node: NodeState): number;
  random(): number;
  /**
   * Set when only cpu, memory and the pod count can stand in the way (no host ports, no inter-pod
   * rules, no placed pod's anti-affinity against it): the dry run is then arithmetic on the node.
   */
  resourcesOnly?: { cpu: number; memory: number; volumeNode: string | null };
}

/** Failures evicting pods cannot cure (kube-scheduler's UnschedulableAndUnresolvable). */
export function unresolvable(code: number): boolean {
  return (
    code === FAIL_UNSCHEDULABLE ||
    code === FAIL_AFFINITY ||
    code === FAIL_VOLUME_NODE ||
    code === FAIL_SPREAD_LABEL ||
    code === FAIL_POD_AFFINITY ||
    code >= FAIL_TAINT
  );
}

/** DefaultPreemption's candidate count: a share of the nodes, at least an absolute number. */
export function numCandidates(nodes: number, percentage: number, absolute: number): number {
  let n = Math.trunc((nodes * percentage) / 100);
  if (n < absolute) n = absolute;
  return n > nodes ? nodes : n;
}

/** Higher priority first, then the one that started earlier (kube-scheduler's MoreImportantPod). */
function moreImportant(a: Placement, b: Placement): number {
  return b.priority - a.priority || a.startTime - b.startTime;
}

interface Budget {
  namespace: string;
  selector: CompiledSelector;
  allowed: number;
}

function compileBudgets(budgets: readonly DisruptionBudget[]): Budget[] {
  return budgets.map((b, i) => ({
    namespace: b.namespace,
    selector: compileSelector(`PodDisruptionBudget[${i}]`, 'spec.selector', b.selector),
    allowed: b.disruptionsAllowed,
  }));
}

/** Splits victims (most important first) into those whose eviction a budget forbids and the rest. */
function splitByBudget(victims: Placement[], budgets: Budget[]): { violating: Placement[]; other: Placement[] } {
  const allowed = budgets.map((b) => b.allowed);
  const violating: Placement[] = [];
  const other: Placement[] = [];
  for (const v of victims) {
    let violated = false;
    budgets.forEach((b, i) => {
      // An empty selector selects nothing here, as in kube-scheduler's preemption.
      if (b.namespace !== v.namespace || (b.selector.labelKeys.length === 0 && b.selector.exprKeys.length === 0)) return;
      if (!matchSelector(b.selector, v.labels)) return;
      allowed[i]--;
      if (allowed[i] < 0) violated = true;
    });
    (violated ? violating : other).push(v);
  }
  return { violating, other };
}

/** Insertion sort, most important first: victim lists are short, and this allocates nothing. */
function sortByImportance(list: Placement[], n: number): void {
  for (let i = 1; i < n; i++) {
    const x = list[i];
    let j = i - 1;
    while (j >= 0 && moreImportant(list[j], x) > 0) {
      list[j + 1] = list[j];
      j--;
    }
    list[j + 1] = x;
  }
}

/** A dry run's outcome, reused across nodes. */
class Scratch {
  lower: Placement[] = [];
  victims: Placement[] = [];
  count = 0;
  violations = 0;
}

/**
 * The dry run when only resources matter: no view changes, just sums. Fills `out.victims`
 * (most important first); false when evicting every lower-priority pod is still not enough.
 */
function dryRunResources(host: PreemptionHost, ask: { cpu: number; memory: number }, node: NodeState, priority: number, budgets: Budget[], out: Scratch): boolean {
  const lower = out.lower;
  let n = 0;
  let cpu = node.usedCpu;
  let memory = node.usedMemory;
  let pods = node.podCount;
  const on = host.podsOn(node);
  for (let i = 0; i < on.length; i++) {
    const p = on[i];
    if (p.priority < priority && !p.terminating) {
      lower[n++] = p;
      cpu -= p.cpu;
      memory -= p.memory;
      pods--;
    }
  }
  if (n === 0) return false;
  const capCpu = node.capCpu - ask.cpu;
  const capMemory = node.capMemory - ask.memory;
  const capPods = node.capPods - 1;
  const checkCpu = ask.cpu > 0;
  const checkMemory = ask.memory > 0;
  if (pods > capPods || (checkCpu && cpu > capCpu) || (checkMemory && memory > capMemory)) return false;
  sortByImportance(lower, n);
  out.count = 0;
  out.violations = 0;
  let order: Placement[] = lower;
  let violating = 0;
  if (budgets.length > 0) {
    const split = splitByBudget(lower.slice(0, n), budgets);
    order = [...split.violating, ...split.other];
    violating = split.violating.length;
  }
  for (let i = 0; i < n; i++) {
    const p = order[i];
    if (pods + 1 <= capPods && (!checkCpu || cpu + p.cpu <= capCpu) && (!checkMemory || memory + p.memory <= capMemory)) {
      cpu += p.cpu;
      memory += p.memory;
      pods++;
    } else {
      out.victims[out.count++] = p;
      if (i < violating) out.violations++;
    }
  }
  if (violating > 0) sortByImportance(out.victims, out.count);
  return out.count > 0;
}

/** The dry run in the view itself (ports, inter-pod rules): remove, check, give back, undo. */
function dryRun(host: PreemptionHost, node: NodeState, priority: number, budgets: Budget[], out: Scratch): boolean {
  const lower = host.podsOn(node).filter((p) => p.priority < priority && !p.terminating);
  if (lower.length === 0) return false;
  for (const p of lower) host.remove(p);
  const removed = new Set(lower);
  out.count = 0;
  out.violations = 0;
  try {
    if (host.failure(node) !== FIT) return false;
    lower.sort(moreImportant);
    const { violating, other } = splitByBudget(lower, budgets);
    const reprieve = (p: Placement): boolean => {
      host.restore(p);
      removed.delete(p);
      if (host.failure(node) === FIT) return true;
      host.remove(p);
      removed.add(p);
      out.victims[out.count++] = p;
      return false;
    };
    for (const p of violating) if (!reprieve(p)) out.violations++;
    for (const p of other) reprieve(p);
    sortByImportance(out.victims, out.count);
    return out.count > 0;
  } finally {
    for (const p of removed) host.restore(p);
  }
}

/**
 * kube-scheduler's pickOneNodeForPreemption, as one lexicographic key: fewest budget
 * violations, lowest highest victim priority, smallest sum of priorities, fewest victims,
 * latest start of the highest-priority victims, then the first node looked at.
 */
interface Key {
  violations: number;
  top: number;
  sum: number;
  count: number;
  /** Negated earliest start of the top-priority victims (smaller is better). */
  start: number;
}

function keyOf(s: Scratch): Key {
  const v = s.victims;
  const top = v[0].priority;
  let sum = 0;
  let earliest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < s.count; i++) {
    // Shifted so negative priorities still add up to more victims costing more.
    sum += v[i].priority + 2147483648;
    if (v[i].priority === top && v[i].startTime < earliest) earliest = v[i].startTime;
  }
  return { violations: s.violations, top, sum, count: s.count, start: -earliest };
}

function better(a: Key, b: Key): boolean {
  if (a.violations !== b.violations) return a.violations < b.violations;
  if (a.top !== b.top) return a.top < b.top;
  if (a.sum !== b.sum) return a.sum < b.sum;
  if (a.count !== b.count) return a.count < b.count;
  return a.start < b.start;
}

export function selectPreemption(
  host: PreemptionHost,
  priority: number,
  budgets: readonly DisruptionBudget[],
  percentage: number,
  absolute: number,
): Preemption | undefined {
  const nodes = host.nodes;
  const total = nodes.length;
  if (total === 0) return undefined;
  const want = numCandidates(total, percentage, absolute);
  const compiled = compileBudgets(budgets);
  const offset = Math.floor(host.random() * total);
  const scratch = new Scratch();
  const fast = host.resourcesOnly;
  let found = 0;
  let best: { node: NodeState; victims: string[]; key: Key } | undefined;
  for (let i = 0; i < total && found < want; i++) {
    let idx = offset + i;
    if (idx >= total) idx -= total;
    const node = nodes[idx];
    const code = host.failure(node);
    if (code === FIT || unresolvable(code)) continue;
    const ok =
      fast !== undefined && (fast.volumeNode === null || fast.volumeNode === node.name) && (code & RESOURCE_BITS) === code
        ? dryRunResources(host, fast, node, priority, compiled, scratch)
        : dryRun(host, node, priority, compiled, scratch);
    if (!ok) continue;
    found++;
    const key = keyOf(scratch);
    if (best === undefined || better(key, best.key)) {
      const victims: string[] = [];
      for (let k = 0; k < scratch.count; k++) victims.push(scratch.victims[k].id);
      best = { node, victims, key };
    }
  }
  if (!best) return undefined;
  return { node: best.node.name, victims: best.victims, pdbViolations: best.key.violations };
}
