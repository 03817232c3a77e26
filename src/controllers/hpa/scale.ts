// The scale record: the replica count an autoscaler set for its target. It lives beside the
// desired record, never in it, so Git's spec.replicas stays as it is (plan and sync see no
// drift) while the workload controllers run the record's count.
import type { KV, KeyValue } from '../../store/index.js';

/** `/capstan/scale/<Kind>/<ns>/<name>` → ScaleRecord. */
export const SCALE_PREFIX = '/capstan/scale/';

export interface ScaleRecord {
  replicas: number;
  /** `<ns>/<name>` of the HorizontalPodAutoscaler that wrote it. */
  hpa: string;
  updatedAt: string;
}

export function scaleKey(kind: string, namespace: string, name: string): string {
  return `${SCALE_PREFIX}${kind}/${namespace}/${name}`;
}

const decoder = new TextDecoder();

export function decodeScale(item: KeyValue | undefined): ScaleRecord | undefined {
  if (!item || item.value.length === 0) return undefined;
  try {
    const v = JSON.parse(decoder.decode(item.value)) as Partial<ScaleRecord>;
    if (typeof v.replicas === 'number' && Number.isInteger(v.replicas) && v.replicas >= 0 && typeof v.hpa === 'string') return v as ScaleRecord;
  } catch {
    // not a scale record
  }
  return undefined;
}

/** The scale record of a target at a store revision, if an autoscaler wrote one. */
export async function readScale(kv: KV, kind: string, namespace: string, name: string, revision?: number): Promise<ScaleRecord | undefined> {
  const r = await kv.range(scaleKey(kind, namespace, name), revision !== undefined ? { revision } : {});
  return decodeScale(r.kvs[0]);
}

/** A scale record's key → the target's `<Kind>/<ns>/<name>` (the workload controllers' key). */
export function scaleTargetKey(item: KeyValue): string | undefined {
  return item.key.startsWith(SCALE_PREFIX) ? item.key.slice(SCALE_PREFIX.length) : undefined;
}
