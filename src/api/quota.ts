// ResourceQuota (v1): per-namespace ceilings on pods, cpu and memory, and on object counts.
// Capstan enforces a quota when a commit is admitted (src/api/admission.ts), on the steady
// state the commit asks for; see the admission module for what is counted.

import { quantityValue } from './quantity.js';
import { anyObject, arr, mapOf, nonEmpty, obj, quantity, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { Report } from './checks.js';
import type { ManifestObject } from './types.js';

export interface ResourceQuota extends ManifestObject {
  apiVersion: 'v1';
  kind: 'ResourceQuota';
  spec?: {
    hard?: Record<string, string | number>;
    scopes?: string[];
    scopeSelector?: Record<string, unknown>;
  };
}

export function resourceQuotaSchema(): Schema {
  return topLevel({ spec: obj({ hard: mapOf(quantity()), scopes: arr(nonEmpty()), scopeSelector: anyObject() }) }, []);
}

/** What a quota key measures: pods, summed container requests or limits, or a count of objects. */
export type QuotaMeasure =
  | { type: 'pods' }
  | { type: 'requests' | 'limits'; resource: 'cpu' | 'memory' }
  | { type: 'count'; kind: string };

/** Object kinds a `count/<plural>.<group>` (or a bare `services`, `configmaps`, `secrets`) key can count. */
const COUNTABLE: Record<string, string> = {
  'count/deployments.apps': 'Deployment',
  'count/rollouts.argoproj.io': 'Rollout',
  'count/cronjobs.batch': 'CronJob',
  'count/services': 'Service',
  'count/configmaps': 'ConfigMap',
  'count/secrets': 'Secret',
  services: 'Service',
  configmaps: 'ConfigMap',
  secrets: 'Secret',
};

/** The measure of a `spec.hard` key, or undefined when Capstan does not enforce that key. */
export function quotaMeasure(key: string): QuotaMeasure | undefined {
  switch (key) {
    case 'pods':
    case 'count/pods':
      return { type: 'pods' };
    case 'cpu':
    case 'requests.cpu':
      return { type: 'requests', resource: 'cpu' };
    case 'memory':
    case 'requests.memory':
      return { type: 'requests', resource: 'memory' };
    case 'limits.cpu':
      return { type: 'limits', resource: 'cpu' };
    case 'limits.memory':
      return { type: 'limits', resource: 'memory' };
  }
  const kind = COUNTABLE[key];
  return kind ? { type: 'count', kind } : undefined;
}

/** Keys Capstan does not enforce are warned about, never silently taken as enforced. */
export function checkResourceQuota(o: Record<string, unknown>, report: Report): void {
  const spec = o.spec as ResourceQuota['spec'];
  if (!spec) return;
  for (const [key, value] of Object.entries(spec.hard ?? {})) {
    if (quotaMeasure(key) === undefined && quantityValue(value) !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.hard["${key}"] is not enforced by Capstan (it enforces pods, cpu, memory, requests.*, limits.* and object counts)`, ['spec', 'hard', key], 'warning');
    }
  }
  if (spec.scopes !== undefined) report('CAPSTAN_ERR_API_SCHEMA', 'spec.scopes is not implemented by Capstan: the quota applies to every pod of the namespace', ['spec', 'scopes'], 'warning');
  if (spec.scopeSelector !== undefined) report('CAPSTAN_ERR_API_SCHEMA', 'spec.scopeSelector is not implemented by Capstan: the quota applies to every pod of the namespace', ['spec', 'scopeSelector'], 'warning');
}
