// PersistentVolumeClaim (v1): a local volume on the node the claim binds to. The claim binds
// to the node its first pod is scheduled on (WaitForFirstConsumer) and every later pod using
// it goes to that node. Storage requests are recorded, not enforced: the volume is a folder.

import type { FieldPath } from './document.js';
import { fieldPathString } from './checks.js';
import type { Report } from './checks.js';
import { anyObject, arr, labels, obj, oneOfValues, quantity, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export type AccessMode = 'ReadWriteOnce' | 'ReadOnlyMany' | 'ReadWriteMany' | 'ReadWriteOncePod';
export const ACCESS_MODES: readonly AccessMode[] = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];
/** The storage class names that mean Capstan's local volumes (besides none at all). */
export const LOCAL_STORAGE_CLASSES: readonly string[] = ['', 'local'];

export interface PersistentVolumeClaimSpec {
  accessModes?: AccessMode[];
  resources?: { requests?: { storage?: string | number }; limits?: { storage?: string | number } };
  storageClassName?: string;
  volumeMode?: 'Filesystem';
  /** Set by the control plane when the claim binds. */
  volumeName?: string;
  selector?: unknown;
  dataSource?: unknown;
  dataSourceRef?: unknown;
}

export interface PersistentVolumeClaim extends ManifestObject {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  spec: PersistentVolumeClaimSpec;
}

export function persistentVolumeClaimSchema(): Schema {
  const selector = obj({ matchLabels: labels(), matchExpressions: arr({ type: 'object' }) });
  const ref = obj({ apiGroup: str(), kind: str(), name: str(), namespace: str() });
  const spec = obj({
    accessModes: arr(oneOfValues([...ACCESS_MODES]), { minItems: 1 }),
    resources: obj({ requests: obj({ storage: quantity() }), limits: obj({ storage: quantity() }) }),
    storageClassName: str(),
    volumeMode: oneOfValues(['Filesystem']),
    volumeName: str(),
    selector,
    dataSource: ref,
    dataSourceRef: ref,
  });
  return topLevel({ spec, status: anyObject() }, ['spec']);
}

/** Rules beyond the schema: fields accepted with no effect are warnings naming the field. */
export function checkPersistentVolumeClaim(o: Obj, report: Report): void {
  if (o.status !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', 'status is set by the control plane and is ignored', ['status'], 'warning');
  }
  if (isObj(o.spec)) checkClaimSpec(o.spec, ['spec'], report);
}

/**
 * A claim's spec (a PersistentVolumeClaim's or a volumeClaimTemplate's): fields with no effect
 * on a local volume are warnings naming the field.
 */
export function checkClaimSpec(spec: Obj, at: FieldPath, report: Report): void {
  const where = fieldPathString(at);
  const modes = Array.isArray(spec.accessModes) ? spec.accessModes : [];
  const many = modes.indexOf('ReadWriteMany');
  if (many >= 0) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${where}.accessModes: ReadWriteMany volumes are local to the one node the claim binds to; every pod using the claim runs on that node`,
      [...at, 'accessModes', many],
      'warning',
    );
  }
  const sc = spec.storageClassName;
  if (typeof sc === 'string' && !LOCAL_STORAGE_CLASSES.includes(sc)) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${where}.storageClassName "${sc}" has no effect: Capstan volumes are local folders on the node the claim binds to (use "local" or leave it out)`,
      [...at, 'storageClassName'],
      'warning',
    );
  }
  for (const field of ['selector', 'dataSource', 'dataSourceRef']) {
    if (spec[field] !== undefined) {
      const why = field === 'selector' ? 'claims bind to a new local volume, never to an existing PersistentVolume' : 'a new claim starts with an empty volume';
      report('CAPSTAN_ERR_API_SCHEMA', `${where}.${field} has no effect: ${why}`, [...at, field], 'warning');
    }
  }
  if (spec.volumeName !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where}.volumeName is set by the control plane when the claim binds and is ignored`, [...at, 'volumeName'], 'warning');
  }
  if (spec.volumeMode === 'Block') {
    report('CAPSTAN_ERR_API_SCHEMA', `${where}.volumeMode Block is not supported: the volume is a folder, mounted as Filesystem`, [...at, 'volumeMode'], 'warning');
  }
}
