// kube-scheduler's DefaultPreemption over the cluster view: a dry run per node (remove every
// lower-priority pod, check the preemptor fits, then give back as many as can stay, the most
// important first and those a PodDisruptionBudget protects before the others), then one node
// chosen by Kubernetes' order. The host undoes every removal before this returns.

import type { NodeState } from './compile.js';
import { FAIL_AFFINITY, FAIL_TAINT, FAIL_UNSCHEDULABLE, FAIL_VOLUME_NODE, FIT } from './filters.js';
import type { Placement } from './scheduler.js';
import { compileSelector, matchSelector, type CompiledSelector } from './selector.js';
import { FAIL_POD_AFFINITY, FAIL_SPREAD_LABEL } from './topology-state.js';
import type { DisruptionBudget, Preemption } from './types.js';

export interface PreemptionHost {
  readonly nodes: readonly NodeState[];
  podsOn(node: NodeState): Iterable<Placement>;
  remove(p: Placement): void;
  restore(p: Placement): void;
  /** The preemptor's filter result on the node as the view is now. */
  failure(node: NodeState): number;
  random(): number;
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

interface Candidate {
  node: NodeState;
  victims: Placement[];
  violations: number;
  order: number;
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

function dryRun(host: PreemptionHost, node: NodeState, priority: number, budgets: Budget[]): Omit<Candidate, 'order'> | undefined {
  const lower: Placement[] = [];
  for (const p of host.podsOn(node)) if (p.priority < priority && !p.terminating) lower.push(p);
  if (lower.length === 0) return undefined;
  for (const p of lower) host.remove(p);
  const removed = new Set(lower);
  try {
    if (host.failure(node) !== FIT) return undefined;
    lower.sort(moreImportant);
    const { violating, other } = splitByBudget(lower, budgets);
    const victims: Placement[] = [];
    let violations = 0;
    const reprieve = (p: Placement): boolean => {
      host.restore(p);
      removed.delete(p);
      if (host.failure(node) === FIT) return true;
      host.remove(p);
      removed.add(p);
      victims.push(p);
      return false;
    };
    for (const p of violating) if (!reprieve(p)) violations++;
    for (const p of other) reprieve(p);
    victims.sort(moreImportant);
    return { node, victims, violations };
  } finally {
    for (const p of removed) host.restore(p);
  }
}

/** The earliest start among the victims of the highest priority (victims sorted most important first). */
function earliestTopStart(c: Candidate): number {
  const top = c.victims[0].priority;
  let t = Number.POSITIVE_INFINITY;
  for (const v of c.victims) if (v.priority === top && v.startTime < t) t = v.startTime;
  return t;
}

function sumPriorities(c: Candidate): number {
  // Shifted so negative priorities still add up to more victims costing more.
  let s = 0;
  for (const v of c.victims) s += v.priority + 2147483648;
  return s;
}

/** kube-scheduler's pickOneNodeForPreemption. */
export function pickCandidate(cands: Candidate[]): Candidate | undefined {
  const by = (list: Candidate[], key: (c: Candidate) => number): Candidate[] => {
    let best = Number.POSITIVE_INFINITY;
    let out: Candidate[] = [];
    for (const c of list) {
      const k = key(c);
      if (k < best) {
        best = k;
        out = [c];
      } else if (k === best) out.push(c);
    }
    return out;
  };
  let list = cands;
  for (const key of [
    (c: Candidate) => c.violations,
    (c: Candidate) => (c.victims.length > 0 ? c.victims[0].priority : Number.NEGATIVE_INFINITY),
    sumPriorities,
    (c: Candidate) => c.victims.length,
    (c: Candidate) => -earliestTopStart(c),
    (c: Candidate) => c.order,
  ]) {
    if (list.length <= 1) break;
    list = by(list, key);
  }
  return list[0];
}

export function selectPreemption(
  host: PreemptionHost,
  priority: number,
  _namespace: string,
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
  const cands: Candidate[] = [];
  for (let i = 0; i < total && cands.length < want; i++) {
    const node = nodes[(offset + i) % total];
    if (unresolvable(host.failure(node))) continue;
    const c = dryRun(host, node, priority, compiled);
    if (c && c.victims.length > 0) cands.push({ ...c, order: i });
  }
  const best = pickCandidate(cands);
  if (!best) return undefined;
  return { node: best.node.name, victims: best.victims.map((v) => v.id), pdbViolations: best.violations };
}
