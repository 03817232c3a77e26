// Pods and nodes are compiled once into flat shapes so the per-node filter and score loops
// run without allocating (the scheduler calls them hundreds of times per pod).

import { CapstanError } from '../common/index.js';
import type { NodeInfo, NodeSelectorRequirement, NodeSelectorTerm, PodRequest, Taint, Toleration } from './types.js';

export const OP_IN = 0;
export const OP_NOT_IN = 1;
export const OP_EXISTS = 2;
export const OP_DOES_NOT_EXIST = 3;
export const OP_GT = 4;
export const OP_LT = 5;

const OPS: Record<string, number> = {
  In: OP_IN,
  NotIn: OP_NOT_IN,
  Exists: OP_EXISTS,
  DoesNotExist: OP_DOES_NOT_EXIST,
  Gt: OP_GT,
  Lt: OP_LT,
};

const PROTOCOLS: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2 };

/** Taint the node lifecycle sets on a cordoned node; tolerating it lets a pod onto one. */
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
/** Taint Kubernetes sets on a node that is not ready; we derive it from `ready: false`. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

export interface CompiledRequirement {
  key: string;
  op: number;
  values: readonly string[];
  /** Used instead of `values` when the list is long enough for a hash lookup to pay off. */
  set: ReadonlySet<string> | null;
  /** The bound of Gt and Lt. */
  bound: number;
}

export interface CompiledTerm {
  expressions: CompiledRequirement[];
  fields: CompiledRequirement[];
}

export interface CompiledToleration {
  key: string;
  exists: boolean;
  value: string;
  effect: string;
}

export interface CompiledPod {
  id: string;
  owner: string | null;
  cpu: number;
  memory: number;
  /** Host ports encoded as `port + protocol * 65536`. */
  ports: number[];
  selectorKeys: string[];
  selectorValues: string[];
  /** null = no required affinity; otherwise terms ORed. */
  required: CompiledTerm[] | null;
  preferred: Array<{ weight: number; term: CompiledTerm }>;
  tolerations: CompiledToleration[];
  /** Whether a nodeSelector or required affinity exists, so plain pods skip the label checks. */
  constrained: boolean;
  /** Only this node fits (the pod's bound claims are there), or null. */
  volumeNode: string | null;
}

export function encodePort(port: number, protocol = 'TCP'): number {
  return port + (PROTOCOLS[protocol] ?? 0) * 65536;
}

function invalid(podId: string, field: string, message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_API_SCHEMA', `pod ${podId}: ${field}: ${message}`, {
    field,
    context: { pod: podId },
  });
}

function compileRequirement(podId: string, field: string, r: NodeSelectorRequirement): CompiledRequirement {
  const op = OPS[r.operator];
  if (op === undefined) throw invalid(podId, `${field}.operator`, `unknown operator ${JSON.stringify(r.operator)}`);
  const values = r.values ?? [];
  let bound = 0;
  if (op === OP_IN || op === OP_NOT_IN) {
    if (values.length === 0) throw invalid(podId, `${field}.values`, `${r.operator} needs at least one value`);
  } else if (op === OP_EXISTS || op === OP_DOES_NOT_EXIST) {
    if (values.length !== 0) throw invalid(podId, `${field}.values`, `${r.operator} takes no values`);
  } else {
    // Kubernetes: Gt and Lt take exactly one value that parses as an integer.
    if (values.length !== 1 || !/^-?\d+$/.test(values[0])) {
      throw invalid(podId, `${field}.values`, `${r.operator} needs exactly one integer value`);
    }
    bound = Number(values[0]);
  }
  return { key: r.key, op, values, set: values.length > 8 ? new Set(values) : null, bound };
}

function compileTerm(podId: string, field: string, term: NodeSelectorTerm): CompiledTerm {
  const expressions = (term.matchExpressions ?? []).map((r, i) =>
    compileRequirement(podId, `${field}.matchExpressions[${i}]`, r),
  );
  const fields = (term.matchFields ?? []).map((r, i) => {
    const f = `${field}.matchFields[${i}]`;
    if (r.key !== 'metadata.name') throw invalid(podId, `${f}.key`, 'only metadata.name is supported');
    const c = compileRequirement(podId, f, r);
    if (c.op !== OP_IN && c.op !== OP_NOT_IN) throw invalid(podId, `${f}.operator`, 'only In and NotIn are supported');
    return c;
  });
  return { expressions, fields };
}

