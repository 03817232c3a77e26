// Service, ConfigMap, Secret, CronJob, AnalysisTemplate and ChartRelease.

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
import type { ManifestObject } from './types.js';

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
    /** Informational: Capstan's router serves every Service the same way. */
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
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

export function serviceSchema(): Schema {
  return topLevel(
    {
      spec: obj(
        {
          selector: labels(),
          ports: arr(
            obj({ name: portName(), port: port(), targetPort: portOrName(), protocol: oneOfValues(['TCP', 'UDP']), nodePort: port() }, [
              'port',
            ]),
            { minItems: 1 },
          ),
          type: oneOfValues(['ClusterIP', 'NodePort', 'LoadBalancer']),
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
