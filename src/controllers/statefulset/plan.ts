// The StatefulSet controller's pure core: observed set, pods and claims → one pass of writes.
// Pods are named <set>-<ordinal>; OrderedReady creates ordinal i+1 only once i is Running and
// Ready and removes from the highest ordinal, one at a time; Parallel does both at once. A
// RollingUpdate replaces pods with ordinal >= partition from the highest down, one at a time,
// each waiting until the previous one is Ready; OnDelete replaces a pod only once it is gone.
// Each ordinal gets one claim per volumeClaimTemplate, <template>-<set>-<ordinal>, kept when
// its pod is replaced (and, by default, when the set shrinks or goes).
import type { Pod, PodSpec, Revision, WorkloadStatus } from '../../api/cluster.js';
import type { StatefulSet, VolumeClaimTemplate } from '../../api/index.js';
import type { Compare, TxnOp } from '../../store/index.js';
import type { EventInput } from '../events.js';
import { REVISION_HASH_LABEL, newPod, templateHash, type Stored } from '../workload/index.js';

export const KIND = 'StatefulSet';
/** Kubernetes' labels on StatefulSet pods. */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
/** Pods created per pass at most under Parallel, so one transaction stays bounded. */
export const MAX_PARALLEL_PER_PASS = 250;

/**
 * A claim as the StatefulSet controller stores it, at CLAIMS_PREFIX + `<ns>/<name>`: the
 * PersistentVolumeClaim of one ordinal, made from a volumeClaimTemplate. The pod refers to it
 * by name in `spec.volumes[].persistentVolumeClaim.claimName`.
 */
export interface StoredClaim {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    owner: { kind: typeof KIND; name: string; ordinal: number };
    createdAt: string;
  };
  spec: NonNullable<VolumeClaimTemplate['spec']>;
}

type Template = Revision['template'];
/** The part of a pod volume this controller reads and writes. */
type PodVolume = { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } };

/** What the controller keeps at STORE_PREFIX.status + `StatefulSet/<ns>/<name>`. */
export interface StatefulSetStatus extends WorkloadStatus {
  kind: typeof KIND;
  /** `<set>-<hash>` of the revision the pods below the update are at. */
  currentRevision: string;
  /** `<set>-<hash>` of the spec's template. */
  updateRevision: string;
  /** Non-terminating pods at currentRevision (Kubernetes' status.currentReplicas). */
  currentReplicas: number;
  /** The pod templates of currentRevision and updateRevision, by hash (pods of ordinals below the partition are made from the current one). */
  templates: Record<string, Template>;
  /** persistentVolumeClaimRetentionPolicy.whenDeleted, kept so the claims can go after the set has. */
  whenDeleted: 'Retain' | 'Delete';
}

export interface ObservedStatefulSet {
  namespace: string;
  name: string;
  set?: StatefulSet;
  commit?: string;
  status?: Stored<StatefulSetStatus>;
  pods: Stored<Pod>[];
  claims: Stored<StoredClaim>[];
  /** The replica count an autoscaler set, used instead of spec.replicas. */
  scaledReplicas?: number;
}

export interface StatefulSetPlan {
  compare: Compare[];
  ops: TxnOp[];
  events: EventInput[];
  status?: StatefulSetStatus;
  /** Write the status (it changed beyond observedAt). */
  writeStatus: boolean;
  removeStatus: boolean;
  created: string[];
  stopping: string[];
  removed: string[];
}

export interface PlanKeys {
  pod(namespace: string, name: string): string;
  claim(namespace: string, name: string): string;
  status(namespace: string, name: string): string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function podName(set: string, ordinal: number): string {
  return `${set}-${ordinal}`;
}

export function claimName(template: string, set: string, ordinal: number): string {
  return `${template}-${set}-${ordinal}`;
}

/** The ordinal of a pod named `<set>-<n>`, or undefined. */
export function ordinalOf(set: string, podName: string): number | undefined {
  if (!podName.startsWith(`${set}-`)) return undefined;
  const rest = podName.slice(set.length + 1);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/** The set's pod template with defaults applied, and a volume per claim template. */
export function templateOf(set: StatefulSet): Template {
  const t = set.spec.template;
  const spec = structuredClone(t.spec) as unknown as PodSpec;
  const claims = set.spec.volumeClaimTemplates ?? [];
  if (claims.length > 0) {
    const withVolumes = spec as unknown as { volumes?: PodVolume[] };
    // The claim name is per ordinal; the template records the volume by template name and the
    // pod builder fills in <template>-<set>-<ordinal>.
    const volumes = (withVolumes.volumes ?? []).filter((v) => !claims.some((c) => c.metadata.name === v.name));
    for (const c of claims) volumes.push({ name: c.metadata.name, persistentVolumeClaim: { claimName: c.metadata.name } });
    withVolumes.volumes = volumes;
  }
  return {
    metadata: { labels: { ...(t.metadata?.labels ?? {}) }, ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}) },
    spec,
  };
}

