// The claims controller's pure core: PersistentVolumeClaims from Git → claim records.
// A claim in Git gets a record (Pending until its first pod is scheduled); a changed spec is
// copied over, keeping how it is bound; a claim gone from Git is removed at once when no pod
// uses it, and otherwise marked for deletion and kept until the last pod using it is gone
// (Kubernetes' kubernetes.io/pvc-protection). StatefulSet claims are the StatefulSet
// controller's and are never touched here.
import type { PersistentVolumeClaim } from '../../api/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import type { EventInput } from '../events.js';
import { claimId, PVC_PROTECTION, type ClaimRecord } from './claims.js';

export interface StoredItem<T> {
  key: string;
  value: T;
  modRevision: number;
}

export interface ObservedClaims {
  /** PersistentVolumeClaims from Git, with the commit that last changed each. */
  desired: { claim: PersistentVolumeClaim; commit?: string }[];
  /** Every claim record. */
  records: StoredItem<ClaimRecord>[];
  /** `<ns>/<claim>` → names of the pods using it. */
  inUse: ReadonlyMap<string, string[]>;
}

export interface ClaimsPlan {
  compare: Compare[];
  ops: TxnOp[];
  events: EventInput[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The spec a Git claim keeps: the manifest's, with the volume it is bound to. */
function specOf(d: PersistentVolumeClaim, current?: ClaimRecord): ClaimRecord['spec'] {
  const spec = structuredClone(d.spec ?? {});
  delete spec.volumeName;
  if (current?.spec.volumeName !== undefined) spec.volumeName = current.spec.volumeName;
  return spec;
}

export function planClaims(o: ObservedClaims, now: number, keyOf: (namespace: string, name: string) => string): ClaimsPlan {
  const plan: ClaimsPlan = { compare: [], ops: [], events: [] };
  const records = new Map(o.records.map((r) => [claimId(r.value.metadata.namespace, r.value.metadata.name), r]));
  const wanted = new Set<string>();
  const event = (namespace: string, name: string, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    plan.events.push({ namespace, object: `PersistentVolumeClaim/${name}`, type, reason, message });
  };
  const put = (key: string, value: ClaimRecord, modRevision: number): void => {
    plan.compare.push(modRevision === 0 ? { key, target: 'createRevision', op: '==', value: 0 } : { key, target: 'modRevision', op: '==', value: modRevision });
    plan.ops.push({ type: 'put', key, value: JSON.stringify(value) });
  };

  for (const { claim: d, commit } of o.desired) {
    const ns = d.metadata.namespace ?? 'default';
    const name = d.metadata.name;
    const id = claimId(ns, name);
    wanted.add(id);
    const current = records.get(id);
    if (current?.value.metadata.owner !== undefined) {
      event(ns, name, 'ClaimConflict', `claim ${name} is also made by ${current.value.metadata.owner.kind} ${current.value.metadata.owner.name}; the manifest's claim is not applied`, 'Warning');
      continue;
    }
    const metadata: ClaimRecord['metadata'] = {
      name,
      namespace: ns,
      ...(d.metadata.labels ? { labels: { ...d.metadata.labels } } : {}),
      createdAt: current?.value.metadata.createdAt ?? iso(now),
      ...(commit !== undefined ? { commit } : {}),
    };
    // The binding annotation is the control plane's; keep it whatever the manifest says.
    const annotations = { ...(d.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(current?.value.metadata.annotations ?? {})) if (k.startsWith('volume.kubernetes.io/')) annotations[k] = v;
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    const next: ClaimRecord = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata, spec: specOf(d, current?.value), status: current?.value.status ?? { phase: 'Pending' } };
    if (!current) {
      put(keyOf(ns, name), next, 0);
      event(ns, name, 'Created', `claim ${name} created; it binds to the node its first pod is scheduled on`);
    } else if (JSON.stringify(current.value) !== JSON.stringify(next)) {
      put(current.key, next, current.modRevision);
    }
  }

  for (const [id, r] of records) {
    const c = r.value;
    if (wanted.has(id) || c.metadata.owner !== undefined) continue;
    const users = o.inUse.get(id) ?? [];
    if (users.length === 0) {
      plan.compare.push({ key: r.key, target: 'modRevision', op: '==', value: r.modRevision });
      plan.ops.push({ type: 'delete', key: r.key });
      event(c.metadata.namespace, c.metadata.name, 'Deleted', `claim ${c.metadata.name} deleted`);
    } else if (c.metadata.deletionRequestedAt === undefined) {
      put(r.key, { ...c, metadata: { ...c.metadata, deletionRequestedAt: iso(now) } }, r.modRevision);
      event(c.metadata.namespace, c.metadata.name, 'ClaimInUse', `claim ${c.metadata.name} is gone from Git but used by pod ${users.join(', ')}; kept until no pod uses it (${PVC_PROTECTION})`, 'Warning');
    }
  }
  return plan;
}
