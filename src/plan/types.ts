import type { Diagnostic } from '../common/index.js';

export type ChangeAction = 'create' | 'update' | 'delete';

/** One field that differs. `from` is absent for added fields, `to` for removed ones. */
export interface FieldChange {
  /** Dotted path with array indexes: `spec.template.spec.containers[0].image`. */
  path: string;
  from?: unknown;
  to?: unknown;
  /** The values are secret: `from`/`to` hold a placeholder, never the data. */
  sensitive?: boolean;
}

export type RolloutStrategyName = 'RollingUpdate' | 'Recreate' | 'Canary' | 'BlueGreen';

/** How a changed workload would roll out. */
export interface RolloutPreview {
  strategy: RolloutStrategyName;
  /** Human-readable steps, in order. */
  steps: string[];
  replicas: number;
  /** RollingUpdate: extra pods allowed during the update, in pods (maxSurge rounded up). */
  maxSurge?: number;
  /** RollingUpdate: pods that may be unavailable, in pods (maxUnavailable rounded down). */
  maxUnavailable?: number;
  /**
   * Lower bound on the rollout's duration in seconds from the manifest alone (pauses,
   * minReadySeconds, probe delays); undefined when a step waits for a person.
   */
  minDurationSeconds?: number;
  /** A step waits for `capstan promote`. */
  manualSteps: boolean;
  /** Only the replica count changed: pods are added or removed, no new revision. */
  scaleOnly?: boolean;
}

/** `plan --server`: whether a workload's pods fit on the live nodes (a scheduling dry run). */
export interface SchedulingPreview {
  fits: boolean;
  /** Pods the workload asks for, and how many found a node. */
  pods: number;
  placed: number;
  /** Distinct nodes the placed pods went to. */
  nodes: number;
  /** One pod's requests: cpu in millicores, memory in bytes. */
  request: { cpu: number; memory: number };
  /** The scheduler's counted reasons for the first pod that fits nowhere. */
  reason?: string;
  failures?: Record<string, number>;
  /** `fits: 3 pods on 2 nodes` or `does not fit: 1/3 pods placed; 0/3 nodes are available: 3 Insufficient memory (...)`. */
  summary: string;
}

export interface Change {
  action: ChangeAction;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Where the object is defined (for deletes: where it was). */
  file?: string;
  line?: number;
  /** ChartRelease that renders this object, when it comes from a chart. */
  release?: string;
  fields: FieldChange[];
  rollout?: RolloutPreview;
  /** With `--server`: the scheduling dry run against the live nodes. */
  scheduling?: SchedulingPreview;
}

export interface PlanSourceInfo {
  /** The location with credentials removed. */
  location: string;
  /** The ref planned; null for a plain folder. */
  ref?: string | null;
  /** The commit the ref resolved to; null for a plain folder. */
  commit?: string | null;
}

/** Diagnostic as it appears in plan JSON. */
export interface PlanProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
  code: string;
  field?: string;
}

export interface Plan {
  source: PlanSourceInfo;
  /** What the plan compares against: nothing, another ref, or live state. */
  base: { kind: 'empty' } | ({ kind: 'ref' } & PlanSourceInfo) | { kind: 'server'; url: string };
  changes: Change[];
  errors: PlanProblem[];
  warnings: PlanProblem[];
  summary: { create: number; update: number; delete: number; unchanged: number };
}

export function toProblem(d: Diagnostic): PlanProblem {
  const p: PlanProblem = { file: d.file, message: d.message, code: d.code };
  if (d.line !== undefined) p.line = d.line;
  if (d.column !== undefined) p.column = d.column;
  if (d.field !== undefined) p.field = d.field;
  return p;
}