export function revisionHash(template: Template): string {
  return templateHash({ labels: template.metadata.labels, spec: template.spec });
}

/** The pod of one ordinal at one revision. */
export function statefulPod(set: StatefulSet, template: Template, hash: string, ordinal: number, now: number): Pod {
  const name = podName(set.metadata.name, ordinal);
  const rev: Revision = {
    metadata: { name: `${set.metadata.name}-${hash}`, namespace: set.metadata.namespace, owner: { kind: KIND, name: set.metadata.name }, hash, revision: 0, createdAt: iso(now) },
    template,
    replicas: 0,
  };
  const pod = newPod(rev, name, now);
  pod.metadata.labels = { ...pod.metadata.labels, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) };
  Object.assign(pod.spec, { hostname: name }, set.spec.serviceName ? { subdomain: set.spec.serviceName } : {});
  const claims = new Set((set.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name));
  const spec = pod.spec as unknown as { volumes?: PodVolume[] };
  if (spec.volumes) {
    spec.volumes = spec.volumes.map((v) =>
      v.persistentVolumeClaim && claims.has(v.name) ? { ...v, persistentVolumeClaim: { ...v.persistentVolumeClaim, claimName: claimName(v.name, set.metadata.name, ordinal) } } : v,
    );
  }
  return pod;
}

function newClaim(set: StatefulSet, t: VolumeClaimTemplate, ordinal: number, now: number): StoredClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: claimName(t.metadata.name, set.metadata.name, ordinal),
      namespace: set.metadata.namespace,
      labels: { ...(t.metadata.labels ?? {}), ...set.spec.selector.matchLabels },
      ...(t.metadata.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
      owner: { kind: KIND, name: set.metadata.name, ordinal },
      createdAt: iso(now),
    },
    spec: structuredClone(t.spec ?? {}),
  };
}

const runningAndReady = (p: Pod): boolean => p.status.phase === 'Running' && p.status.ready && p.metadata.deletionRequestedAt === undefined;

function availableAt(p: Pod, minReadySeconds: number, now: number): boolean {
  if (!runningAndReady(p)) return false;
  if (minReadySeconds <= 0) return true;
  const since = p.status.readySince === undefined ? Number.NaN : Date.parse(p.status.readySince);
  return !Number.isNaN(since) && since + minReadySeconds * 1000 <= now;
}

