// Service, ConfigMap, Secret, CronJob, AnalysisTemplate and ChartRelease.

import { diagnostic } from '../common/index.js';
import type { Diagnostic } from '../common/index.js';
import type { FieldPath } from './document.js';
import type { Report } from './checks.js';
import { podTemplateRef } from './pod.js';
import type { IntOrString, PodTemplateSpec } from './pod.js';
import {
  BASE64_RE,
  anyObject,
  arr,
  bool,
  duration,
  int,
  labels,
  mapOf,
  nonEmpty,
  obj,
  oneOfValues,
  port,
  portName,
  portOrName,
  str,
  templateMeta,
  topLevel,
} from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject, SourcedObject } from './types.js';

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: IntOrString;
  protocol?: 'TCP' | 'UDP';
  nodePort?: number;
}

export interface Service extends ManifestObject {
  apiVersion: 'v1';
  kind: 'Service';
  spec: {
    selector?: Record<string, string>;
    ports: ServicePort[];
    /**
     * ClusterIP: the router listens on each port. NodePort: also on each port's `nodePort`
     * (allocated from 30000-32767 when unset). LoadBalancer: as NodePort (no external balancer).
     */
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
    /** `None`: a headless Service, no router listener; its endpoints are published instead. */
    clusterIP?: string;
  };
}

export interface ConfigMap extends ManifestObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

export interface Secret extends ManifestObject {
  apiVersion: 'v1';
  kind: 'Secret';
  /** Base64-encoded values. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

export interface JobSpec {
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  template: PodTemplateSpec;
}

export interface CronJob extends ManifestObject {
  apiVersion: 'batch/v1';
  kind: 'CronJob';
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
    startingDeadlineSeconds?: number;
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: JobSpec };
  };
}

export interface MetricProvider {
  /** Measured by Capstan's own router, per revision: no Prometheus or mesh needed. */
  capstan?: { metric: string; service?: string; window?: number | string };
  web?: { url: string; method?: 'GET' | 'POST' | 'PUT'; headers?: Array<{ key: string; value: string }>; body?: string; jsonPath?: string; timeoutSeconds?: number };
  prometheus?: { address?: string; query: string };
  job?: { metadata?: Record<string, unknown>; spec: JobSpec };
}

export interface Metric {
  name: string;
  interval?: number | string;
  count?: number;
  initialDelay?: number | string;
  successCondition?: string;
  failureCondition?: string;
  failureLimit?: number;
  inconclusiveLimit?: number;
  consecutiveErrorLimit?: number;
  minRequests?: number;
  noDataPolicy?: NoDataPolicy;
  provider: MetricProvider;
}

/** What a measurement with no data counts as. */
export type NoDataPolicy = 'Inconclusive' | 'Success' | 'Failure';

export interface AnalysisTemplate extends ManifestObject {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'AnalysisTemplate';
  spec: { metrics: Metric[]; args?: Array<{ name: string; value?: string }>; noDataPolicy?: NoDataPolicy };
}

export interface ChartRelease extends ManifestObject {
  apiVersion: 'capstan.dev/v1';
  kind: 'ChartRelease';
  spec: {
    /** Repository-relative path of the chart folder. */
    chart: string;
    values?: Record<string, unknown>;
    /** Repository-relative paths, merged in order before `values`. */
    valuesFiles?: string[];
    /** Namespace given to rendered objects that set none. */
    namespace?: string;
  };
}

/** Kubernetes' default --service-node-port-range. */
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** Whether the router serves a Service on node ports (NodePort, and LoadBalancer as NodePort). */
export function exposesNodePorts(spec: Pick<Service['spec'], 'type'>): boolean {
  return spec.type === 'NodePort' || spec.type === 'LoadBalancer';
}

