// StatefulSet and DaemonSet (apps/v1): schemas, types and the checks JSON Schema cannot say.
// Both share the Deployment's selector and pod template (checked by checks.ts checkWorkload).

import type { FieldPath } from './document.js';
import type { Report } from './checks.js';
import { dnsLabelProblem } from './names.js';
import { checkClaimSpec } from './pvc.js';
import { podTemplateRef } from './pod.js';
import type { IntOrString, PodTemplateSpec } from './pod.js';
import { arr, int, intOrPercent, labels, mapOf, nonEmpty, obj, oneOfValues, quantity, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One entry of `spec.volumeClaimTemplates`: a PersistentVolumeClaim made per pod. */
export interface VolumeClaimTemplate {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    accessModes?: Array<'ReadWriteOnce' | 'ReadOnlyMany' | 'ReadWriteMany' | 'ReadWriteOncePod'>;
    resources?: { requests?: { storage?: string | number }; limits?: { storage?: string | number } };
    storageClassName?: string;
    volumeMode?: 'Filesystem' | 'Block';
  };
}

export type ClaimRetention = 'Retain' | 'Delete';

export interface StatefulSetSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: PodTemplateSpec;
  /** The headless Service giving the pods their network identity; accepted, discovery is the Service's. */
  serviceName?: string;
  podManagementPolicy?: 'OrderedReady' | 'Parallel';
  updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { partition?: number } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  volumeClaimTemplates?: VolumeClaimTemplate[];
  persistentVolumeClaimRetentionPolicy?: { whenDeleted?: ClaimRetention; whenScaled?: ClaimRetention };
  /** Kubernetes' `ordinals.start`: the first ordinal (default 0). */
  ordinals?: { start?: number };
}

export interface StatefulSet extends ManifestObject {
  apiVersion: 'apps/v1';
  kind: 'StatefulSet';
  spec: StatefulSetSpec;
}

export interface DaemonSetSpec {
  selector: { matchLabels: Record<string, string> };
  template: PodTemplateSpec;
  updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxUnavailable?: IntOrString; maxSurge?: IntOrString } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
}

export interface DaemonSet extends ManifestObject {
  apiVersion: 'apps/v1';
  kind: 'DaemonSet';
  spec: DaemonSetSpec;
}

function claimTemplateSchema(): Schema {
  return obj(
    {
      apiVersion: str(),
      kind: str(),
      metadata: obj({ name: nonEmpty(), labels: labels(), annotations: mapOf(str()) }, ['name']),
      spec: obj({
        accessModes: arr(oneOfValues(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'])),
        resources: obj({ requests: obj({ storage: quantity() }), limits: obj({ storage: quantity() }) }),
        storageClassName: str(),
        volumeMode: oneOfValues(['Filesystem', 'Block']),
      }),
    },
    ['metadata'],
  );
}

export function statefulSetSchema(): Schema {
  const retention = oneOfValues(['Retain', 'Delete']);
  const spec = obj(
    {
      replicas: int(0),
      selector: obj({ matchLabels: labels() }, ['matchLabels']),
      template: podTemplateRef(),
      serviceName: str(),
      podManagementPolicy: oneOfValues(['OrderedReady', 'Parallel']),
      updateStrategy: obj({
        type: oneOfValues(['RollingUpdate', 'OnDelete']),
        rollingUpdate: obj({ partition: int(0) }),
      }),
      minReadySeconds: int(0),
      revisionHistoryLimit: int(0),
      volumeClaimTemplates: arr(claimTemplateSchema()),
      persistentVolumeClaimRetentionPolicy: obj({ whenDeleted: retention, whenScaled: retention }),
      ordinals: obj({ start: int(0) }),
    },
    ['selector', 'template'],
  );
  return topLevel({ spec }, ['spec']);
}

export function daemonSetSchema(): Schema {
  const spec = obj(
    {
      selector: obj({ matchLabels: labels() }, ['matchLabels']),
      template: podTemplateRef(),
      updateStrategy: obj({
        type: oneOfValues(['RollingUpdate', 'OnDelete']),
        rollingUpdate: obj({ maxUnavailable: intOrPercent(), maxSurge: intOrPercent() }),
      }),
      minReadySeconds: int(0),
      revisionHistoryLimit: int(0),
    },
    ['selector', 'template'],
  );
  return topLevel({ spec }, ['spec']);
}

const isZero = (v: unknown): boolean => v === 0 || v === '0%';

function checkUpdateStrategy(spec: Obj, report: Report): void {
  const us = spec.updateStrategy;
  if (isObj(us) && us.type === 'OnDelete' && us.rollingUpdate !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', 'spec.updateStrategy.rollingUpdate may not be set when spec.updateStrategy.type is OnDelete', [
      'spec', 'updateStrategy', 'rollingUpdate',
    ]);
  }
}

