// Pod volumes, the pure part: where each volume of a pod lives on the node, which files a
// configMap, secret, downwardAPI or projected volume holds (with their modes), and what each
// container mounts where. Writing the files and folders is volumes-fs.ts.
//
// Layout under the agent's data dir:
//   pods/<namespace>/<pod>/volumes/<volume>   emptyDir, configMap, secret, downwardAPI, projected
//                                             (removed with the pod)
//   volumes/<namespace>/<claimName>           persistentVolumeClaim (kept when the pod goes)
// hostPath volumes are the host path itself.

import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { CapstanError } from '../common/index.js';
import type { ContainerSpec, Pod } from '../api/cluster.js';
import type { DownwardAPIFile, HostPathType, KeyToPath, Volume } from '../api/pod.js';
import { modeValue } from '../api/volumes.js';
import type { EnvSourceRef } from './env.js';

/** The file mode of configMap, secret, downwardAPI and projected files unless the pod says otherwise (Kubernetes' 0644). */
export const DEFAULT_FILE_MODE = 0o644;

/** One file of a volume whose files the agent writes; `path` is relative to the volume. */
export interface VolumeFile {
  path: string;
  content: string;
  mode: number;
}

/** A ConfigMap's or Secret's data (Secret values decoded), or undefined when it does not exist. */
export type VolumeDataLookup = (ref: EnvSourceRef) => Record<string, string> | undefined;

export type VolumePlan =
  | { name: string; kind: 'emptyDir'; dir: string }
  | { name: string; kind: 'files'; dir: string; files: VolumeFile[]; secret: boolean }
  | { name: string; kind: 'hostPath'; dir: string; type: HostPathType }
  | { name: string; kind: 'claim'; dir: string; readOnly: boolean };

/** A volume mount as a runtime applies it: `source` on the node appears at `target` in the container. */
export interface ResolvedMount {
  volume: string;
  source: string;
  target: string;
  readOnly: boolean;
  /** The mount names a subPath (`source` already points into it). */
  subPath?: string;
  /**
   * A subPath into a configMap/secret/downwardAPI volume: `source` is the file of the version
   * the mount started with (a bind keeps it, as the kubelet's does); this path goes through
   * `..data` and follows updates (what the process runtime hands its processes).
   */
  followPath?: string;
}

/** Names become path segments: kept to a safe alphabet (as the process runtime does). */
export function safeSegment(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_').replace(/^\.+/, '_');
}

/** The folder of a persistentVolumeClaim's data on a node: `<dataDir>/volumes/<namespace>/<claimName>`. */
export function claimVolumePath(dataDir: string, namespace: string, claimName: string): string {
  return join(dataDir, 'volumes', safeSegment(namespace), safeSegment(claimName));
}

/** The folder holding a pod's own volumes: `<dataDir>/pods/<namespace>/<pod>/volumes`. */
export function podVolumesDir(dataDir: string, namespace: string, pod: string): string {
  return join(dataDir, 'pods', safeSegment(namespace), safeSegment(pod), 'volumes');
}

