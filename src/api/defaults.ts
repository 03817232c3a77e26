// Kubernetes (and Argo Rollouts) defaulting, as one pure function: the input is never
// mutated; the result is a deep copy with every default the controllers rely on filled in.

import type { ManifestObject } from './types.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Set `o[key]` to `value` when it is absent. */
function def(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined) o[key] = value;
}

/** The child object at `key`, created empty when absent. */
function child(o: Obj, key: string): Obj {
  if (!isObj(o[key])) o[key] = {};
  return o[key] as Obj;
}

const each = (v: unknown, fn: (o: Obj) => void): void => {
  if (Array.isArray(v)) for (const item of v) if (isObj(item)) fn(item);
};

export const DEFAULT_NAMESPACE = 'default';

/**
 * A deep copy of parsed manifest data, as structuredClone makes it (a value reached twice is
 * copied once and shared, so cycles and aliases keep their shape), several times faster on
 * plain mappings and lists. Anything else (a Date, a typed array) goes to structuredClone.
 */
export function copyData<T>(input: T): T {
  const copies = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const known = copies.get(v);
    if (known !== undefined) return known;
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      copies.set(v, out);
      for (let i = 0; i < v.length; i++) out[i] = copy(v[i]);
      return out;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const out = structuredClone(v);
      copies.set(v, out);
      return out;
    }
    const out: Obj = {};
    copies.set(v, out);
    for (const key of Object.keys(v)) {
      const value = copy((v as Obj)[key]);
      // A `__proto__` key is data: defined as an own property, never a prototype change.
      if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  };
  return copy(input) as T;
}

export function applyDefaults<T extends ManifestObject>(input: T): T {
  const o = copyData(input) as T & Obj;
  def(o.metadata, 'namespace', DEFAULT_NAMESPACE);
  const spec = isObj(o.spec) ? o.spec : undefined;
  switch (o.kind) {
    case 'Deployment':
    case 'Rollout':
      if (spec) defaultWorkload(spec, o.kind);
      break;
    case 'StatefulSet':
      if (spec) defaultStatefulSet(spec);
      break;
    case 'DaemonSet':
      if (spec) defaultDaemonSet(spec);
      break;
    case 'Service':
      if (spec) {
        def(spec, 'type', 'ClusterIP');
        each(spec.ports, (p) => {
          def(p, 'protocol', 'TCP');
          def(p, 'targetPort', p.port);
        });
      }
      break;
    case 'Secret':
      def(o, 'type', 'Opaque');
      break;
    case 'CronJob':
      if (spec) defaultCronJob(spec);
      break;
    case 'Job':
      if (spec) {
        defaultJobSpec(spec);
        def(spec, 'completionMode', 'NonIndexed');
        // Kubernetes: completions and parallelism both default to 1.
        def(spec, 'completions', 1);
        def(spec, 'parallelism', 1);
      }
      break;
    case 'Pod':
      if (spec) defaultPodSpec(spec, 'Always');
      break;
    case 'AnalysisTemplate':
      if (spec) {
        def(spec, 'noDataPolicy', 'Inconclusive');
        each(spec.metrics, (m) => {
          def(m, 'failureLimit', 0);
          def(m, 'inconclusiveLimit', 0);
          def(m, 'consecutiveErrorLimit', 4);
          if (isObj(m.provider) && isObj(m.provider.job) && isObj(m.provider.job.spec)) defaultJobSpec(m.provider.job.spec);
        });
      }
      break;
  }
  return o;
}

function defaultWorkload(spec: Obj, kind: string): void {
  def(spec, 'replicas', 1);
  def(spec, 'revisionHistoryLimit', 10);
  def(spec, 'progressDeadlineSeconds', 600);
  def(spec, 'minReadySeconds', 0);
  def(spec, 'paused', false);
  const strategy = child(spec, 'strategy');
  if (isObj(strategy.canary)) {
    // Argo Rollouts: both default to 25%, as for a rolling update.
    def(strategy.canary, 'maxSurge', '25%');
    def(strategy.canary, 'maxUnavailable', '25%');
  } else if (isObj(strategy.blueGreen)) {
    const bg = strategy.blueGreen;
    def(bg, 'autoPromotionEnabled', true);
    def(bg, 'scaleDownDelaySeconds', 30);
  } else if (kind === 'Deployment') {
    def(strategy, 'type', 'RollingUpdate');
    if (strategy.type === 'RollingUpdate') {
      const ru = child(strategy, 'rollingUpdate');
      def(ru, 'maxSurge', '25%');
      def(ru, 'maxUnavailable', '25%');
    }
  }
  const template = isObj(spec.template) ? spec.template : undefined;
  if (template && isObj(template.spec)) defaultPodSpec(template.spec, 'Always');
}

