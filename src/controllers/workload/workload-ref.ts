// Argo's `spec.workloadRef`: a Rollout that takes its pod template (and, when it has none, its
// selector) from a Deployment in the same namespace, and scales that Deployment down per
// `scaleDown`. The Deployment's count is set through its scale record, beside the desired
// record, so Git's spec.replicas stays as it is and plan/sync see no drift.
import { applyDefaults, type Deployment, type Rollout } from '../../api/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import type { ScaleRecord } from '../hpa/scale.js';
import { scaleKey } from '../hpa/scale.js';
import type { ObservedWorkload } from './observed.js';

/** A scale record written for a workloadRef: `hpa` is empty (no autoscaler owns it), `rollout` names the writer. */
export interface WorkloadRefScaleRecord extends ScaleRecord {
  rollout: string;
}

/** The Rollout with the referenced Deployment's template (and selector), or why it cannot have one. */
export function resolveWorkloadRef(w: Rollout, o: ObservedWorkload): { workload: Rollout } | { message: string } {
  const ref = w.spec.workloadRef!;
  const dep = o.workloadRef?.desired?.object as Deployment | undefined;
  if (!dep || dep.kind !== 'Deployment') {
    const src = o.desired?.source;
    const where = src ? `${src.file}:${src.line}: ` : '';
    return { message: `${where}spec.workloadRef.name: Deployment ${o.ref.namespace}/${ref.name} is not in the desired state; the Rollout has no pod template` };
  }
  const d = applyDefaults(dep);
  return { workload: { ...w, spec: { ...w.spec, template: d.spec.template, selector: w.spec.selector ?? d.spec.selector } } };
}

/**
 * The referenced Deployment's scale record for this pass: `never` removes ours, `onsuccess`
 * sets 0 once the Rollout is Healthy, `progressively` lowers it as the Rollout's pods become
 * available (never raising it again). Guarded on the record as read.
 */
export function planWorkloadRefScale(
  w: Rollout,
  o: ObservedWorkload,
  rollout: { phase: string; availableReplicas: number },
  now: string,
): { compare: Compare[]; ops: TxnOp[] } {
  const ref = w.spec.workloadRef;
  const target = o.workloadRef;
  if (!ref || !target?.desired) return { compare: [], ops: [] };
  const mode = ref.scaleDown ?? 'never';
  const key = scaleKey('Deployment', o.ref.namespace, ref.name);
  const owner = `${o.ref.namespace}/${o.ref.name}`;
  const read = target.scale;
  const ours = read !== undefined && (read.value as Partial<WorkloadRefScaleRecord>).rollout === owner;
  // An autoscaler's record is the autoscaler's: leave it.
  if (read !== undefined && !ours) return { compare: [], ops: [] };
  const guard: Compare = { key, target: 'modRevision', op: '==', value: read?.modRevision ?? 0 };
  if (mode === 'never') return ours ? { compare: [guard], ops: [{ type: 'delete', key }] } : { compare: [], ops: [] };
  const gitReplicas = (target.desired.object as Deployment).spec?.replicas ?? 1;
  const current = read?.value.replicas ?? gitReplicas;
  let want = current;
  if (mode === 'onsuccess') {
    if (rollout.phase === 'Healthy') want = 0;
  } else {
    want = Math.min(current, Math.max(0, gitReplicas - rollout.availableReplicas));
  }
  if (read !== undefined && want === read.value.replicas) return { compare: [], ops: [] };
  if (read === undefined && want === gitReplicas) return { compare: [], ops: [] };
  const record: WorkloadRefScaleRecord = { replicas: want, hpa: '', rollout: owner, updatedAt: now };
  return { compare: [guard], ops: [{ type: 'put', key, value: JSON.stringify(record) }] };
}