function sameStatus(a: StatefulSetStatus | undefined, b: StatefulSetStatus): boolean {
  if (!a) return false;
  const strip = (s: StatefulSetStatus) => ({ ...s, observedAt: '', conditions: s.conditions.map((c) => ({ ...c, lastTransitionTime: '' })) });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

export function planStatefulSet(o: ObservedStatefulSet, now: number, keys: PlanKeys): StatefulSetPlan {
  const plan: StatefulSetPlan = { compare: [], ops: [], events: [], writeStatus: false, removeStatus: false, created: [], stopping: [], removed: [] };
  const guarded = new Set<string>();
  const guard = (s: { key: string; modRevision: number }): void => {
    if (guarded.has(s.key)) return;
    guarded.add(s.key);
    plan.compare.push({ key: s.key, target: 'modRevision', op: '==', value: s.modRevision });
  };
  const create = (key: string, value: unknown): void => {
    guarded.add(key);
    plan.compare.push({ key, target: 'createRevision', op: '==', value: 0 });
    plan.ops.push({ type: 'put', key, value: JSON.stringify(value) });
  };
  const object = `${KIND}/${o.name}`;
  const event = (reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void => {
    plan.events.push({ namespace: o.namespace, object, type, reason, message });
  };
  const stop = (p: Stored<Pod>): void => {
    guard(p);
    if (!p.value.spec.nodeName) {
      // Never bound: no agent runs it, so it goes now (the guard loses to a concurrent bind).
      plan.ops.push({ type: 'delete', key: p.key });
      plan.removed.push(p.value.metadata.name);
    } else {
      const pod: Pod = { ...p.value, metadata: { ...p.value.metadata, deletionRequestedAt: iso(now) } };
      plan.ops.push({ type: 'put', key: p.key, value: JSON.stringify(pod) });
      plan.stopping.push(p.value.metadata.name);
    }
    event('SuccessfulDelete', `delete Pod ${p.value.metadata.name} in StatefulSet ${o.name} successful`);
  };

  // Pods that have stopped (or never ran) leave the store; their ordinal waits for the next pass.
  const byOrdinal = new Map<number, Stored<Pod>>();
  const gone = new Set<number>();
  for (const p of o.pods) {
    const ordinal = ordinalOf(o.name, p.value.metadata.name);
    if (ordinal === undefined) continue;
    if (p.value.metadata.deletionRequestedAt !== undefined && (p.value.status.terminatedAt !== undefined || !p.value.spec.nodeName)) {
      guard(p);
      plan.ops.push({ type: 'delete', key: p.key });
      plan.removed.push(p.value.metadata.name);
      gone.add(ordinal);
      continue;
    }
    byOrdinal.set(ordinal, p);
  }

  const set = o.set;
  if (!set) {
    // Gone from Git: every pod is asked to stop; claims go only with whenDeleted: Delete (set at the last status).
    for (const p of byOrdinal.values()) if (p.value.metadata.deletionRequestedAt === undefined) stop(p);
    if (byOrdinal.size === 0 && gone.size === 0 && o.status) {
      if (o.status.value.whenDeleted === 'Delete') {
        for (const c of o.claims) {
          guard(c);
          plan.ops.push({ type: 'delete', key: c.key });
          event('SuccessfulDelete', `delete Claim ${c.value.metadata.name} in StatefulSet ${o.name} successful`);
        }
      }
      guard(o.status);
      plan.ops.push({ type: 'delete', key: o.status.key });
      plan.removeStatus = true;
    }
    return plan;
  }

  const spec = set.spec;
  const start = spec.ordinals?.start ?? 0;
  const replicas = o.scaledReplicas ?? spec.replicas ?? 1;
  const end = start + replicas;
  const ordered = (spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
  const strategy = spec.updateStrategy?.type ?? 'RollingUpdate';
  const partition = strategy === 'RollingUpdate' ? (spec.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
  const minReadySeconds = spec.minReadySeconds ?? 0;

  const updateTemplate = templateOf(set);
  const updateHash = revisionHash(updateTemplate);
  const prev = o.status?.value;
  const prevCurrent = prev?.currentRevision?.startsWith(`${o.name}-`) ? prev.currentRevision.slice(o.name.length + 1) : undefined;
  let currentHash = prevCurrent !== undefined && prev?.templates?.[prevCurrent] ? prevCurrent : updateHash;
  const templates: Record<string, Template> = { [updateHash]: updateTemplate };
  if (currentHash !== updateHash) templates[currentHash] = prev!.templates[currentHash]!;
  const hashOf = (p: Pod): string => p.metadata.labels[REVISION_HASH_LABEL] ?? p.metadata.owner.revision;
  const targetHash = (ordinal: number): string => (strategy === 'RollingUpdate' && ordinal - start < partition ? currentHash : updateHash);

  // Claims of every ordinal that will have a pod.
  const claimsByName = new Map(o.claims.map((c) => [c.value.metadata.name, c]));
  const ensureClaims = (ordinal: number): void => {
    for (const t of spec.volumeClaimTemplates ?? []) {
      const name = claimName(t.metadata.name, o.name, ordinal);
      if (claimsByName.has(name)) continue;
      const claim = newClaim(set, t, ordinal, now);
      create(keys.claim(o.namespace, name), claim);
      claimsByName.set(name, { key: keys.claim(o.namespace, name), value: claim, modRevision: 0 });
      event('SuccessfulCreate', `create Claim ${name} Pod ${podName(o.name, ordinal)} in StatefulSet ${o.name} success`);
    }
  };

  // 1. Create missing pods in ordinal order (OrderedReady: one, once every lower one is Running and Ready).
  let blocked = false;
  let createdThisPass = 0;
  for (let i = start; i < end; i++) {
    const p = byOrdinal.get(i);
    if (p === undefined) {
      if (gone.has(i) || blocked) {
        if (ordered) blocked = true;
        continue;
      }
      if (createdThisPass >= MAX_PARALLEL_PER_PASS) break;
      const hash = targetHash(i);
      ensureClaims(i);
      const pod = statefulPod(set, templates[hash]!, hash, i, now);
      create(keys.pod(o.namespace, pod.metadata.name), pod);
      plan.created.push(pod.metadata.name);
      createdThisPass++;
      event('SuccessfulCreate', `create Pod ${pod.metadata.name} in StatefulSet ${o.name} successful`);
      if (ordered) blocked = true;
    } else if (ordered && !runningAndReady(p.value)) {
      blocked = true;
    }
  }

  const inRange = [...byOrdinal.entries()].filter(([i]) => i >= start && i < end);
  const allHealthy = inRange.length === replicas && gone.size === 0 && inRange.every(([, p]) => runningAndReady(p.value)) && plan.created.length === 0;

  // 2. Scale down: ordinals outside [start, end), highest first; OrderedReady one at a time once the rest are healthy.
  const condemned = [...byOrdinal.entries()].filter(([i]) => i < start || i >= end).sort((a, b) => b[0] - a[0]);
  const condemnedStopping = condemned.some(([, p]) => p.value.metadata.deletionRequestedAt !== undefined) || [...gone].some((i) => i < start || i >= end);
  if (condemned.length > 0) {
    if (!ordered) {
      for (const [, p] of condemned) if (p.value.metadata.deletionRequestedAt === undefined) stop(p);
    } else if (!condemnedStopping && (allHealthy || inRange.length === 0 || replicas === 0)) {
      stop(condemned[0]![1]);
    }
  }
  if (spec.persistentVolumeClaimRetentionPolicy?.whenScaled === 'Delete') {
    for (const c of o.claims) {
      const ord = c.value.metadata.owner.ordinal;
      if ((ord < start || ord >= end) && !byOrdinal.has(ord) && !gone.has(ord)) {
        guard(c);
        plan.ops.push({ type: 'delete', key: c.key });
        event('SuccessfulDelete', `delete Claim ${c.value.metadata.name} in StatefulSet ${o.name} successful`);
      }
    }
  }

  // 3. Rolling update: the highest ordinal >= partition not at the update revision, once every pod is Ready.
  if (strategy === 'RollingUpdate' && allHealthy && condemned.length === 0) {
    for (let i = end - 1; i >= start + partition; i--) {
      const p = byOrdinal.get(i)!;
      if (hashOf(p.value) !== updateHash) {
        stop(p);
        break;
      }
    }
  }

  // Status: what the pods are once this pass's writes land.
  const active = inRange.map(([, p]) => p.value).filter((p) => p.metadata.deletionRequestedAt === undefined && !plan.stopping.includes(p.metadata.name));
  const updated = active.filter((p) => hashOf(p) === updateHash).length;
  const ready = active.filter(runningAndReady).length;
  const available = active.filter((p) => availableAt(p, minReadySeconds, now)).length;
  const allUpdated = updated === replicas && active.length === replicas;
  // Kubernetes: once every pod is at the update revision, it becomes the current one.
  if (allUpdated && ready === replicas) currentHash = updateHash;
  if (currentHash === updateHash) for (const h of Object.keys(templates)) if (h !== updateHash) delete templates[h];
  const current = active.filter((p) => hashOf(p) === currentHash).length;
  const done =
    ready === replicas &&
    active.length === replicas &&
    condemned.length === 0 &&
    (strategy === 'OnDelete' || active.every((p) => ordinalOf(o.name, p.metadata.name)! - start < partition || hashOf(p) === updateHash));
  const revisionNumber = (prev?.revision ?? 0) + (prev && prev.updateRevision !== `${o.name}-${updateHash}` ? 1 : prev ? 0 : 1);
  const phase: WorkloadStatus['phase'] = done ? 'Healthy' : 'Progressing';
  const message = done
    ? `statefulset "${o.name}": ${ready} of ${replicas} pods ready${partition > 0 ? `, ordinals below ${start + partition} held at the current revision by partition` : ''}`
    : `statefulset "${o.name}": ${ready} of ${replicas} pods ready, ${updated} updated`;
  const prevCond = prev?.conditions.find((c) => c.type === 'Ready');
  const condStatus = done ? 'True' : 'False';
  const status: StatefulSetStatus = {
    namespace: o.namespace,
    name: o.name,
    kind: KIND,
    phase,
    revision: revisionNumber,
    replicas,
    readyReplicas: ready,
    availableReplicas: available,
    updatedReplicas: updated,
    currentReplicas: current,
    currentRevision: `${o.name}-${currentHash}`,
    updateRevision: `${o.name}-${updateHash}`,
    templates,
    whenDeleted: spec.persistentVolumeClaimRetentionPolicy?.whenDeleted ?? 'Retain',
    ...(o.commit !== undefined ? { syncedCommit: o.commit } : {}),
    message,
    conditions: [{ type: 'Ready', status: condStatus, lastTransitionTime: prevCond && prevCond.status === condStatus ? prevCond.lastTransitionTime : iso(now) }],
    observedAt: iso(now),
  };
  plan.status = status;
  if (!sameStatus(prev, status)) {
    plan.writeStatus = true;
    if (o.status) guard(o.status);
    else plan.compare.push({ key: keys.status(o.namespace, o.name), target: 'createRevision', op: '==', value: 0 });
    plan.ops.push({ type: 'put', key: keys.status(o.namespace, o.name), value: JSON.stringify(status) });
  }
  return plan;
}