/** `CAPSTAN_VOLUME_<NAME>`: the variable the process runtime names a volume's folder by. */
export function volumeEnvName(volume: string): string {
  return `CAPSTAN_VOLUME_${volume.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The ConfigMaps and Secrets the pod's volumes read, each once. */
export function volumeRefs(pod: Pod): EnvSourceRef[] {
  const out = new Map<string, EnvSourceRef>();
  const add = (kind: EnvSourceRef['kind'], name: string | undefined): void => {
    if (name) out.set(`${kind}/${name}`, { kind, name });
  };
  for (const v of pod.spec.volumes ?? []) {
    if (v.configMap) add('ConfigMap', v.configMap.name);
    if (v.secret) add('Secret', v.secret.secretName);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) add('ConfigMap', s.configMap.name);
      if (s.secret) add('Secret', s.secret.name);
    }
  }
  return [...out.values()];
}

/**
 * Where each of the pod's volumes lives and, for those whose files the agent writes, which
 * files. Throws CAPSTAN_ERR_AGENT_CONTAINER_CONFIG for a missing ConfigMap or Secret (or key)
 * that is not optional, as the kubelet fails the mount.
 */
export function planVolumes(pod: Pod, dataDir: string, data: VolumeDataLookup): VolumePlan[] {
  const own = podVolumesDir(dataDir, pod.metadata.namespace, pod.metadata.name);
  return (pod.spec.volumes ?? []).map((v): VolumePlan => {
    const dir = join(own, safeSegment(v.name));
    if (v.hostPath) return { name: v.name, kind: 'hostPath', dir: v.hostPath.path, type: v.hostPath.type ?? '' };
    if (v.persistentVolumeClaim) {
      return { name: v.name, kind: 'claim', dir: claimVolumePath(dataDir, pod.metadata.namespace, v.persistentVolumeClaim.claimName), readOnly: v.persistentVolumeClaim.readOnly === true };
    }
    if (v.configMap || v.secret || v.downwardAPI || v.projected) {
      return { name: v.name, kind: 'files', dir, files: volumeFiles(v, pod, data), secret: v.secret !== undefined || (v.projected?.sources ?? []).some((s) => s.secret !== undefined) };
    }
    return { name: v.name, kind: 'emptyDir', dir };
  });
}

function mode(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return modeValue(value) ?? fallback;
}

function missing(what: string, volume: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `volume "${volume}": ${what} not found`, { context: { volume, reason: 'CreateContainerConfigError' } });
}

/** Keys Kubernetes allows in a ConfigMap or Secret; others are never written as files. */
const KEY = /^[-._a-zA-Z0-9]+$/;

function keyFiles(
  volume: string,
  kind: EnvSourceRef['kind'],
  name: string,
  items: KeyToPath[] | undefined,
  optional: boolean,
  defaultMode: number,
  data: VolumeDataLookup,
): VolumeFile[] {
  const label = kind === 'ConfigMap' ? 'configmap' : 'secret';
  const found = data({ kind, name });
  if (found === undefined) {
    if (optional) return [];
    throw missing(`${label} "${name}"`, volume);
  }
  if (items === undefined || items.length === 0) {
    return Object.keys(found)
      .filter((k) => KEY.test(k) && k !== '.' && k !== '..')
      .sort()
      .map((k) => ({ path: k, content: found[k], mode: defaultMode }));
  }
  const out: VolumeFile[] = [];
  for (const item of items) {
    const value = found[item.key];
    if (value === undefined) {
      if (optional) continue;
      throw missing(`key "${item.key}" in ${label} "${name}"`, volume);
    }
    out.push({ path: posix.normalize(item.path), content: value, mode: mode(item.mode, defaultMode) });
  }
  return out;
}

/** A stable id for the pod (Capstan pods carry no uid): derived from its namespace, name and creation time. */
export function podUid(pod: Pod): string {
  const h = createHash('sha256').update(`${pod.metadata.namespace}/${pod.metadata.name}/${pod.metadata.createdAt}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** `key="value"` lines sorted by key, as the kubelet writes labels and annotations. */
function mapLines(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map![k])}`)
    .join('\n');
}

/** The value of a downward API field of the pod, or undefined for a field not written. */
export function downwardValue(pod: Pod, fieldPath: string): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[keyed[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return podUid(pod);
    case 'metadata.labels':
      return mapLines(pod.metadata.labels);
    case 'metadata.annotations':
      return mapLines(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return (pod.spec as { serviceAccountName?: string }).serviceAccountName ?? 'default';
    default:
      return undefined;
  }
}

function downwardFiles(pod: Pod, items: DownwardAPIFile[] | undefined, defaultMode: number): VolumeFile[] {
  const out: VolumeFile[] = [];
  for (const item of items ?? []) {
    const value = item.fieldRef ? downwardValue(pod, item.fieldRef.fieldPath) : undefined;
    if (value === undefined) continue; // resourceFieldRef: not written (a warning said so)
    out.push({ path: posix.normalize(item.path), content: value, mode: mode(item.mode, defaultMode) });
  }
  return out;
}

/** The files of a configMap, secret, downwardAPI or projected volume (later sources of a projected volume win a path). */
export function volumeFiles(v: Volume, pod: Pod, data: VolumeDataLookup): VolumeFile[] {
  if (v.configMap) {
    const s = v.configMap;
    return keyFiles(v.name, 'ConfigMap', s.name, s.items, s.optional === true, mode(s.defaultMode, DEFAULT_FILE_MODE), data);
  }
  if (v.secret) {
    const s = v.secret;
    return keyFiles(v.name, 'Secret', s.secretName, s.items, s.optional === true, mode(s.defaultMode, DEFAULT_FILE_MODE), data);
  }
  if (v.downwardAPI) return downwardFiles(pod, v.downwardAPI.items, mode(v.downwardAPI.defaultMode, DEFAULT_FILE_MODE));
  if (v.projected) {
    const defaultMode = mode(v.projected.defaultMode, DEFAULT_FILE_MODE);
    const byPath = new Map<string, VolumeFile>();
    for (const s of v.projected.sources ?? []) {
      let files: VolumeFile[] = [];
      if (s.configMap) files = keyFiles(v.name, 'ConfigMap', s.configMap.name, s.configMap.items, s.configMap.optional === true, defaultMode, data);
      else if (s.secret) files = keyFiles(v.name, 'Secret', s.secret.name, s.secret.items, s.secret.optional === true, defaultMode, data);
      else if (s.downwardAPI) files = downwardFiles(pod, s.downwardAPI.items, defaultMode);
      for (const f of files) byPath.set(f.path, f);
    }
    return [...byPath.values()];
  }
  return [];
}

/**
 * The container's mounts, in its order. A subPath points into the volume; a mount of a
 * volume the pod does not declare is skipped (validation refuses such a pod). Containers of
 * one pod mounting one volume get the same source folder.
 */
export function containerMounts(container: Pick<ContainerSpec, 'volumeMounts'>, plans: VolumePlan[]): ResolvedMount[] {
  const out: ResolvedMount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const plan = plans.find((p) => p.name === m.name);
    if (plan === undefined) continue;
    const sub = m.subPath ? posix.normalize(m.subPath) : undefined;
    const readOnly = m.readOnly === true || (plan.kind === 'claim' && plan.readOnly);
    out.push({ volume: m.name, source: sub ? join(plan.dir, sub) : plan.dir, target: m.mountPath, readOnly, ...(sub ? { subPath: sub } : {}) });
  }
  return out;
}
