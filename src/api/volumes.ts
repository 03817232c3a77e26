// Checks on pod volumes and volume mounts that JSON Schema cannot say: one source per volume,
// unique names, mounts naming a declared volume, absolute mount paths, relative file paths
// without "..", and warnings for what is accepted but does not do all Kubernetes does.

import type { FieldPath } from './document.js';
import { dnsLabelProblem } from './names.js';
import { VOLUME_SOURCES } from './pod.js';

type Obj = Record<string, unknown>;
type Report = (code: 'CAPSTAN_ERR_API_SCHEMA' | 'CAPSTAN_ERR_API_NAME', message: string, path: FieldPath, severity?: 'error' | 'warning') => void;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const where = (path: FieldPath): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/** The downward API fields written as files. */
export const DOWNWARD_FIELDS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations', 'spec.nodeName', 'spec.serviceAccountName'];
const DOWNWARD_KEYED = /^metadata\.(labels|annotations)\['[^']+'\]$/;

export const HOST_PATH_WARNING = 'hostPath reaches the host itself: the pod reads (and unless readOnly, writes) that path on whatever node it runs on';
export const MEMORY_MEDIUM_WARNING = 'emptyDir medium Memory is a folder on the node disk, not tmpfs, and sizeLimit is not enforced';

/**
 * A file mode as read. The reader takes `0644` as octal, as Kubernetes does (420). A value over
 * 0o777 whose three digits are all octal (`644`, zero left out) is taken as those octal digits,
 * with a warning; other values are used as they are (420 is 0o644, as in JSON). Undefined for a
 * value that is no mode.
 */
export function modeValue(n: number): number | undefined {
  if (!Number.isInteger(n) || n < 0) return undefined;
  if (n <= 0o777) return n;
  if (/^[0-7]{3}$/.test(String(n))) return parseInt(String(n), 8);
  return undefined;
}

// Decimal modes people write on purpose (420 = 0o644 and so on): no warning for these.
const DECIMAL_MODES = new Set([256, 288, 292, 320, 360, 365, 384, 416, 420, 436, 438, 448, 488, 493, 504, 511]);

