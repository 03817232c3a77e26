// What the workload controller reads for one workload, at one store revision.
import { STORE_PREFIX, type DesiredRecord, type HistoryEntry, type Pod, type Revision, type WorkloadStatus } from '../../api/cluster.js';
import type { KV } from '../../store/index.js';
import { SCALE_PREFIX, decodeScale, scaleKey, type ScaleRecord } from '../hpa/scale.js';
import { observeProgressive, type ObservedProgressive, type ProgressiveStatusFields } from './progressive.js';
import {
  decodeJson,
  desiredKeyOf,
  historyPrefixOf,
  isPod,
  isRevision,
  podsPrefixOf,
  revisionsPrefixOf,
  statusKeyOf,
  type WorkloadRef,
} from './keys.js';

/**
 * The status record as stored: the contract fields plus a few the controller keeps for its
 * next pass (extra JSON fields are served as they are).
 */
export interface StoredWorkloadStatus extends WorkloadStatus, ProgressiveStatusFields {
  /** `<workload>-<hash>` of the current revision. */
  revisionName?: string;
  /** Machine-readable cause of the phase, e.g. `ProgressDeadlineExceeded`. */
  reason?: string;
  /** Non-terminating pods of every revision (Kubernetes `status.replicas`; `replicas` is the desired count). */
  currentReplicas?: number;
  unavailableReplicas?: number;
}

export interface Stored<T> {
  key: string;
  value: T;
  modRevision: number;
}

export interface ObservedWorkload {
  ref: WorkloadRef;
  /** Store revision every read was served at. */
  storeRevision: number;
  desired?: DesiredRecord;
  revisions: Stored<Revision>[];
  /** Pods owned by the workload, any revision. */
  pods: Stored<Pod>[];
  status?: Stored<StoredWorkloadStatus>;
  history: Stored<HistoryEntry>[];
  /** Override record, Services and traffic records (canary, blue-green, operator pause). */
  progressive?: ObservedProgressive;
  /** The replica count an autoscaler set, used instead of spec.replicas. */
  scale?: ScaleRecord;
  /**
   * A Rollout's `spec.workloadRef`: the referenced Deployment's desired record (undefined when
   * it is missing) and its scale record, as read at the same revision.
   */
  workloadRef?: { name: string; desired?: DesiredRecord; scale?: Stored<ScaleRecord> };
  /** A Rollout gone from Git: the Deployment scale records its workloadRef wrote, to remove. */
  orphanScales?: Stored<ScaleRecord>[];
  /** A Rollout's experiment pod groups (revisions named `<rollout>-<template>`, `experimentOf` this Rollout). */
  experiments?: Stored<Revision>[];
}

/** One consistent read of everything the workload controller decides from. */
export async function observeWorkload(kv: KV, ref: WorkloadRef): Promise<ObservedWorkload> {
  const first = await kv.range(desiredKeyOf(ref), { prefix: false });
  const revision = first.revision;
  const at = { revision };
  const [revs, pods, status, history, progressive, scale] = await Promise.all([
    kv.range(revisionsPrefixOf(ref), { prefix: true, ...at }),
    kv.range(podsPrefixOf(ref), { prefix: true, ...at }),
    kv.range(statusKeyOf(ref), { prefix: false, ...at }),
    kv.range(historyPrefixOf(ref), { prefix: true, ...at }),
    observeProgressive(kv, ref, revision),
    kv.range(scaleKey(ref.kind, ref.namespace, ref.name), { prefix: false, ...at }),
  ]);
  const out: ObservedWorkload = { ref, storeRevision: revision, revisions: [], pods: [], history: [], progressive };
  out.desired = decodeJson<DesiredRecord>(first.kvs[0]);
  const scaled = decodeScale(scale.kvs[0]);
  if (scaled) out.scale = scaled;
  for (const item of revs.kvs) {
    const r = decodeJson<unknown>(item);
    // An experiment's pod group belongs to the Rollout that runs it, not to a workload of its name.
    if (isRevision(r) && r.metadata.owner.kind === ref.kind && r.metadata.owner.name === ref.name && r.metadata.experimentOf === undefined) {
      out.revisions.push({ key: item.key, value: r, modRevision: item.modRevision });
    }
  }
  for (const item of pods.kvs) {
    const p = decodeJson<unknown>(item);
    if (isPod(p) && p.metadata.owner.kind === ref.kind && p.metadata.owner.name === ref.name) {
      out.pods.push({ key: item.key, value: p, modRevision: item.modRevision });
    }
  }
  const s = status.kvs[0];
  const sv = decodeJson<StoredWorkloadStatus>(s);
  if (s && sv) out.status = { key: s.key, value: sv, modRevision: s.modRevision };
  for (const item of history.kvs) {
    const h = decodeJson<HistoryEntry>(item);
    if (h && typeof h.revision === 'number') out.history.push({ key: item.key, value: h, modRevision: item.modRevision });
  }
  if (ref.kind === 'Rollout') {
    const exps = await kv.range(`${STORE_PREFIX.revisions}${ref.namespace}/${ref.name}-`, { prefix: true, ...at });
    out.experiments = [];
    for (const item of exps.kvs) {
      const r = decodeJson<unknown>(item);
      if (isRevision(r) && r.metadata.experimentOf === ref.name) out.experiments.push({ key: item.key, value: r, modRevision: item.modRevision });
    }
  }
  if (ref.kind === 'Rollout' && !out.desired) {
    const recs = await kv.range(`${SCALE_PREFIX}Deployment/${ref.namespace}/`, { prefix: true, ...at });
    for (const item of recs.kvs) {
      const sc = decodeScale(item) as (ScaleRecord & { rollout?: string }) | undefined;
      if (sc?.rollout === `${ref.namespace}/${ref.name}`) (out.orphanScales ??= []).push({ key: item.key, value: sc, modRevision: item.modRevision });
    }
  }
  const wref = (out.desired?.object as { spec?: { workloadRef?: { kind?: unknown; name?: unknown } } } | undefined)?.spec?.workloadRef;
  if (ref.kind === 'Rollout' && wref && typeof wref.name === 'string' && wref.name !== '') {
    const [dep, depScale] = await Promise.all([
      kv.range(desiredKeyOf({ kind: 'Deployment', namespace: ref.namespace, name: wref.name }), { prefix: false, ...at }),
      kv.range(scaleKey('Deployment', ref.namespace, wref.name), { prefix: false, ...at }),
    ]);
    out.workloadRef = { name: wref.name };
    const d = decodeJson<DesiredRecord>(dep.kvs[0]);
    if (d && typeof d.object === 'object' && d.object !== null) out.workloadRef.desired = d;
    const sc = decodeScale(depScale.kvs[0]);
    if (sc && depScale.kvs[0]) out.workloadRef.scale = { key: depScale.kvs[0].key, value: sc, modRevision: depScale.kvs[0].modRevision };
  }
  return out;
}
