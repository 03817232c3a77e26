// HorizontalPodAutoscaler (autoscaling/v2, and autoscaling/v1 converted to it): schemas,
// types, the checks JSON Schema cannot say, the checks across a commit (the target exists,
// Utilization needs requests) and the normalised spec the controller works from, with
// Kubernetes' defaults for behavior.

import { diagnostic, type Diagnostic } from '../common/index.js';
import type { FieldPath } from './document.js';
import { fieldPathString, isObj } from './checks.js';
import type { Report } from './checks.js';
import type { Container } from './pod.js';
import { arr, int, nonEmpty, obj, oneOfValues, quantity, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject, SourcedObject } from './types.js';

/** The workloads an HPA may scale, by kind, with the apiVersion each is written with. */
export const SCALE_TARGETS: Readonly<Record<string, string>> = Object.freeze({
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  Rollout: 'argoproj.io/v1alpha1',
});

/** Pods metric names the router serves: requests per second per pod, as the router sees it. */
export const REQUESTS_PER_SECOND_METRICS: readonly string[] = ['capstan_requests_per_second', 'http_requests_per_second', 'requests_per_second'];

export interface CrossVersionObjectReference {
  apiVersion?: string;
  kind: string;
  name: string;
}

export interface MetricTarget {
  type: 'Utilization' | 'AverageValue' | 'Value';
  averageUtilization?: number;
  averageValue?: string | number;
  value?: string | number;
}

export interface MetricSpec {
  type: 'Resource' | 'Pods' | 'Object' | 'External' | 'ContainerResource';
  resource?: { name: string; target: MetricTarget };
  pods?: { metric: { name: string; selector?: unknown }; target: MetricTarget };
  object?: unknown;
  external?: unknown;
  containerResource?: unknown;
}

export interface HpaScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: HpaScalingPolicy[];
}

export interface HpaBehavior {
  scaleUp?: HpaScalingRules;
  scaleDown?: HpaScalingRules;
}

export interface HorizontalPodAutoscalerSpec {
  scaleTargetRef: CrossVersionObjectReference;
  minReplicas?: number;
  maxReplicas: number;
  metrics?: MetricSpec[];
  behavior?: HpaBehavior;
  /** autoscaling/v1 only. */
  targetCPUUtilizationPercentage?: number;
}

export interface HorizontalPodAutoscaler extends ManifestObject {
  apiVersion: 'autoscaling/v2' | 'autoscaling/v1';
  kind: 'HorizontalPodAutoscaler';
  spec: HorizontalPodAutoscalerSpec;
}

function targetSchema(): Schema {
  return obj(
    {
      type: oneOfValues(['Utilization', 'AverageValue', 'Value']),
      averageUtilization: int(1),
      averageValue: quantity(),
      value: quantity(),
    },
    ['type'],
  );
}

function scaleTargetRefSchema(): Schema {
  return obj({ apiVersion: str(), kind: oneOfValues(Object.keys(SCALE_TARGETS)), name: nonEmpty() }, ['kind', 'name']);
}

function rulesSchema(): Schema {
  return obj({
    stabilizationWindowSeconds: int(0, 3600),
    selectPolicy: oneOfValues(['Max', 'Min', 'Disabled']),
    policies: arr(obj({ type: oneOfValues(['Pods', 'Percent']), value: int(1), periodSeconds: int(1, 1800) }, ['type', 'value', 'periodSeconds'])),
  });
}

export function hpaV2Schema(): Schema {
  const free = { type: 'object' };
  const metric = obj(
    {
      type: oneOfValues(['Resource', 'Pods', 'Object', 'External', 'ContainerResource']),
      resource: obj({ name: nonEmpty(), target: targetSchema() }, ['name', 'target']),
      pods: obj({ metric: obj({ name: nonEmpty(), selector: free }, ['name']), target: targetSchema() }, ['metric', 'target']),
      object: free,
      external: free,
      containerResource: free,
    },
    ['type'],
  );
  const spec = obj(
    {
      scaleTargetRef: scaleTargetRefSchema(),
      minReplicas: int(1),
      maxReplicas: int(1),
      metrics: arr(metric),
      behavior: obj({ scaleUp: rulesSchema(), scaleDown: rulesSchema() }),
    },
    ['scaleTargetRef', 'maxReplicas'],
  );
  return topLevel({ spec }, ['spec']);
}

export function hpaV1Schema(): Schema {
  const spec = obj(
    { scaleTargetRef: scaleTargetRefSchema(), minReplicas: int(1), maxReplicas: int(1), targetCPUUtilizationPercentage: int(1) },
    ['scaleTargetRef', 'maxReplicas'],
  );
  return topLevel({ spec }, ['spec']);
}

type Obj = Record<string, unknown>;

