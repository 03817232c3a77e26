// Namespace, ServiceAccount, Pod (bare) and Job (batch/v1): schemas, types and the checks
// JSON Schema cannot say.

import type { FieldPath } from './document.js';
import { POD_TEMPLATE_REF } from './pod.js';
import type { PodSpec, PodTemplateSpec } from './pod.js';
import { arr, bool, int, obj, oneOfValues, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

export interface Namespace extends ManifestObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  /** Accepted and ignored: Capstan has no namespace finalizers. */
  spec?: { finalizers?: string[] };
}

export interface ServiceAccount extends ManifestObject {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  /** Ignored: Capstan mounts no service account token into pods. */
  automountServiceAccountToken?: boolean;
  secrets?: Array<{ name?: string; namespace?: string }>;
  imagePullSecrets?: Array<{ name?: string }>;
}

/** A bare Pod from Git: one store pod owned by kind Pod. */
export interface BarePod extends ManifestObject {
  apiVersion: 'v1';
  kind: 'Pod';
  spec: PodSpec;
}

export interface GitJobSpec {
  completions?: number;
  parallelism?: number;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  completionMode?: 'NonIndexed' | 'Indexed';
  template: PodTemplateSpec;
}

/** A Job (batch/v1) from Git. */
export interface JobObject extends ManifestObject {
  apiVersion: 'batch/v1';
  kind: 'Job';
  spec: GitJobSpec;
}

export function namespaceSchema(): Schema {
  return topLevel({ spec: obj({ finalizers: arr(str()) }) }, []);
}

export function serviceAccountSchema(): Schema {
  return topLevel(
    {
      automountServiceAccountToken: bool(),
      secrets: arr(obj({ name: str(), namespace: str(), kind: str(), apiVersion: str(), uid: str(), fieldPath: str(), resourceVersion: str() })),
      imagePullSecrets: arr(obj({ name: str() })),
    },
    [],
  );
}

export function podSchema(): Schema {
  return topLevel({ spec: { $ref: `${POD_TEMPLATE_REF}#/properties/spec` } }, ['spec']);
}

export function jobSchema(): Schema {
  return topLevel(
    {
      spec: obj(
        {
          completions: int(0),
          parallelism: int(0),
          backoffLimit: int(0),
          activeDeadlineSeconds: int(1),
          ttlSecondsAfterFinished: int(0),
          completionMode: oneOfValues(['NonIndexed', 'Indexed']),
          template: { $ref: POD_TEMPLATE_REF },
        },
        ['template'],
      ),
    },
    ['spec'],
  );
}

type Obj = Record<string, unknown>;
type Report = (code: 'CAPSTAN_ERR_API_SCHEMA' | 'CAPSTAN_ERR_API_REQUIRED', message: string, path: FieldPath, severity?: 'error' | 'warning') => void;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const SERVICE_ACCOUNT_TOKEN_WARNING = 'ServiceAccount tokens are not mounted into pods';

/** One warning per ServiceAccount, at automountServiceAccountToken when it is set. */
export function checkServiceAccount(o: Obj, report: Report): void {
  if (o.automountServiceAccountToken !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', `${SERVICE_ACCOUNT_TOKEN_WARNING}: automountServiceAccountToken is ignored`, ['automountServiceAccountToken'], 'warning');
  } else {
    report('CAPSTAN_ERR_API_SCHEMA', `${SERVICE_ACCOUNT_TOKEN_WARNING}; the object is stored only`, ['kind'], 'warning');
  }
}

/** A Job's pods must say OnFailure or Never. */
export function checkJobSpec(spec: Obj, path: FieldPath, report: Report): void {
  const where = (p: FieldPath) => [...path, ...p].map((s) => String(s)).join('.');
  const template = spec.template;
  if (isObj(template) && isObj(template.spec)) {
    const rp = template.spec.restartPolicy;
    const rpPath = [...path, 'template', 'spec', 'restartPolicy'];
    if (rp === undefined) report('CAPSTAN_ERR_API_REQUIRED', `${where(['template', 'spec', 'restartPolicy'])} is required for a job: OnFailure or Never`, rpPath);
    else if (rp === 'Always') report('CAPSTAN_ERR_API_SCHEMA', `${where(['template', 'spec', 'restartPolicy'])} must be OnFailure or Never for a job, got "Always"`, rpPath);
  }
  if (typeof spec.parallelism === 'number' && typeof spec.completions === 'number' && spec.parallelism > spec.completions && spec.completions > 0) {
    // Kubernetes caps it silently; say so.
    report('CAPSTAN_ERR_API_SCHEMA', `${where(['parallelism'])} ${spec.parallelism} is more than completions ${spec.completions}: at most ${spec.completions} pods run at once`, [...path, 'parallelism'], 'warning');
  }
}
