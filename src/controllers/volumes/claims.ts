// PersistentVolumeClaims, the pure part: which claims a pod uses, where those claims pin it,
// how a claim binds to a node, and which claims pods still use (pvc-protection).
//
// A claim is a local volume (a folder on one node). It binds to the node its first pod is
// scheduled on (Kubernetes' WaitForFirstConsumer); from then on every pod using it can only
// run on that node. Claims are kept at CLAIMS_PREFIX + `<namespace>/<name>`: the StatefulSet
// controller makes one per volumeClaimTemplate and ordinal (owner StatefulSet), the claims
// controller makes one per PersistentVolumeClaim from Git (no owner).
import type { Pod } from '../../api/cluster.js';
import type { PersistentVolumeClaimSpec } from '../../api/index.js';

/** Kubernetes' annotation naming the node a claim's volume was provisioned on. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
/** Kubernetes' finalizer name, shown in messages about a claim kept while a pod uses it. */
export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

export interface ClaimStatus {
  phase: 'Pending' | 'Bound';
  /** The node holding the volume, once bound. */
  nodeName?: string;
  accessModes?: string[];
  /** The requested storage, recorded (not enforced: the volume is a folder). */
  capacity?: { storage?: string | number };
  boundAt?: string;
}

/** A claim as stored at CLAIMS_PREFIX + `<ns>/<name>`. */
export interface ClaimRecord {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    /** A StatefulSet's claim; absent for a claim from Git. */
    owner?: { kind: string; name: string; ordinal?: number };
    createdAt: string;
    /** The commit that last changed a Git claim. */
    commit?: string;
    /** Gone from Git while a pod still uses it: removed once no pod does. */
    deletionRequestedAt?: string;
  };
  spec: PersistentVolumeClaimSpec;
  status?: ClaimStatus;
}

export function isClaimRecord(v: unknown): v is ClaimRecord {
  const c = v as Partial<ClaimRecord> | undefined;
  return typeof c === 'object' && c !== null && c.kind === 'PersistentVolumeClaim' && typeof c.metadata?.name === 'string' && typeof c.metadata.namespace === 'string';
}

/** `<namespace>/<name>`: a claim's id and its store key suffix. */
export const claimId = (namespace: string, name: string): string => `${namespace}/${name}`;

/** The claims a pod's volumes name, in volume order, without repeats. */
export function podClaimNames(pod: Pod): string[] {
  const volumes = (pod.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName?: unknown } }> }).volumes ?? [];
  const out: string[] = [];
  for (const v of volumes) {
    const name = v.persistentVolumeClaim?.claimName;
    if (typeof name === 'string' && name !== '' && !out.includes(name)) out.push(name);
  }
  return out;
}

/** Where a pod's claims let it go. */
export type VolumePlacement =
  /** `node`: the one node its bound claims are on (none bound: any node); `unbound`: claims to bind where it goes. */
  | { ok: true; node?: string; unbound: string[] }
  | { ok: false; reason: string };

/**
 * A pod's claims → the node they pin it to. A missing claim, a claim being deleted, or claims
 * bound to different nodes keep the pod Pending with a reason.
 */
export function volumePlacement(pod: Pod, claims: ReadonlyMap<string, ClaimRecord>): VolumePlacement {
  const names = podClaimNames(pod);
  let node: string | undefined;
  let nodeClaim = '';
  const unbound: string[] = [];
  for (const name of names) {
    const c = claims.get(claimId(pod.metadata.namespace, name));
    if (!c) return { ok: false, reason: `persistentvolumeclaim "${name}" not found` };
    if (c.metadata.deletionRequestedAt !== undefined) return { ok: false, reason: `persistentvolumeclaim "${name}" is being deleted` };
    const bound = boundNode(c);
    if (bound === undefined) {
      unbound.push(name);
    } else if (node === undefined) {
      node = bound;
      nodeClaim = name;
    } else if (node !== bound) {
      return { ok: false, reason: `persistentvolumeclaims "${nodeClaim}" and "${name}" are bound to different nodes (${node}, ${bound})` };
    }
  }
  return node === undefined ? { ok: true, unbound } : { ok: true, node, unbound };
}

/** The node a claim is bound to, if it is. */
export function boundNode(c: ClaimRecord): string | undefined {
  if (c.status?.phase === 'Bound' && c.status.nodeName) return c.status.nodeName;
  return c.metadata.annotations?.[SELECTED_NODE_ANNOTATION] || undefined;
}

/** The volume's name once bound: stable per claim, as Kubernetes' `pvc-<uid>`. */
export function volumeNameOf(c: ClaimRecord): string {
  return `local-${c.metadata.namespace}-${c.metadata.name}`;
}

/** The claim bound to `node`: spec.volumeName, status Bound with its node, and the selected-node annotation. */
export function bindClaim(c: ClaimRecord, node: string, now: number): ClaimRecord {
  const status: ClaimStatus = { phase: 'Bound', nodeName: node, accessModes: [...(c.spec.accessModes ?? ['ReadWriteOnce'])], boundAt: new Date(now).toISOString() };
  const storage = c.spec.resources?.requests?.storage;
  if (storage !== undefined) status.capacity = { storage };
  return {
    ...c,
    metadata: { ...c.metadata, annotations: { ...(c.metadata.annotations ?? {}), [SELECTED_NODE_ANNOTATION]: node } },
    spec: { ...c.spec, volumeName: volumeNameOf(c) },
    status,
  };
}

/**
 * Claims some pod still uses → the pods using each (`<ns>/<claim>` → pod names). A pod uses
 * its claims until it is gone or has finished (Succeeded, Failed), as Kubernetes' pvc-protection.
 */
export function claimsInUse(pods: Iterable<Pod>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of pods) {
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    for (const name of podClaimNames(p)) {
      const id = claimId(p.metadata.namespace, name);
      const list = out.get(id);
      if (list) list.push(p.metadata.name);
      else out.set(id, [p.metadata.name]);
    }
  }
  return out;
}