/** Checks of one HPA on its own (the schema has passed or its errors are reported already). */
export function checkHorizontalPodAutoscaler(o: Obj, report: Report): void {
  const spec = o.spec;
  if (!isObj(spec)) return;
  const { minReplicas, maxReplicas } = spec;
  if (typeof minReplicas === 'number' && typeof maxReplicas === 'number' && minReplicas > maxReplicas) {
    report('CAPSTAN_ERR_API_SCHEMA', `spec.minReplicas ${minReplicas} is more than spec.maxReplicas ${maxReplicas}`, ['spec', 'minReplicas']);
  }
  const ref = spec.scaleTargetRef;
  if (isObj(ref) && typeof ref.kind === 'string' && typeof ref.apiVersion === 'string') {
    const want = SCALE_TARGETS[ref.kind];
    if (want !== undefined && ref.apiVersion !== want) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.scaleTargetRef.apiVersion must be ${want} for kind ${ref.kind}, got "${ref.apiVersion}"`, ['spec', 'scaleTargetRef', 'apiVersion']);
    }
  }
  const metrics = Array.isArray(spec.metrics) ? spec.metrics : [];
  metrics.forEach((m: unknown, i: number) => {
    if (!isObj(m) || typeof m.type !== 'string') return;
    const at: FieldPath = ['spec', 'metrics', i];
    const where = fieldPathString(at);
    switch (m.type) {
      case 'Object':
      case 'External':
      case 'ContainerResource':
        report('CAPSTAN_ERR_API_SCHEMA', `${where}: ${m.type} metrics are not supported by Capstan: this metric is ignored`, [...at, 'type'], 'warning');
        return;
      case 'Resource': {
        const r = m.resource;
        if (!isObj(r)) {
          report('CAPSTAN_ERR_API_REQUIRED', `${where}.resource is required for a Resource metric`, [...at, 'type']);
          return;
        }
        if (typeof r.name === 'string' && r.name !== 'cpu' && r.name !== 'memory') {
          report('CAPSTAN_ERR_API_SCHEMA', `${where}.resource.name must be cpu or memory, got "${r.name}"`, [...at, 'resource', 'name']);
        }
        checkTarget(r.target, [...at, 'resource', 'target'], ['Utilization', 'AverageValue'], report);
        return;
      }
      case 'Pods': {
        const p = m.pods;
        if (!isObj(p)) {
          report('CAPSTAN_ERR_API_REQUIRED', `${where}.pods is required for a Pods metric`, [...at, 'type']);
          return;
        }
        const name = isObj(p.metric) ? p.metric.name : undefined;
        if (typeof name === 'string' && !REQUESTS_PER_SECOND_METRICS.includes(name)) {
          report(
            'CAPSTAN_ERR_API_SCHEMA',
            `${where}.pods.metric.name "${name}" is not a metric Capstan has: it knows ${REQUESTS_PER_SECOND_METRICS.join(', ')} (requests per second per pod, from the router); this metric gets no value`,
            [...at, 'pods', 'metric', 'name'],
            'warning',
          );
        }
        if (isObj(p.metric) && p.metric.selector !== undefined) {
          report('CAPSTAN_ERR_API_SCHEMA', `${where}.pods.metric.selector is not implemented by Capstan and is ignored`, [...at, 'pods', 'metric', 'selector'], 'warning');
        }
        checkTarget(p.target, [...at, 'pods', 'target'], ['AverageValue'], report);
        return;
      }
    }
  });
}

function checkTarget(t: unknown, path: FieldPath, allowed: string[], report: Report): void {
  if (!isObj(t) || typeof t.type !== 'string') return;
  const where = fieldPathString(path);
  if (!allowed.includes(t.type)) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where}.type must be ${allowed.join(' or ')} for this metric, got "${t.type}"`, [...path, 'type']);
    return;
  }
  const field = t.type === 'Utilization' ? 'averageUtilization' : 'averageValue';
  if (t[field] === undefined) report('CAPSTAN_ERR_API_REQUIRED', `${where}.${field} is required when the target type is ${t.type}`, [...path, 'type']);
}

/** The fields the checks across a commit point at (their positions are kept in `source.at`). */
export function hpaFieldPaths(o: ManifestObject): FieldPath[] {
  if (o.kind !== 'HorizontalPodAutoscaler' || !isObj(o.spec)) return [];
  const paths: FieldPath[] = [['spec', 'scaleTargetRef', 'name']];
  if (Array.isArray(o.spec.metrics)) o.spec.metrics.forEach((_, i) => paths.push(['spec', 'metrics', i]));
  if (o.spec.targetCPUUtilizationPercentage !== undefined) paths.push(['spec', 'targetCPUUtilizationPercentage']);
  return paths;
}

function containersOf(o: ManifestObject): Container[] {
  const spec = o.spec;
  const template = isObj(spec) ? spec.template : undefined;
  const podSpec = isObj(template) ? template.spec : undefined;
  return isObj(podSpec) && Array.isArray(podSpec.containers) ? (podSpec.containers as Container[]) : [];
}