/** `clusterIP: None`. */
export function isHeadless(spec: Pick<Service['spec'], 'clusterIP'>): boolean {
  return spec.clusterIP === 'None';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** type, nodePort and clusterIP rules of one Service spec (what Kubernetes refuses or ignores). */
export function checkServiceNetwork(spec: Obj, report: Report): void {
  const type = spec.type ?? 'ClusterIP';
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  if (type === 'LoadBalancer') {
    report('CAPSTAN_ERR_API_SCHEMA', 'spec.type LoadBalancer: Capstan has no external load balancer; the Service is served as a NodePort', ['spec', 'type'], 'warning');
  }
  const clusterIP = spec.clusterIP;
  if (typeof clusterIP === 'string' && clusterIP !== 'None') {
    report('CAPSTAN_ERR_API_SCHEMA', `spec.clusterIP "${clusterIP}" is ignored: only None (headless) means something to Capstan's router`, ['spec', 'clusterIP'], 'warning');
  }
  if (clusterIP === 'None' && type !== 'ClusterIP') {
    report('CAPSTAN_ERR_API_SCHEMA', `spec.clusterIP None (headless) cannot be used with spec.type ${String(type)}`, ['spec', 'clusterIP']);
  }
  const seen = new Map<number, number>();
  ports.forEach((p: unknown, i: number) => {
    if (!isObj(p) || typeof p.nodePort !== 'number') return;
    const path = ['spec', 'ports', i, 'nodePort'];
    if (type === 'ClusterIP') {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.ports[${i}].nodePort may not be used when spec.type is ClusterIP`, path);
      return;
    }
    const prev = seen.get(p.nodePort);
    if (prev !== undefined) report('CAPSTAN_ERR_API_NODE_PORT_CONFLICT', `spec.ports[${i}].nodePort ${p.nodePort} is also spec.ports[${prev}].nodePort`, path);
    else seen.set(p.nodePort, i);
  });
}

/**
 * Field paths whose positions validation records (`source.at`), so checks across objects
 * (nodePort conflicts, immutable data) name file:line:col.
 */
export function networkFieldPaths(o: ManifestObject): FieldPath[] {
  if (o.kind === 'Service') {
    const ports = (o as Service).spec?.ports;
    return (Array.isArray(ports) ? ports : []).flatMap((p, i) => (typeof p?.nodePort === 'number' ? [['spec', 'ports', i, 'nodePort']] : []));
  }
  if (o.kind === 'ConfigMap' || o.kind === 'Secret') {
    return ['data', 'binaryData', 'stringData', 'immutable'].filter((f) => o[f] !== undefined).map((f) => [f]);
  }
  return [];
}

/** One error per Service port that asks for a nodePort another Service (or an earlier one) holds. */
export function findNodePortConflicts(objects: readonly SourcedObject[]): Diagnostic[] {
  const taken = new Map<number, { id: string; where: string }>();
  const out: Diagnostic[] = [];
  for (const s of objects) {
    if (s.object.kind !== 'Service') continue;
    const svc = s.object as Service;
    if (!exposesNodePorts(svc.spec ?? {})) continue;
    const id = `Service ${svc.metadata.namespace}/${svc.metadata.name}`;
    (svc.spec.ports ?? []).forEach((p, i) => {
      if (typeof p.nodePort !== 'number') return;
      const field = `spec.ports[${i}].nodePort`;
      const at = s.source.at?.[field];
      const loc = { file: s.source.file, line: at?.line ?? s.source.line, column: at?.column ?? s.source.column };
      const prev = taken.get(p.nodePort);
      if (prev === undefined) {
        taken.set(p.nodePort, { id, where: `${loc.file}:${loc.line}:${loc.column}` });
        return;
      }
      if (prev.id === id) return; // within one Service: checkServiceNetwork reports it
      out.push(
        diagnostic('error', 'CAPSTAN_ERR_API_NODE_PORT_CONFLICT', `${field} ${p.nodePort} is already used by ${prev.id} (${prev.where})`, loc, field),
      );
    });
  }
  return out;
}

export function serviceSchema(): Schema {
  return topLevel(
    {
      spec: obj(
        {
          selector: labels(),
          ports: arr(
            obj({ name: portName(), port: port(), targetPort: portOrName(), protocol: oneOfValues(['TCP', 'UDP']), nodePort: int(NODE_PORT_MIN, NODE_PORT_MAX) }, [
              'port',
            ]),
            { minItems: 1 },
          ),
          type: oneOfValues(['ClusterIP', 'NodePort', 'LoadBalancer']),
          clusterIP: nonEmpty(),
        },
        ['ports'],
      ),
    },
    ['spec'],
  );
}

export function configMapSchema(): Schema {
  return topLevel(
    { data: mapOf(str()), binaryData: mapOf(str({ pattern: BASE64_RE, hint: 'base64 data' })), immutable: bool() },
    [],
  );
}

export function secretSchema(): Schema {
  return topLevel(
    { data: mapOf(str({ pattern: BASE64_RE, hint: 'base64 data' })), stringData: mapOf(str()), type: nonEmpty(), immutable: bool() },
    [],
  );
}

function jobSpec(): Schema {
  return obj({ backoffLimit: int(0), activeDeadlineSeconds: int(1), template: podTemplateRef() }, ['template']);
}

export function cronJobSchema(): Schema {
  return topLevel(
    {
      spec: obj(
        {
          schedule: nonEmpty(),
          timeZone: nonEmpty(),
          concurrencyPolicy: oneOfValues(['Allow', 'Forbid', 'Replace']),
          startingDeadlineSeconds: int(0),
          suspend: bool(),
          successfulJobsHistoryLimit: int(0),
          failedJobsHistoryLimit: int(0),
          jobTemplate: obj({ metadata: templateMeta(), spec: jobSpec() }, ['spec']),
        },
        ['schedule', 'jobTemplate'],
      ),
    },
    ['spec'],
  );
}

export function analysisTemplateSchema(): Schema {
  const provider = obj({
    capstan: obj({ metric: nonEmpty(), service: nonEmpty(), window: duration() }, ['metric']),
    web: obj(
      {
        url: nonEmpty(),
        method: oneOfValues(['GET', 'POST', 'PUT']),
        headers: arr(obj({ key: nonEmpty(), value: str() }, ['key', 'value'])),
        body: str(),
        jsonPath: str(),
        timeoutSeconds: int(1),
      },
      ['url'],
    ),
    prometheus: obj({ address: nonEmpty(), query: nonEmpty() }, ['query']),
    job: obj({ metadata: templateMeta(), spec: jobSpec() }, ['spec']),
  });
  const metric = obj(
    {
      name: nonEmpty(),
      interval: duration(),
      count: int(0),
      initialDelay: duration(),
      successCondition: str(),
      failureCondition: str(),
      failureLimit: int(0),
      inconclusiveLimit: int(0),
      consecutiveErrorLimit: int(0),
      /** Fewer requests than this in the window is "no data" (noDataPolicy decides). */
      minRequests: int(0),
      noDataPolicy: oneOfValues(['Inconclusive', 'Success', 'Failure']),
      provider,
    },
    ['name', 'provider'],
  );
  return topLevel(
    {
      spec: obj(
        {
          metrics: arr(metric, { minItems: 1 }),
          args: arr(obj({ name: nonEmpty(), value: str() }, ['name'])),
          noDataPolicy: oneOfValues(['Inconclusive', 'Success', 'Failure']),
        },
        ['metrics'],
      ),
    },
    ['spec'],
  );
}

export function chartReleaseSchema(): Schema {
  return topLevel(
    { spec: obj({ chart: nonEmpty(), values: anyObject(), valuesFiles: arr(nonEmpty()), namespace: str() }, ['chart']) },
    ['spec'],
  );
}