export function compilePod(pod: PodRequest): CompiledPod {
  const selector = pod.nodeSelector ?? {};
  const selectorKeys = Object.keys(selector);
  const na = pod.affinity?.nodeAffinity;
  const req = na?.requiredDuringSchedulingIgnoredDuringExecution;
  const base = 'spec.affinity.nodeAffinity';
  const compiled: CompiledPod = {
    id: pod.id,
    owner: pod.owner ?? null,
    cpu: pod.cpu,
    memory: pod.memory,
    ports: (pod.hostPorts ?? []).map((p) => encodePort(p.port, p.protocol)),
    selectorKeys,
    selectorValues: selectorKeys.map((k) => selector[k]),
    required: req
      ? req.nodeSelectorTerms.map((t, i) =>
          compileTerm(pod.id, `${base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`, t),
        )
      : null,
    preferred: (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p, i) => ({
      weight: p.weight,
      term: compileTerm(pod.id, `${base}.preferredDuringSchedulingIgnoredDuringExecution[${i}].preference`, p.preference),
    })),
    tolerations: (pod.tolerations ?? []).map(compileToleration),
    constrained: false,
    volumeNode: pod.volumeNode ?? null,
  };
  compiled.constrained = compiled.selectorKeys.length > 0 || compiled.required !== null;
  return compiled;
}

export function compileToleration(t: Toleration): CompiledToleration {
  return { key: t.key ?? '', exists: t.operator === 'Exists', value: t.value ?? '', effect: t.effect ?? '' };
}

/** Kubernetes `Toleration.ToleratesTaint`. */
export function tolerates(t: CompiledToleration, key: string, value: string, effect: string): boolean {
  if (t.effect !== '' && t.effect !== effect) return false;
  if (t.key !== '' && t.key !== key) return false;
  return t.exists || t.value === value;
}

export function toleratesAny(tolerations: readonly CompiledToleration[], key: string, value: string, effect: string): boolean {
  for (let i = 0; i < tolerations.length; i++) if (tolerates(tolerations[i], key, value, effect)) return true;
  return false;
}

/** Mutable per-node state of the cluster view. One class so every node has the same shape. */
export class NodeState {
  readonly name: string;
  labels = new Map<string, string>();
  /** NoSchedule and NoExecute taints (filter), with their failure reasons prebuilt. */
  hardTaintKeys: string[] = [];
  hardTaintValues: string[] = [];
  hardTaintEffects: string[] = [];
  hardTaintReasons: string[] = [];
  /** PreferNoSchedule taints (score only). */
  softTaintKeys: string[] = [];
  softTaintValues: string[] = [];
  unschedulable = false;
  capCpu = 0;
  capMemory = 0;
  capPods = 0;
  usedCpu = 0;
  usedMemory = 0;
  podCount = 0;
  /** Used host ports, created on first use. */
  ports: Map<number, number> | null = null;
  /** Index into the scheduler's per-node arrays. */
  slot = 0;

  constructor(info: NodeInfo) {
    this.name = info.name;
    this.apply(info);
  }

  /** Takes a new spec (labels, taints, capacity, condition); allocations stay. */
  apply(info: NodeInfo): void {
    this.labels = new Map(Object.entries(info.labels ?? {}));
    const taints: Taint[] = [...(info.taints ?? [])];
    if (info.ready === false) taints.push({ key: TAINT_NOT_READY, effect: 'NoSchedule' });
    this.hardTaintKeys = [];
    this.hardTaintValues = [];
    this.hardTaintEffects = [];
    this.hardTaintReasons = [];
    this.softTaintKeys = [];
    this.softTaintValues = [];
    for (const t of taints) {
      const value = t.value ?? '';
      if (t.effect === 'PreferNoSchedule') {
        this.softTaintKeys.push(t.key);
        this.softTaintValues.push(value);
      } else {
        this.hardTaintKeys.push(t.key);
        this.hardTaintValues.push(value);
        this.hardTaintEffects.push(t.effect);
        this.hardTaintReasons.push(`node(s) had untolerated taint {${t.key}: ${value}}`);
      }
    }
    this.unschedulable = info.unschedulable === true;
    this.capCpu = info.allocatable.cpu;
    this.capMemory = info.allocatable.memory;
    this.capPods = info.allocatable.pods ?? Number.POSITIVE_INFINITY;
  }
}