/**
 * Checks across a commit: each HPA's target exists in it (an error at scaleTargetRef.name),
 * and a Utilization target has a request for its resource on every container of the target
 * (a warning, as Kubernetes reports FailedGetResourceMetric). Pure.
 */
export function checkAutoscalers(objects: readonly SourcedObject[]): { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const byId = new Map(objects.map((s) => [`${s.object.kind}/${s.object.metadata.namespace}/${s.object.metadata.name}`, s]));
  const at = (s: SourcedObject, path: FieldPath) => {
    const p = s.source.at?.[fieldPathString(path)];
    return { file: s.source.file, line: p?.line ?? s.source.line, column: p?.column ?? s.source.column };
  };
  for (const s of objects) {
    if (s.object.kind !== 'HorizontalPodAutoscaler') continue;
    const spec = normalizeHpaSpec(s.object as HorizontalPodAutoscaler);
    const ns = s.object.metadata.namespace;
    const ref = spec.scaleTargetRef;
    const target = byId.get(`${ref.kind}/${ns}/${ref.name}`);
    if (!target) {
      const path = ['spec', 'scaleTargetRef', 'name'];
      errors.push(
        diagnostic(
          'error',
          'CAPSTAN_ERR_API_REFERENCE',
          `HorizontalPodAutoscaler ${ns}/${s.object.metadata.name} scales ${ref.kind} ${ns}/${ref.name}, which is not in this commit`,
          at(s, path),
          fieldPathString(path),
        ),
      );
      continue;
    }
    const containers = containersOf(target.object);
    spec.metrics.forEach((m, i) => {
      if (m.type !== 'Resource' || m.resource?.target.type !== 'Utilization') return;
      const resource = m.resource.name;
      const missing = containers.filter((c) => c.resources?.requests?.[resource as 'cpu' | 'memory'] === undefined && c.resources?.limits?.[resource as 'cpu' | 'memory'] === undefined);
      if (missing.length === 0) return;
      const path = s.object.apiVersion === 'autoscaling/v1' ? ['spec', 'targetCPUUtilizationPercentage'] : ['spec', 'metrics', i];
      warnings.push(
        diagnostic(
          'warning',
          'CAPSTAN_ERR_API_REFERENCE',
          `FailedGetResourceMetric: ${resource} utilization is a percentage of the request, and container${missing.length === 1 ? '' : 's'} ${missing.map((c) => c.name).join(', ')} of ${ref.kind} ${ns}/${ref.name} set${missing.length === 1 ? 's' : ''} no resources.requests.${resource}: this metric gets no value`,
          at(s, path),
          fieldPathString(path),
        ),
      );
    });
  }
  return { errors, warnings };
}

/** The spec the controller works from: v1 converted, every default set. */
export interface NormalizedHpaSpec {
  scaleTargetRef: CrossVersionObjectReference;
  minReplicas: number;
  maxReplicas: number;
  metrics: MetricSpec[];
  behavior: { scaleUp: Required<HpaScalingRules>; scaleDown: Required<HpaScalingRules> };
}

/** Kubernetes' default behavior: scale up at most max(100%, 4 pods) per 15 s at once; scale down 100% per 15 s after a 300 s window. */
export function defaultBehavior(): NormalizedHpaSpec['behavior'] {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 15 },
        { type: 'Pods', value: 4, periodSeconds: 15 },
      ],
    },
    scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  };
}

export function normalizeHpaSpec(o: HorizontalPodAutoscaler): NormalizedHpaSpec {
  const spec = o.spec;
  const defaults = defaultBehavior();
  let metrics: MetricSpec[];
  if (o.apiVersion === 'autoscaling/v1') {
    metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.targetCPUUtilizationPercentage ?? 80 } } }];
  } else {
    // Kubernetes: no metrics means 80% average CPU utilization.
    metrics = spec.metrics && spec.metrics.length > 0 ? spec.metrics : [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
  }
  const rules = (given: HpaScalingRules | undefined, d: Required<HpaScalingRules>): Required<HpaScalingRules> => ({
    stabilizationWindowSeconds: given?.stabilizationWindowSeconds ?? d.stabilizationWindowSeconds,
    selectPolicy: given?.selectPolicy ?? d.selectPolicy,
    policies: given?.policies && given.policies.length > 0 ? given.policies : d.policies,
  });
  return {
    scaleTargetRef: { apiVersion: spec.scaleTargetRef.apiVersion ?? SCALE_TARGETS[spec.scaleTargetRef.kind], kind: spec.scaleTargetRef.kind, name: spec.scaleTargetRef.name },
    minReplicas: spec.minReplicas ?? 1,
    maxReplicas: spec.maxReplicas,
    metrics,
    behavior: { scaleUp: rules(spec.behavior?.scaleUp, defaults.scaleUp), scaleDown: rules(spec.behavior?.scaleDown, defaults.scaleDown) },
  };
}