function checkMode(v: unknown, path: FieldPath, report: Report): void {
  if (typeof v !== 'number') return;
  const mode = modeValue(v);
  if (mode === undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where(path)} ${v} is not a file mode: write it in octal (0o644) or decimal (420)`, path);
  } else if (v > 0o777) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where(path)} ${v} is read as octal 0o${mode.toString(8)} (write 0o${mode.toString(8)} or ${mode} to say so)`, path, 'warning');
  } else if (/^[0-7]{3}$/.test(String(v)) && !DECIMAL_MODES.has(v)) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${where(path)} ${v} is decimal (0o${v.toString(8)}); write 0${v} if octal was meant`,
      path,
      'warning',
    );
  }
}

/** Why `p` is not a relative path that stays inside its volume, or undefined. */
export function relativePathProblem(p: string): string | undefined {
  if (p.startsWith('/')) return 'must be a relative path';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  if (p.startsWith('..')) return 'must not start with ".."';
  return undefined;
}

/** Checks `spec.volumes` and every container's `volumeMounts` of one pod spec at `path`. */
export function checkVolumes(pod: Obj, path: FieldPath, report: Report): void {
  // Every source in VOLUME_SOURCES is mounted by the agent (src/agent/volumes.ts); what it
  // cannot do (tmpfs, token files, resource fields) is warned about below.
  const declared = new Map<string, number>();
  list(pod.volumes).forEach((v, i) => {
    if (!isObj(v)) return;
    const vpath = [...path, 'volumes', i];
    if (typeof v.name === 'string') {
      const problem = dnsLabelProblem(v.name);
      if (problem) report('CAPSTAN_ERR_API_NAME', `${where([...vpath, 'name'])} "${v.name}" ${problem}`, [...vpath, 'name']);
      const first = declared.get(v.name);
      if (first !== undefined) report('CAPSTAN_ERR_API_SCHEMA', `${where([...vpath, 'name'])} "${v.name}" is already used by volumes[${first}]`, [...vpath, 'name']);
      else declared.set(v.name, i);
    }
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined);
    if (sources.length === 0) {
      const other = Object.keys(v).filter((k) => k !== 'name');
      const named = other.length > 0 ? ` (${other.join(', ')} is not supported)` : '';
      report('CAPSTAN_ERR_API_SCHEMA', `${where(vpath)} needs one volume source of ${VOLUME_SOURCES.join(', ')}${named}`, vpath);
    } else if (sources.length > 1) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where(vpath)} sets ${sources.join(' and ')}: a volume has exactly one source`, [...vpath, sources[1]]);
    }
    if (isObj(v.hostPath)) report('CAPSTAN_ERR_API_SCHEMA', `${where([...vpath, 'hostPath'])}: ${HOST_PATH_WARNING}`, [...vpath, 'hostPath'], 'warning');
    if (isObj(v.hostPath) && typeof v.hostPath.path === 'string' && !v.hostPath.path.startsWith('/')) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...vpath, 'hostPath', 'path'])} "${v.hostPath.path}" must be an absolute path`, [...vpath, 'hostPath', 'path']);
    }
    if (isObj(v.emptyDir) && (v.emptyDir.medium === 'Memory' || v.emptyDir.sizeLimit !== undefined)) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...vpath, 'emptyDir'])}: ${MEMORY_MEDIUM_WARNING}`, [...vpath, 'emptyDir'], 'warning');
    }
    for (const s of ['configMap', 'secret', 'downwardAPI', 'projected'] as const) {
      if (isObj(v[s])) checkMode(v[s].defaultMode, [...vpath, s, 'defaultMode'], report);
    }
    for (const s of ['configMap', 'secret'] as const) {
      if (isObj(v[s])) checkItems(v[s], [...vpath, s], report);
    }
    if (isObj(v.downwardAPI)) checkDownward(v.downwardAPI, [...vpath, 'downwardAPI'], report);
    if (isObj(v.projected)) {
      list(v.projected.sources).forEach((src, j) => {
        if (!isObj(src)) return;
        const spath = [...vpath, 'projected', 'sources', j];
        const kinds = ['configMap', 'secret', 'downwardAPI', 'serviceAccountToken'].filter((k) => src[k] !== undefined);
        if (kinds.length !== 1) report('CAPSTAN_ERR_API_SCHEMA', `${where(spath)} needs exactly one of configMap, secret, downwardAPI, serviceAccountToken`, spath);
        for (const s of ['configMap', 'secret'] as const) if (isObj(src[s])) checkItems(src[s], [...spath, s], report);
        if (isObj(src.downwardAPI)) checkDownward(src.downwardAPI, [...spath, 'downwardAPI'], report);
        if (src.serviceAccountToken !== undefined) {
          report('CAPSTAN_ERR_API_SCHEMA', `${where([...spath, 'serviceAccountToken'])} is not supported: no token file is written`, [...spath, 'serviceAccountToken'], 'warning');
        }
      });
    }
  });

  for (const group of ['containers', 'initContainers']) {
    list(pod[group]).forEach((c, i) => {
      if (!isObj(c)) return;
      const seen = new Map<string, number>();
      list(c.volumeMounts).forEach((m, j) => {
        if (!isObj(m)) return;
        const mpath = [...path, group, i, 'volumeMounts', j];
        if (typeof m.name === 'string' && !declared.has(m.name)) {
          report('CAPSTAN_ERR_API_SCHEMA', `${where([...mpath, 'name'])} "${m.name}" names no volume in ${where([...path, 'volumes'])}`, [...mpath, 'name']);
        }
        if (typeof m.mountPath === 'string') {
          if (!m.mountPath.startsWith('/')) {
            report('CAPSTAN_ERR_API_SCHEMA', `${where([...mpath, 'mountPath'])} "${m.mountPath}" must be an absolute path`, [...mpath, 'mountPath']);
          }
          const norm = m.mountPath.replace(/\/+$/, '') || '/';
          const first = seen.get(norm);
          if (first !== undefined) report('CAPSTAN_ERR_API_SCHEMA', `${where([...mpath, 'mountPath'])} "${m.mountPath}" is already used by volumeMounts[${first}]`, [...mpath, 'mountPath']);
          else seen.set(norm, j);
        }
        if (typeof m.subPath === 'string' && m.subPath !== '') {
          const problem = relativePathProblem(m.subPath);
          if (problem) report('CAPSTAN_ERR_API_SCHEMA', `${where([...mpath, 'subPath'])} "${m.subPath}" ${problem}`, [...mpath, 'subPath']);
        }
      });
    });
  }
}

function checkItems(src: Obj, path: FieldPath, report: Report): void {
  const paths = new Set<string>();
  list(src.items).forEach((item, k) => {
    if (!isObj(item)) return;
    checkMode(item.mode, [...path, 'items', k, 'mode'], report);
    if (typeof item.path !== 'string') return;
    const ipath = [...path, 'items', k, 'path'];
    const problem = relativePathProblem(item.path);
    if (problem) report('CAPSTAN_ERR_API_SCHEMA', `${where(ipath)} "${item.path}" ${problem}`, ipath);
    if (paths.has(item.path)) report('CAPSTAN_ERR_API_SCHEMA', `${where(ipath)} "${item.path}" is used twice`, ipath);
    paths.add(item.path);
  });
}

function checkDownward(src: Obj, path: FieldPath, report: Report): void {
  list(src.items).forEach((item, k) => {
    if (!isObj(item)) return;
    const ipath = [...path, 'items', k];
    checkMode(item.mode, [...ipath, 'mode'], report);
    if (typeof item.path === 'string') {
      const problem = relativePathProblem(item.path);
      if (problem) report('CAPSTAN_ERR_API_SCHEMA', `${where([...ipath, 'path'])} "${item.path}" ${problem}`, [...ipath, 'path']);
    }
    const field = isObj(item.fieldRef) ? item.fieldRef.fieldPath : undefined;
    if (typeof field === 'string' && !DOWNWARD_FIELDS.includes(field) && !DOWNWARD_KEYED.test(field)) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...ipath, 'fieldRef', 'fieldPath'])} "${field}" is not supported: one of ${DOWNWARD_FIELDS.join(', ')}`, [...ipath, 'fieldRef', 'fieldPath']);
    }
    if (item.resourceFieldRef !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where([...ipath, 'resourceFieldRef'])} is not supported: the file is not written`, [...ipath, 'resourceFieldRef'], 'warning');
    }
    if (item.fieldRef === undefined && item.resourceFieldRef === undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `${where(ipath)} needs fieldRef or resourceFieldRef`, ipath);
    }
  });
}
