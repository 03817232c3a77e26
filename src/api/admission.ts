// Admission: limits a commit must meet as a whole before any of it is applied. Each object
// is valid on its own by now; this pass looks across them: replicas per workload
// (`--max-replicas`) and the ResourceQuota objects of each namespace. A commit over a limit
// is refused whole, like any invalid commit, with an error at the field that goes over.
//
// Quotas are checked on the steady state the commit asks for: each workload's `replicas`
// pods (a CronJob counts as one pod), with requests and limits summed over its containers.
// Surge pods during a rollout (maxSurge, a blue-green preview) are not counted.

import { diagnostic, type Diagnostic, type ErrorCode } from '../common/index.js';
import type { FieldPath } from './document.js';
import { fieldPathString, isObj } from './checks.js';
import { hpaFieldPaths } from './hpa.js';
import { workloadRefFieldPaths } from './workload.js';
import type { Container } from './pod.js';
import { networkFieldPaths } from './others.js';
import { parseQuantity, quantityValue } from './quantity.js';
import { quotaMeasure, type QuotaMeasure, type ResourceQuota } from './quota.js';
import type { ManifestObject, ObjectSource, SourcedObject } from './types.js';

export const DEFAULT_MAX_REPLICAS = 1000;

export interface AdmissionLimits {
  /** Most pods one workload may ask for (`--max-replicas`, default 1,000). */
  maxReplicas: number;
}

export interface AdmissionResult {
  errors: Diagnostic[];
}

/** The pods an object asks for: how many, and the fields to point at. */
interface PodDemand {
  count: number;
  countPath: FieldPath;
  containersPath: FieldPath;
  containers: Container[];
}

function podDemand(o: ManifestObject): PodDemand | undefined {
  const spec = o.spec;
  if (!isObj(spec)) return undefined;
  const containersOf = (template: unknown): Container[] => {
    const podSpec = isObj(template) ? template.spec : undefined;
    return isObj(podSpec) && Array.isArray(podSpec.containers) ? (podSpec.containers as Container[]) : [];
  };
  switch (o.kind) {
    case 'Deployment':
    case 'Rollout':
    case 'StatefulSet':
      return {
        count: typeof spec.replicas === 'number' ? spec.replicas : 1,
        countPath: ['spec', 'replicas'],
        containersPath: ['spec', 'template', 'spec', 'containers'],
        containers: containersOf(spec.template),
      };
    case 'CronJob': {
      const job = isObj(spec.jobTemplate) ? spec.jobTemplate.spec : undefined;
      return {
        count: 1,
        countPath: ['spec', 'jobTemplate'],
        containersPath: ['spec', 'jobTemplate', 'spec', 'template', 'spec', 'containers'],
        containers: containersOf(isObj(job) ? job.template : undefined),
      };
    }
  }
  return undefined;
}

/** Other fields that set a pod count of their own, checked against the same limit. */
function otherCounts(o: ManifestObject): Array<{ path: FieldPath; value: number }> {
  const spec = o.spec;
  if (o.kind !== 'Rollout' || !isObj(spec) || !isObj(spec.strategy)) return [];
  const out: Array<{ path: FieldPath; value: number }> = [];
  const { canary, blueGreen } = spec.strategy;
  if (isObj(blueGreen) && typeof blueGreen.previewReplicaCount === 'number') {
    out.push({ path: ['spec', 'strategy', 'blueGreen', 'previewReplicaCount'], value: blueGreen.previewReplicaCount });
  }
  if (isObj(canary) && Array.isArray(canary.steps)) {
    canary.steps.forEach((step: unknown, i: number) => {
      const scale = isObj(step) && isObj(step.setCanaryScale) ? step.setCanaryScale : undefined;
      if (scale && typeof scale.replicas === 'number') {
        out.push({ path: ['spec', 'strategy', 'canary', 'steps', i, 'setCanaryScale', 'replicas'], value: scale.replicas });
      }
    });
  }
  return out;
}

/**
 * The fields admission may point at, by path: validation records their positions in the
 * object's source (`source.at`), so errors found across objects still name file:line:col.
 */
export function admissionFieldPaths(o: ManifestObject): FieldPath[] {
  const paths: FieldPath[] = [];
  const demand = podDemand(o);
  if (demand) {
    paths.push(demand.countPath);
    demand.containers.forEach((_, i) => paths.push([...demand.containersPath, i]));
  }
  for (const c of otherCounts(o)) paths.push(c.path);
  paths.push(...hpaFieldPaths(o));
  paths.push(...workloadRefFieldPaths(o));
  paths.push(...networkFieldPaths(o));
  if (o.kind === 'ResourceQuota') {
    const hard = (o as ResourceQuota).spec?.hard ?? {};
    for (const key of Object.keys(hard)) paths.push(['spec', 'hard', key]);
  }
  return paths;
}

function locate(s: SourcedObject, path: FieldPath): { file: string; line: number; column: number } {
  const at = s.source.at?.[fieldPathString(path)];
  return { file: s.source.file, line: at?.line ?? s.source.line, column: at?.column ?? s.source.column };
}

function where(source: ObjectSource, at: { line: number; column: number }): string {
  return `${source.file}:${at.line}:${at.column}`;
}

function idOf(s: SourcedObject): string {
  return `${s.object.kind} ${s.object.metadata.namespace}/${s.object.metadata.name}`;
}

