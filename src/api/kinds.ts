// The kinds Capstan accepts, and their validators compiled once, on first use.

import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { daemonSetSchema, statefulSetSchema } from './apps.js';
import { analysisTemplateSchema, chartReleaseSchema, configMapSchema, cronJobSchema, secretSchema, serviceSchema } from './others.js';
import { jobSchema, namespaceSchema, podSchema, serviceAccountSchema } from './kinds-core.js';
import { hpaV1Schema, hpaV2Schema } from './hpa.js';
import { sharedSchemas } from './pod.js';
import { ingressSchema } from './ingress.js';
import { notificationSchema } from './notification.js';
import { persistentVolumeClaimSchema } from './pvc.js';
import { resourceQuotaSchema } from './quota.js';
import { podDisruptionBudgetSchema, priorityClassSchema } from './scheduling.js';
import type { Schema } from './schema-util.js';
import { deploymentSchema, rolloutSchema } from './workload.js';

export interface KindInfo {
  apiVersion: string;
  kind: string;
}

const SCHEMAS: Array<KindInfo & { schema: () => Schema }> = [
  { apiVersion: 'apps/v1', kind: 'Deployment', schema: deploymentSchema },
  { apiVersion: 'v1', kind: 'Service', schema: serviceSchema },
  { apiVersion: 'v1', kind: 'ConfigMap', schema: configMapSchema },
  { apiVersion: 'v1', kind: 'Secret', schema: secretSchema },
  { apiVersion: 'batch/v1', kind: 'CronJob', schema: cronJobSchema },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', schema: rolloutSchema },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', schema: analysisTemplateSchema },
  { apiVersion: 'capstan.dev/v1', kind: 'ChartRelease', schema: chartReleaseSchema },
  { apiVersion: 'v1', kind: 'ResourceQuota', schema: resourceQuotaSchema },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', schema: hpaV2Schema },
  { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', schema: hpaV1Schema },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', schema: ingressSchema },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', schema: statefulSetSchema },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', schema: daemonSetSchema },
  { apiVersion: 'v1', kind: 'Namespace', schema: namespaceSchema },
  { apiVersion: 'v1', kind: 'ServiceAccount', schema: serviceAccountSchema },
  { apiVersion: 'v1', kind: 'Pod', schema: podSchema },
  { apiVersion: 'batch/v1', kind: 'Job', schema: jobSchema },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', schema: persistentVolumeClaimSchema },
  { apiVersion: 'capstan.dev/v1', kind: 'Notification', schema: notificationSchema },
  { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', schema: priorityClassSchema },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', schema: podDisruptionBudgetSchema },
];

export const KNOWN_KINDS: ReadonlyArray<Readonly<KindInfo>> = Object.freeze(
  SCHEMAS.map(({ apiVersion, kind }) => Object.freeze({ apiVersion, kind })),
);

export function isKnownKind(apiVersion: unknown, kind: unknown): boolean {
  return SCHEMAS.some((k) => k.apiVersion === apiVersion && k.kind === kind);
}

/**
 * The JSON Schema of one kind (a fresh copy), e.g. for docs or editor integration. Pod templates
 * and probes are `$ref`s to the schemas `sharedSchemas()` in pod.ts returns.
 */
export function kindSchema(apiVersion: string, kind: string): Schema | undefined {
  return SCHEMAS.find((k) => k.apiVersion === apiVersion && k.kind === kind)?.schema();
}

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

export function validatorFor(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion}/${kind}`;
  const hit = compiled.get(key);
  if (hit) return hit;
  const entry = SCHEMAS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
  if (!entry) return undefined;
  if (!ajv) {
    // verbose: errors carry their parent schema, which names the known fields for suggestions.
    // code.optimize off: compiling is ~40% faster (it is paid on every `capstan validate`),
    // and validating measured no slower.
    ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, code: { optimize: false } });
    // Annotation only: the human phrase for a pattern ("a duration such as 30s").
    ajv.addKeyword({ keyword: 'hint', schemaType: 'string' });
    for (const shared of sharedSchemas()) ajv.addSchema(shared);
  }
  const fn = ajv.compile(entry.schema());
  compiled.set(key, fn);
  return fn;
}