function defaultStatefulSet(spec: Obj): void {
  def(spec, 'replicas', 1);
  def(spec, 'podManagementPolicy', 'OrderedReady');
  def(spec, 'revisionHistoryLimit', 10);
  def(spec, 'minReadySeconds', 0);
  const us = child(spec, 'updateStrategy');
  def(us, 'type', 'RollingUpdate');
  if (us.type === 'RollingUpdate') def(child(us, 'rollingUpdate'), 'partition', 0);
  const retention = child(spec, 'persistentVolumeClaimRetentionPolicy');
  def(retention, 'whenDeleted', 'Retain');
  def(retention, 'whenScaled', 'Retain');
  each(spec.volumeClaimTemplates, (t) => {
    const ts = child(t, 'spec');
    def(ts, 'volumeMode', 'Filesystem');
    def(ts, 'accessModes', ['ReadWriteOnce']);
  });
  const template = isObj(spec.template) ? spec.template : undefined;
  if (template && isObj(template.spec)) defaultPodSpec(template.spec, 'Always');
}

function defaultDaemonSet(spec: Obj): void {
  def(spec, 'revisionHistoryLimit', 10);
  def(spec, 'minReadySeconds', 0);
  const us = child(spec, 'updateStrategy');
  def(us, 'type', 'RollingUpdate');
  if (us.type === 'RollingUpdate') {
    const ru = child(us, 'rollingUpdate');
    def(ru, 'maxUnavailable', 1);
    def(ru, 'maxSurge', 0);
  }
  const template = isObj(spec.template) ? spec.template : undefined;
  if (template && isObj(template.spec)) defaultPodSpec(template.spec, 'Always');
}

function defaultCronJob(spec: Obj): void {
  def(spec, 'concurrencyPolicy', 'Allow');
  def(spec, 'suspend', false);
  def(spec, 'successfulJobsHistoryLimit', 3);
  def(spec, 'failedJobsHistoryLimit', 1);
  const jt = isObj(spec.jobTemplate) ? spec.jobTemplate : undefined;
  if (jt && isObj(jt.spec)) defaultJobSpec(jt.spec);
}

function defaultJobSpec(job: Obj): void {
  def(job, 'backoffLimit', 6);
  const template = isObj(job.template) ? job.template : undefined;
  // No restartPolicy default for jobs: validation requires OnFailure or Never explicitly.
  if (template && isObj(template.spec)) defaultPodSpec(template.spec, undefined);
}

function defaultPodSpec(pod: Obj, restartPolicy: string | undefined): void {
  if (restartPolicy !== undefined) def(pod, 'restartPolicy', restartPolicy);
  def(pod, 'terminationGracePeriodSeconds', 30);
  def(pod, 'hostNetwork', false);
  for (const containers of [pod.containers, pod.initContainers]) each(containers, (c) => {
    if (typeof c.image === 'string') def(c, 'imagePullPolicy', pullPolicyFor(c.image));
    each(c.ports, (p) => def(p, 'protocol', 'TCP'));
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const p = c[probe];
      if (!isObj(p)) continue;
      def(p, 'initialDelaySeconds', 0);
      def(p, 'periodSeconds', 10);
      def(p, 'timeoutSeconds', 1);
      def(p, 'successThreshold', 1);
      def(p, 'failureThreshold', 3);
      if (isObj(p.httpGet)) {
        def(p.httpGet, 'path', '/');
        def(p.httpGet, 'scheme', 'HTTP');
      }
    }
  });
}

/** Kubernetes: Always for `:latest` or an untagged image, else IfNotPresent. A digest pins. */
export function pullPolicyFor(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}
