// Pure pieces of scheduling by priority: a pod's priority from its PriorityClass (as Kubernetes'
// priority admission resolves it), the scheduler a pod names, the queue order, and each
// PodDisruptionBudget's disruptionsAllowed from the pods it selects.
import type { Pod } from '../../api/cluster.js';
import { SCHEDULER_NAMES, type PodDisruptionBudget, type PreemptionPolicy, type PriorityClass } from '../../api/index.js';
import type { DisruptionBudget, LabelSelector } from '../../scheduler/index.js';
import { holdsResources, schedulingOrder } from './view.js';

/** A pod is ours when it names no scheduler, default-scheduler or capstan. */
export function isOurs(pod: Pod): boolean {
  const name = pod.spec.schedulerName;
  return name === undefined || name === '' || SCHEDULER_NAMES.includes(name);
}

export interface PriorityClasses {
  byName: ReadonlyMap<string, PriorityClass>;
  /** The class with globalDefault: true (the lowest value when several claim it, as Kubernetes picks). */
  globalDefault?: PriorityClass;
}

export function priorityClasses(list: readonly PriorityClass[]): PriorityClasses {
  const byName = new Map<string, PriorityClass>();
  let globalDefault: PriorityClass | undefined;
  for (const pc of list) {
    byName.set(pc.metadata.name, pc);
    if (pc.globalDefault === true && (globalDefault === undefined || pc.value < globalDefault.value)) globalDefault = pc;
  }
  return globalDefault ? { byName, globalDefault } : { byName };
}

export type ResolvedPriority = { ok: true; priority: number; preemptionPolicy: PreemptionPolicy } | { ok: false; reason: string };

/**
 * spec.priority when set; otherwise the value of spec.priorityClassName's class, or of the
 * global default class, or 0. A class that does not exist keeps the pod Pending.
 */
export function resolvePriority(pod: Pod, classes: PriorityClasses): ResolvedPriority {
  const name = pod.spec.priorityClassName;
  const pc = name !== undefined && name !== '' ? classes.byName.get(name) : classes.globalDefault;
  if (name !== undefined && name !== '' && pc === undefined) {
    return { ok: false, reason: `no PriorityClass with name ${name} was found: add a scheduling.k8s.io/v1 PriorityClass named ${name}, or change spec.priorityClassName` };
  }
  const priority = pod.spec.priority ?? pc?.value ?? 0;
  const preemptionPolicy = pod.spec.preemptionPolicy ?? pc?.preemptionPolicy ?? 'PreemptLowerPriority';
  return { ok: true, priority, preemptionPolicy };
}

/** Higher priority first, then oldest first (the scheduling queue's PrioritySort). */
export function queueOrder(a: { pod: Pod; priority: number }, b: { pod: Pod; priority: number }): number {
  return b.priority - a.priority || schedulingOrder(a.pod, b.pod);
}

function matches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const v = Object.prototype.hasOwnProperty.call(labels, e.key) ? labels[e.key] : undefined;
    const inValues = v !== undefined && (e.values ?? []).includes(v);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && v === undefined) return false;
    if (e.operator === 'DoesNotExist' && v !== undefined) return false;
  }
  return true;
}

/** An int-or-percent of `total`, rounded up as Kubernetes does for budgets. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const pct = Number(v.replace(/%$/, ''));
  return Math.ceil((pct * total) / 100);
}

/**
 * disruptionsAllowed per budget: ready pods it selects above what it must keep. Pods being
 * deleted or finished are not counted; the expected count is the pods the budget selects.
 */
export function disruptionBudgets(budgets: readonly PodDisruptionBudget[], pods: readonly Pod[]): DisruptionBudget[] {
  return budgets.map((b) => {
    const namespace = b.metadata.namespace ?? 'default';
    const selector: LabelSelector = b.spec.selector ?? {};
    let expected = 0;
    let healthy = 0;
    for (const p of pods) {
      if (p.metadata.namespace !== namespace || p.metadata.deletionRequestedAt !== undefined || !holdsResources(p)) continue;
      if (!matches(selector, p.metadata.labels ?? {})) continue;
      expected++;
      if (p.status?.ready === true) healthy++;
    }
    let mustKeep = 0;
    if (b.spec.minAvailable !== undefined) mustKeep = scaled(b.spec.minAvailable, expected);
    else if (b.spec.maxUnavailable !== undefined) mustKeep = expected - scaled(b.spec.maxUnavailable, expected);
    return { namespace, selector, disruptionsAllowed: Math.max(0, healthy - mustKeep) };
  });
}