/** StatefulSet and DaemonSet rules beyond the shared workload checks. */
export function checkAppsWorkload(spec: Obj, kind: string, report: Report): void {
  checkUpdateStrategy(spec, report);
  if (kind === 'StatefulSet') {
    const seen = new Map<string, number>();
    const templates = Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : [];
    templates.forEach((t, i) => {
      if (!isObj(t) || !isObj(t.metadata) || typeof t.metadata.name !== 'string') return;
      const path: FieldPath = ['spec', 'volumeClaimTemplates', i, 'metadata', 'name'];
      const name = t.metadata.name;
      const problem = dnsLabelProblem(name);
      if (problem) report('CAPSTAN_ERR_API_NAME', `spec.volumeClaimTemplates[${i}].metadata.name "${name}" ${problem}`, path);
      if (isObj(t.spec)) checkClaimSpec(t.spec, ['spec', 'volumeClaimTemplates', i, 'spec'], report);
      const first = seen.get(name);
      if (first !== undefined) {
        report('CAPSTAN_ERR_API_SCHEMA', `spec.volumeClaimTemplates[${i}].metadata.name "${name}" is already used by volumeClaimTemplates[${first}]`, path);
      } else {
        seen.set(name, i);
      }
    });
    return;
  }
  const us = spec.updateStrategy;
  const ru = isObj(us) && isObj(us.rollingUpdate) ? us.rollingUpdate : undefined;
  if (!ru) return;
  const path: FieldPath = ['spec', 'updateStrategy', 'rollingUpdate'];
  if (ru.maxSurge !== undefined && !isZero(ru.maxSurge)) {
    // A surge would run two daemon pods on a node at once; Capstan replaces in place.
    report('CAPSTAN_ERR_API_SCHEMA', 'spec.updateStrategy.rollingUpdate.maxSurge is not implemented by Capstan and is treated as 0', [...path, 'maxSurge'], 'warning');
  }
  if (ru.maxUnavailable !== undefined && isZero(ru.maxUnavailable)) {
    report('CAPSTAN_ERR_API_SCHEMA', 'spec.updateStrategy.rollingUpdate.maxUnavailable may not be 0 when maxSurge is 0', [...path, 'maxUnavailable']);
  }
  const mu = ru.maxUnavailable;
  if (typeof mu === 'string' && /^[0-9]+%$/.test(mu) && parseInt(mu, 10) > 100) {
    report('CAPSTAN_ERR_API_SCHEMA', `spec.updateStrategy.rollingUpdate.maxUnavailable must not be more than 100%, got "${mu}"`, [...path, 'maxUnavailable']);
  }
}

/**
 * The spec with one pod volume per volumeClaimTemplate appended (as the controller adds them),
 * so the pod checks see the claims as declared volumes. Existing volume indexes are unchanged.
 */
export function withClaimVolumes(spec: Obj): Obj {
  const templates = Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : [];
  const template = spec.template;
  if (templates.length === 0 || !isObj(template) || !isObj(template.spec)) return spec;
  const names = templates.map((t) => (isObj(t) && isObj(t.metadata) ? t.metadata.name : undefined)).filter((n): n is string => typeof n === 'string');
  const volumes = Array.isArray(template.spec.volumes) ? template.spec.volumes : [];
  const declared = new Set(volumes.map((v) => (isObj(v) ? v.name : undefined)));
  const extra = [...new Set(names)].filter((n) => !declared.has(n)).map((n) => ({ name: n, persistentVolumeClaim: { claimName: n } }));
  if (extra.length === 0) return spec;
  return { ...spec, template: { ...template, spec: { ...template.spec, volumes: [...volumes, ...extra] } } };
}
