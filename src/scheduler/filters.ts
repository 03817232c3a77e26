// Filters, in kube-scheduler's order: NodeUnschedulable, TaintToleration, NodeAffinity
// (nodeSelector and required affinity), NodePorts, NodeResourcesFit, VolumeBinding (a pod
// whose claims are bound goes to their node). The first failing
// filter decides a node's reason, as in kube-scheduler. Everything here is allocation-free.

import {
  OP_DOES_NOT_EXIST,
  OP_EXISTS,
  OP_GT,
  OP_IN,
  OP_LT,
  OP_NOT_IN,
  TAINT_UNSCHEDULABLE,
  toleratesAny,
} from './compile.js';
import type { CompiledPod, CompiledRequirement, CompiledTerm, NodeState } from './compile.js';

/** Filter outcome: 0 passes; otherwise one of the codes below (resources are a bit set). */
export const FIT = 0;
export const FAIL_UNSCHEDULABLE = 1;
export const FAIL_AFFINITY = 2;
export const FAIL_PORTS = 3;
export const FAIL_VOLUME_NODE = 4;
export const FAIL_CPU = 1 << 4;
export const FAIL_MEMORY = 1 << 5;
export const FAIL_PODS = 1 << 6;
/** `FAIL_TAINT + i`: the node's i-th hard taint is not tolerated. */
export const FAIL_TAINT = 1 << 10;

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const REASON_PORTS = "node(s) didn't have free ports for the requested pod ports";
export const REASON_CPU = 'Insufficient cpu';
export const REASON_MEMORY = 'Insufficient memory';
export const REASON_PODS = 'Too many pods';
export const REASON_VOLUME_NODE = 'node(s) had volume node affinity conflict';

function matchRequirement(r: CompiledRequirement, value: string | undefined): boolean {
  switch (r.op) {
    case OP_IN:
      return value !== undefined && (r.set !== null ? r.set.has(value) : r.values.includes(value));
    case OP_NOT_IN:
      return value === undefined || !(r.set !== null ? r.set.has(value) : r.values.includes(value));
    case OP_EXISTS:
      return value !== undefined;
    case OP_DOES_NOT_EXIST:
      return value === undefined;
    case OP_GT:
    case OP_LT: {
      // Kubernetes: a label that does not parse as an integer never matches Gt or Lt.
      if (value === undefined || !isIntegerString(value)) return false;
      const n = Number(value);
      return r.op === OP_GT ? n > r.bound : n < r.bound;
    }
    default:
      return false;
  }
}

function isIntegerString(s: string): boolean {
  if (s.length === 0) return false;
  let i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (i === s.length) return false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** A term matches when all its requirements do; an empty term matches nothing. */
export function matchTerm(term: CompiledTerm, node: NodeState): boolean {
  const ex = term.expressions;
  const fs = term.fields;
  if (ex.length === 0 && fs.length === 0) return false;
  for (let i = 0; i < ex.length; i++) if (!matchRequirement(ex[i], node.labels.get(ex[i].key))) return false;
  for (let i = 0; i < fs.length; i++) if (!matchRequirement(fs[i], node.name)) return false;
  return true;
}

export function matchNodeAffinity(pod: CompiledPod, node: NodeState): boolean {
  const keys = pod.selectorKeys;
  for (let i = 0; i < keys.length; i++) if (node.labels.get(keys[i]) !== pod.selectorValues[i]) return false;
  const req = pod.required;
  if (req === null) return true;
  for (let i = 0; i < req.length; i++) if (matchTerm(req[i], node)) return true;
  return false;
}

/** Runs every filter on one node and returns FIT or the first failure's code. */
export function filterNode(pod: CompiledPod, node: NodeState): number {
  if (node.unschedulable && !toleratesAny(pod.tolerations, TAINT_UNSCHEDULABLE, '', 'NoSchedule')) {
    return FAIL_UNSCHEDULABLE;
  }
  const tk = node.hardTaintKeys;
  for (let i = 0; i < tk.length; i++) {
    if (!toleratesAny(pod.tolerations, tk[i], node.hardTaintValues[i], node.hardTaintEffects[i])) return FAIL_TAINT + i;
  }
  if (pod.constrained && !matchNodeAffinity(pod, node)) return FAIL_AFFINITY;
  const ports = pod.ports;
  if (ports.length > 0 && node.ports !== null) {
    for (let i = 0; i < ports.length; i++) if ((node.ports.get(ports[i]) ?? 0) > 0) return FAIL_PORTS;
  }
  let res = 0;
  if (node.podCount + 1 > node.capPods) res |= FAIL_PODS;
  if (pod.cpu > 0 && node.usedCpu + pod.cpu > node.capCpu) res |= FAIL_CPU;
  if (pod.memory > 0 && node.usedMemory + pod.memory > node.capMemory) res |= FAIL_MEMORY;
  if (res !== 0) return res;
  if (pod.volumeNode !== null && pod.volumeNode !== node.name) return FAIL_VOLUME_NODE;
  return FIT;
}

/** Adds the reasons behind a failure code to the histogram. */
export function recordFailure(code: number, node: NodeState, counts: Map<string, number>): void {
  if (code >= FAIL_TAINT) {
    bump(counts, node.hardTaintReasons[code - FAIL_TAINT]);
  } else if (code === FAIL_UNSCHEDULABLE) {
    bump(counts, REASON_UNSCHEDULABLE);
  } else if (code === FAIL_AFFINITY) {
    bump(counts, REASON_AFFINITY);
  } else if (code === FAIL_PORTS) {
    bump(counts, REASON_PORTS);
  } else if (code === FAIL_VOLUME_NODE) {
    bump(counts, REASON_VOLUME_NODE);
  } else {
    if (code & FAIL_PODS) bump(counts, REASON_PODS);
    if (code & FAIL_CPU) bump(counts, REASON_CPU);
    if (code & FAIL_MEMORY) bump(counts, REASON_MEMORY);
  }
}

function bump(counts: Map<string, number>, reason: string): void {
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

/**
 * `0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: gpu}.`
 * Reasons by count, most first, then alphabetically, so the message is stable.
 */
export function formatUnschedulable(total: number, counts: ReadonlyMap<string, number>): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const parts = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([reason, n]) => `${n} ${reason}`);
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