interface Quota {
  object: SourcedObject;
  key: string;
  measure: QuotaMeasure;
  /** The hard limit: pods or objects, millicores, or bytes. */
  hard: number;
}

function hardValue(measure: QuotaMeasure, value: string | number): number | undefined {
  if (quantityValue(value) === undefined) return undefined;
  if (measure.type === 'requests' || measure.type === 'limits') return parseQuantity(value, measure.resource);
  return Math.floor(quantityValue(value)!);
}

function formatAmount(measure: QuotaMeasure, n: number): string {
  if (measure.type === 'pods') return `${n} pod${n === 1 ? '' : 's'}`;
  if (measure.type === 'count') return `${n} ${measure.kind} object${n === 1 ? '' : 's'}`;
  if (measure.resource === 'cpu') return n % 1000 === 0 ? `${n / 1000} cpu` : `${n}m cpu`;
  const units: Array<[string, number]> = [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [unit, size] of units) if (n >= size && n % size === 0) return `${n / size}${unit} memory`;
  return `${n} bytes of memory`;
}

/** One container's request or limit, or undefined when it sets none (a limit stands in for a missing request, as in Kubernetes). */
function containerAmount(c: Container, measure: Extract<QuotaMeasure, { type: 'requests' | 'limits' }>): number | undefined {
  const r = c.resources;
  const value = measure.type === 'requests' ? (r?.requests?.[measure.resource] ?? r?.limits?.[measure.resource]) : r?.limits?.[measure.resource];
  return value === undefined ? undefined : parseQuantity(value, measure.resource);
}

/** Every admission problem of a desired set (errors refuse the commit). Pure. */
export function admit(objects: readonly SourcedObject[], limits: Partial<AdmissionLimits> = {}): AdmissionResult {
  const maxReplicas = limits.maxReplicas ?? DEFAULT_MAX_REPLICAS;
  const errors: Diagnostic[] = [];
  const error = (s: SourcedObject, path: FieldPath, code: ErrorCode, message: string) =>
    errors.push(diagnostic('error', code, message, locate(s, path), fieldPathString(path)));

  for (const s of objects) {
    const demand = podDemand(s.object);
    const counts = [...(demand ? [{ path: demand.countPath, value: demand.count }] : []), ...otherCounts(s.object)];
    for (const c of counts) {
      if (c.value > maxReplicas) {
        error(
          s,
          c.path,
          'CAPSTAN_ERR_API_LIMIT',
          `${fieldPathString(c.path)} is ${c.value}, over the limit of ${maxReplicas} pods per workload (--max-replicas)`,
        );
      }
    }
  }

  // Quotas by namespace, in source order.
  const quotas = new Map<string, Quota[]>();
  for (const s of objects) {
    if (s.object.kind !== 'ResourceQuota') continue;
    const hard = (s.object as ResourceQuota).spec?.hard ?? {};
    for (const [key, value] of Object.entries(hard)) {
      const measure = quotaMeasure(key);
      const n = measure ? hardValue(measure, value) : undefined;
      if (!measure || n === undefined) continue;
      const ns = s.object.metadata.namespace;
      quotas.set(ns, [...(quotas.get(ns) ?? []), { object: s, key, measure, hard: n }]);
    }
  }
  if (quotas.size === 0) return { errors };

  for (const [ns, list] of quotas) {
    const members = objects.filter((s) => s.object.metadata.namespace === ns);
    for (const q of list) {
      const hardAt = locate(q.object, ['spec', 'hard', q.key]);
      const limitText = `${q.key}: ${formatAmount(q.measure, q.hard)} of ResourceQuota ${ns}/${q.object.object.metadata.name} (${where(q.object.source, hardAt)})`;
      const contributions: Array<{ s: SourcedObject; add: number }> = [];
      for (const s of members) {
        let add = 0;
        if (q.measure.type === 'count') {
          add = s.object.kind === q.measure.kind ? 1 : 0;
        } else {
          const demand = podDemand(s.object);
          if (!demand) continue;
          if (q.measure.type === 'pods') {
            add = demand.count;
          } else {
            const measure = q.measure;
            let perPod = 0;
            demand.containers.forEach((c, i) => {
              const amount = containerAmount(c, measure);
              if (amount === undefined) {
                const field = measure.type === 'requests' ? `resources.requests.${measure.resource}` : `resources.limits.${measure.resource}`;
                error(
                  s,
                  [...demand.containersPath, i],
                  'CAPSTAN_ERR_API_QUOTA',
                  `container ${c.name} sets no ${field}, which every container in namespace ${ns} must set under ${limitText}`,
                );
              } else {
                perPod += amount;
              }
            });
            add = perPod * demand.count;
          }
        }
        if (add > 0) contributions.push({ s, add });
      }
      const total = contributions.reduce((n, c) => n + c.add, 0);
      if (total <= q.hard) continue;
      // The error points at the object that takes the namespace over the limit.
      let used = 0;
      const crossing = contributions.find((c) => (used += c.add) > q.hard)!;
      const path = q.measure.type === 'count' ? [] : podDemand(crossing.s.object)!.countPath;
      error(
        crossing.s,
        path,
        'CAPSTAN_ERR_API_QUOTA',
        `${idOf(crossing.s)} takes namespace ${ns} over ${limitText}: the commit asks for ${formatAmount(q.measure, total)} in all`,
      );
    }
  }
  return { errors };
}
