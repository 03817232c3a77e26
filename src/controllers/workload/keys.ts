// Store keys, JSON codecs and names shared by the workload and revision controllers.
import { createHash } from 'node:crypto';
import { STORE_PREFIX, type Pod, type Revision } from '../../api/cluster.js';
import type { KeyValue } from '../../store/index.js';

/** Pods carry their revision's template hash under this label (Kubernetes: pod-template-hash). */
export const REVISION_HASH_LABEL = 'capstan.dev/revision-hash';

/** The kinds the workload controller rolls out. */
export const WORKLOAD_KINDS: readonly string[] = ['Deployment', 'Rollout'];

export interface WorkloadRef {
  kind: string;
  namespace: string;
  name: string;
}

/** `<Kind>/<ns>/<name>` → its parts; undefined for anything else. */
export function parseWorkloadKey(key: string): WorkloadRef | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  const [kind, namespace, name] = parts as [string, string, string];
  return WORKLOAD_KINDS.includes(kind) ? { kind, namespace, name } : undefined;
}

export function workloadKey(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export const desiredKeyOf = (ref: WorkloadRef): string => `${STORE_PREFIX.desired}${workloadKey(ref)}`;
export const statusKeyOf = (ref: WorkloadRef): string => `${STORE_PREFIX.status}${workloadKey(ref)}`;
export const revisionsPrefixOf = (ref: WorkloadRef): string => `${STORE_PREFIX.revisions}${ref.namespace}/${ref.name}/`;
export const historyPrefixOf = (ref: WorkloadRef): string => `${STORE_PREFIX.history}${ref.namespace}/${ref.name}/`;
/** Pods are named `<workload>-<hash>-<suffix>`, so this prefix narrows the read; owners are still checked. */
export const podsPrefixOf = (ref: WorkloadRef): string => `${STORE_PREFIX.pods}${ref.namespace}/${ref.name}-`;

export function historyKeyOf(ref: WorkloadRef, revision: number): string {
  return `${historyPrefixOf(ref)}${String(revision).padStart(8, '0')}`;
}

/** The revision controller's key: `<ns>/<workload>/<hash>` (the store key without its prefix). */
export function revisionKey(namespace: string, workload: string, hash: string): string {
  return `${namespace}/${workload}/${hash}`;
}

export function parseRevisionKey(key: string): { namespace: string; workload: string; hash: string } | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) return undefined;
  const [namespace, workload, hash] = parts as [string, string, string];
  return { namespace, workload, hash };
}

export function podKey(namespace: string, name: string): string {
  return `${STORE_PREFIX.pods}${namespace}/${name}`;
}

const decoder = new TextDecoder();

/** JSON of a stored value, or undefined when it is not JSON (never trusted blindly). */
export function decodeJson<T>(kv: KeyValue | undefined): T | undefined {
  if (!kv || kv.value.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(kv.value)) as T;
  } catch {
    return undefined;
  }
}

export function isPod(v: unknown): v is Pod {
  const p = v as Partial<Pod> | undefined;
  return typeof p === 'object' && p !== null && typeof p.metadata?.name === 'string' && typeof p.metadata.owner === 'object' && typeof p.status === 'object' && typeof p.spec === 'object';
}

export function isRevision(v: unknown): v is Revision {
  const r = v as Partial<Revision> | undefined;
  return typeof r === 'object' && r !== null && typeof r.metadata?.hash === 'string' && typeof r.metadata.owner === 'object' && typeof r.replicas === 'number';
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// Kubernetes' "safe" alphabet (no vowels, no look-alikes) keeps hashes from spelling words.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A stable 10-character hash of a pod template's labels and spec. */
export function templateHash(template: { labels: Record<string, string>; spec: unknown }): string {
  const digest = createHash('sha256').update(canonicalJson({ labels: template.labels, spec: template.spec })).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += SAFE_ALPHABET[digest[i]! % SAFE_ALPHABET.length];
  return out;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/** `n` random lowercase letters from an injected `random()` in [0, 1). */
export function randomSuffix(random: () => number, n = 5): string {
  let out = '';
  for (let i = 0; i < n; i++) out += LOWER[Math.min(LOWER.length - 1, Math.floor(random() * LOWER.length))];
  return out;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** ms since the epoch of an ISO time, or undefined when absent or not a time. */
export function ms(time: string | undefined): number | undefined {
  if (time === undefined) return undefined;
  const t = Date.parse(time);
  return Number.isNaN(t) ? undefined : t;
}
