// Rules JSON Schema cannot say: names, label syntax, "exactly one of", selector vs labels,
// cron syntax. Every check is guarded by a type test, so schema errors never crash it.

import type { ErrorCode } from '../common/index.js';
import type { FieldPath } from './document.js';
import { checkAppsWorkload, withClaimVolumes } from './apps.js';
import { cronProblem } from './cron.js';
import { checkJobSpec, checkServiceAccount } from './kinds-core.js';
import { checkIngress } from './ingress.js';
import { checkPodContainers } from './pod-containers.js';
import { checkPodDns } from './pod-dns.js';
import { checkServiceNetwork } from './others.js';
import { checkResourceQuota } from './quota.js';
import { checkPodDisruptionBudget } from './scheduling.js';
import { checkVolumes } from './volumes.js';
import {
  configKeyProblem,
  dns1035LabelProblem,
  dnsLabelProblem,
  dnsSubdomainProblem,
  labelValueProblem,
  qualifiedNameProblem,
  repoPathProblem,
} from './names.js';

export type Report = (code: ErrorCode, message: string, path: FieldPath, severity?: 'error' | 'warning') => void;

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function fieldPathString(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): v is string => typeof v === 'string';

export function checkObject(o: Obj, report: Report): void {
  const kind = o.kind as string;
  checkMetadata(o, kind, report);
  const spec = o.spec;
  switch (kind) {
    case 'Deployment':
    case 'Rollout':
      if (isObj(spec)) checkWorkload(spec, kind, report);
      break;
    case 'StatefulSet':
    case 'DaemonSet':
      if (isObj(spec)) {
        // A StatefulSet's volumeClaimTemplates are volumes of its pods: mounts may name them.
        checkWorkload(kind === 'StatefulSet' ? withClaimVolumes(spec) : spec, kind, report);
        checkAppsWorkload(spec, kind, report);
      }
      break;
    case 'CronJob':
      if (isObj(spec)) checkCronJob(spec, report);
      break;
    case 'Service':
      if (isObj(spec)) checkService(spec, report);
      if (isObj(spec)) checkServiceNetwork(spec, report);
      break;
    case 'Ingress':
      checkIngress(o, report);
      break;
    case 'ConfigMap':
    case 'Secret':
      checkConfigKeys(o, kind, report);
      break;
    case 'AnalysisTemplate':
      if (isObj(spec)) checkAnalysisTemplate(spec, report);
      break;
    case 'ChartRelease':
      if (isObj(spec)) checkChartRelease(spec, report);
      break;
    case 'ResourceQuota':
      checkResourceQuota(o, report);
      break;
    case 'ServiceAccount':
      checkServiceAccount(o, report);
      break;
    case 'Pod':
      if (isObj(spec)) checkPodSpec(spec, ['spec'], report);
      break;
    case 'PodDisruptionBudget':
      checkPodDisruptionBudget(spec, report);
      break;
    case 'Job':
      if (isObj(spec)) {
        const template = spec.template;
        if (isObj(template) && isObj(template.metadata)) {
          checkLabels(template.metadata.labels, ['spec', 'template', 'metadata', 'labels'], report);
          checkAnnotations(template.metadata.annotations, ['spec', 'template', 'metadata', 'annotations'], report);
        }
        if (isObj(template) && isObj(template.spec)) checkPodSpec(template.spec, ['spec', 'template', 'spec'], report);
        checkJobSpec(spec, ['spec'], report);
      }
      break;
  }
}

/** What controllers append to a workload's name to name its pods, for the name length limit. */
const DERIVED_SUFFIX: Record<string, { length: number; why: string }> = {
  Deployment: { length: 17, why: 'its pods are named <name>-<10-character revision hash>-<5-character suffix>, at most 253 characters' },
  Rollout: { length: 17, why: 'its pods are named <name>-<10-character revision hash>-<5-character suffix>, at most 253 characters' },
  // The pod name is also the statefulset.kubernetes.io/pod-name label value (at most 63), and
  // Kubernetes' controller-revision-hash label (<name>-<hash>) caps the name at 52.
  StatefulSet: { length: 201, why: 'its pods are named <name>-<ordinal> and labelled with <name>-<revision hash>, which must fit in a 63-character label value' },
  DaemonSet: { length: 17, why: 'its pods are named <name>-<5-character suffix> and carry <name>-<revision hash> labels, at most 253 characters' },
  // Jobs append an 11-character suffix, and their pods a few more.
  CronJob: { length: 201, why: 'its Jobs are named <name>-<11-character suffix>, which must fit in a 63-character label value' },
  Job: { length: 190, why: "it is its pods' job-name label value, at most 63 characters" },
};

function checkMetadata(o: Obj, kind: string, report: Report): void {
  const meta = o.metadata;
  if (!isObj(meta)) return;
  if (str(meta.name)) {
    // Names the controllers derive must fit too: a pod name is at most 253 characters.
    const derived = DERIVED_SUFFIX[kind];
    let problem =
      kind === 'Service'
        ? dns1035LabelProblem(meta.name)
        : derived
          ? dnsSubdomainProblem(meta.name, 253 - derived.length)
          : dnsSubdomainProblem(meta.name);
    if (problem && derived && meta.name.length > 253 - derived.length) problem += `: ${derived.why}`;
    if (problem) report('CAPSTAN_ERR_API_NAME', `metadata.name "${meta.name}" ${problem}`, ['metadata', 'name']);
  }
  if (str(meta.namespace)) {
    const problem = dnsLabelProblem(meta.namespace);
    if (problem) report('CAPSTAN_ERR_API_NAME', `metadata.namespace "${meta.namespace}" ${problem}`, ['metadata', 'namespace']);
  }
  checkLabels(meta.labels, ['metadata', 'labels'], report);
  checkAnnotations(meta.annotations, ['metadata', 'annotations'], report);
}

function checkLabels(labels: unknown, path: FieldPath, report: Report): void {
  if (!isObj(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    const keyProblem = qualifiedNameProblem(k);
    if (keyProblem) report('CAPSTAN_ERR_API_NAME', `label key "${k}" in ${fieldPathString(path)}: ${keyProblem}`, [...path, k]);
    if (str(v)) {
      const valueProblem = labelValueProblem(v);
      if (valueProblem) report('CAPSTAN_ERR_API_SCHEMA', `label value ${JSON.stringify(v)} of ${fieldPathString([...path, k])} ${valueProblem}`, [...path, k]);
    }
  }
}

function checkAnnotations(annotations: unknown, path: FieldPath, report: Report): void {
  if (!isObj(annotations)) return;
  for (const k of Object.keys(annotations)) {
    const problem = qualifiedNameProblem(k);
    if (problem) report('CAPSTAN_ERR_API_NAME', `annotation key "${k}" in ${fieldPathString(path)}: ${problem}`, [...path, k]);
  }
}

/** At most one (or, with `required`, exactly one) of `keys` is set on `o`. */
function oneOf(o: Obj, keys: string[], path: FieldPath, report: Report, required: boolean): void {
  const set = keys.filter((k) => o[k] !== undefined);
  const where = fieldPathString(path);
  if (set.length > 1) {
    report('CAPSTAN_ERR_API_SCHEMA', `${where} sets ${set.join(' and ')}: use exactly one of ${keys.join(', ')}`, [...path, set[1]]);
  } else if (set.length === 0 && required) {
    report('CAPSTAN_ERR_API_REQUIRED', `${where} must set one of ${keys.join(', ')}`, path);
  }
}

/** A Rollout takes its template and selector from spec.template or from spec.workloadRef. */
function checkWorkloadRef(spec: Obj, report: Report): void {
  if (spec.workloadRef !== undefined && spec.template !== undefined) {
    report('CAPSTAN_ERR_API_SCHEMA', 'spec.template and spec.workloadRef are both set: a Rollout takes its pod template from one of them', ['spec', 'workloadRef']);
  }
  // The referenced Deployment must be in the same commit (checkWorkloadRefs, across objects).
  if (spec.workloadRef === undefined) {
    if (spec.template === undefined) report('CAPSTAN_ERR_API_REQUIRED', 'spec.template is required (or spec.workloadRef naming a Deployment)', ['spec']);
    if (spec.selector === undefined) report('CAPSTAN_ERR_API_REQUIRED', 'spec.selector is required', ['spec']);
  }
}

function checkWorkload(spec: Obj, kind: string, report: Report): void {
  if (kind === 'Rollout') checkWorkloadRef(spec, report);
  const template = spec.template;
  const selector = isObj(spec.selector) ? spec.selector.matchLabels : undefined;
  checkLabels(selector, ['spec', 'selector', 'matchLabels'], report);
  if (isObj(template)) {
    const tmeta = isObj(template.metadata) ? template.metadata : {};
    checkLabels(tmeta.labels, ['spec', 'template', 'metadata', 'labels'], report);
    checkAnnotations(tmeta.annotations, ['spec', 'template', 'metadata', 'annotations'], report);
    if (isObj(selector)) checkSelectorMatches(selector, tmeta.labels, report);
    if (isObj(template.spec)) {
      checkPodSpec(template.spec, ['spec', 'template', 'spec'], report);
      const rp = template.spec.restartPolicy;
      if (rp !== undefined && rp !== 'Always') {
        report('CAPSTAN_ERR_API_SCHEMA', `spec.template.spec.restartPolicy must be Always for a ${kind}, got ${JSON.stringify(rp)}`, [
          'spec', 'template', 'spec', 'restartPolicy',
        ]);
      }
    }
  }
  const strategy = spec.strategy;
  if (kind === 'Rollout') {
    if (!isObj(strategy)) {
      report('CAPSTAN_ERR_API_REQUIRED', 'spec.strategy is required: a Rollout needs strategy.canary or strategy.blueGreen', ['spec', 'strategy']);
      return;
    }
    oneOf(strategy, ['canary', 'blueGreen'], ['spec', 'strategy'], report, true);
  } else if (isObj(strategy)) {
    oneOf(strategy, ['canary', 'blueGreen'], ['spec', 'strategy'], report, false);
    const argo = strategy.canary !== undefined ? 'canary' : strategy.blueGreen !== undefined ? 'blueGreen' : undefined;
    if (argo && strategy.type !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.strategy.type cannot be combined with spec.strategy.${argo}`, ['spec', 'strategy', 'type']);
    }
    if (argo && strategy.rollingUpdate !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.strategy.rollingUpdate cannot be combined with spec.strategy.${argo}`, ['spec', 'strategy', 'rollingUpdate']);
    }
    if (strategy.type === 'Recreate' && strategy.rollingUpdate !== undefined) {
      report('CAPSTAN_ERR_API_SCHEMA', 'spec.strategy.rollingUpdate may not be set when spec.strategy.type is Recreate', ['spec', 'strategy', 'rollingUpdate']);
    }
    if (isObj(strategy.rollingUpdate)) checkSurge(strategy.rollingUpdate, ['spec', 'strategy', 'rollingUpdate'], report);
  }
  if (isObj(strategy) && isObj(strategy.canary)) checkCanary(strategy.canary, report);
}

function checkSelectorMatches(selector: Obj, labels: unknown, report: Report): void {
  const have = isObj(labels) ? labels : {};
  const missing = Object.entries(selector).filter(([k, v]) => have[k] !== v);
  if (missing.length === 0) return;
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const show = (o: Obj) => Object.entries(o).map(([k, v]) => `${k}=${text(v)}`).join(',');
  report(
    'CAPSTAN_ERR_API_SELECTOR',
    `spec.selector.matchLabels {${show(selector)}} does not match spec.template.metadata.labels {${show(have)}}` +
      ` (missing or different: ${missing.map(([k]) => k).join(', ')})`,
    ['spec', 'selector', 'matchLabels', missing[0][0]],
  );
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0%';
}

function checkSurge(ru: Obj, path: FieldPath, report: Report): void {
  if (isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
    report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString(path)}.maxUnavailable may not be 0 when maxSurge is 0`, [...path, 'maxUnavailable']);
  }
  const mu = ru.maxUnavailable;
  if (str(mu) && /^[0-9]+%$/.test(mu) && parseInt(mu, 10) > 100) {
    report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString(path)}.maxUnavailable must not be more than 100%, got "${mu}"`, [...path, 'maxUnavailable']);
  }
}

/** Step actions that stand alone, as Argo Rollouts has them. */
const SOLE_STEP_ACTIONS = ['setWeight', 'pause', 'experiment', 'analysis'];
/** Step actions one step may combine: a canary scale with the routes it serves. */
const COMBINABLE_STEP_ACTIONS = ['setCanaryScale', 'setHeaderRoute', 'setMirrorRoute'];
const TRAFFIC_PROVIDERS = ['nginx', 'alb', 'istio', 'smi', 'traefik', 'ambassador', 'apisix', 'appMesh', 'plugins'];

function checkStepActions(step: Obj, path: FieldPath, report: Report): void {
  const sole = SOLE_STEP_ACTIONS.filter((k) => step[k] !== undefined);
  const combined = COMBINABLE_STEP_ACTIONS.filter((k) => step[k] !== undefined);
  const where = fieldPathString(path);
  if (sole.length > 1 || (sole.length === 1 && combined.length > 0)) {
    const second = sole.length > 1 ? sole[1] : combined[0];
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${where} sets ${[...sole, ...combined].join(' and ')}: setWeight, pause, experiment and analysis each stand alone in a step` +
        ' (only setCanaryScale, setHeaderRoute and setMirrorRoute may share one)',
      [...path, second],
    );
  } else if (sole.length === 0 && combined.length === 0) {
    report('CAPSTAN_ERR_API_REQUIRED', `${where} must set one of ${[...SOLE_STEP_ACTIONS, ...COMBINABLE_STEP_ACTIONS].join(', ')}`, path);
  }
}

function checkExperiment(exp: Obj, path: FieldPath, report: Report): void {
  const names = new Map<string, number>();
  list(exp.templates).forEach((t, j) => {
    if (!isObj(t) || !str(t.name)) return;
    const problem = dnsLabelProblem(t.name);
    if (problem) report('CAPSTAN_ERR_API_NAME', `${fieldPathString([...path, 'templates', j, 'name'])} "${t.name}" ${problem}`, [...path, 'templates', j, 'name']);
    if (names.has(t.name)) {
      report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...path, 'templates', j, 'name'])} "${t.name}" is already used by templates[${names.get(t.name)}]`, [
        ...path, 'templates', j, 'name',
      ]);
    } else names.set(t.name, j);
    const tmeta = isObj(t.metadata) ? t.metadata : {};
    checkLabels(tmeta.labels, [...path, 'templates', j, 'metadata', 'labels'], report);
    if (isObj(t.selector) && isObj(t.selector.matchLabels) && isObj(tmeta.labels)) {
      const sel = t.selector.matchLabels;
      const lab = tmeta.labels;
      const missing = Object.keys(sel).filter((k) => lab[k] !== sel[k]);
      if (missing.length > 0) {
        report('CAPSTAN_ERR_API_SELECTOR', `${fieldPathString([...path, 'templates', j, 'selector', 'matchLabels'])} does not match the template's metadata.labels (missing or different: ${missing.join(', ')})`, [
          ...path, 'templates', j, 'selector', 'matchLabels', missing[0],
        ]);
      }
    }
  });
  const analyses = new Set<string>();
  list(exp.analyses).forEach((a, j) => {
    if (!isObj(a) || !str(a.name)) return;
    if (analyses.has(a.name)) report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...path, 'analyses', j, 'name'])} "${a.name}" is used twice`, [...path, 'analyses', j, 'name']);
    analyses.add(a.name);
  });
  if (exp.duration === undefined && !list(exp.analyses).some((a) => isObj(a) && a.requiredForCompletion === true)) {
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `${fieldPathString(path)} has no duration and no analysis with requiredForCompletion: it runs until the rollout is promoted or aborted`,
      path,
      'warning',
    );
  }
}

function checkCanary(canary: Obj, report: Report): void {
  const base = ['spec', 'strategy', 'canary'];
  checkSurge(canary, base, report);
  const tr = isObj(canary.trafficRouting) ? canary.trafficRouting : undefined;
  if (tr) {
    const named = [...TRAFFIC_PROVIDERS, 'managedRoutes', 'maxTrafficWeight'].filter((k) => tr[k] !== undefined);
    report(
      'CAPSTAN_ERR_API_SCHEMA',
      `spec.strategy.canary.trafficRouting${named.length > 0 ? ` (${named.join(', ')})` : ''} is not used: Capstan's router splits the traffic between the revisions itself`,
      [...base, 'trafficRouting'],
      'warning',
    );
  }
  const managed = tr && Array.isArray(tr.managedRoutes) ? new Set(tr.managedRoutes.filter(isObj).map((r) => r.name)) : undefined;
  list(canary.steps).forEach((step, i) => {
    if (!isObj(step)) return;
    const path = [...base, 'steps', i];
    checkStepActions(step, path, report);
    if (isObj(step.setCanaryScale)) {
      oneOf(step.setCanaryScale, ['replicas', 'weight', 'matchTrafficWeight'], [...path, 'setCanaryScale'], report, true);
    }
    for (const kind of ['setHeaderRoute', 'setMirrorRoute']) {
      const route = step[kind];
      if (!isObj(route) || !str(route.name)) continue;
      // Without trafficRouting.managedRoutes the router serves the route anyway; a declared list must name it, as Argo requires.
      if (managed !== undefined && !managed.has(route.name)) {
        report(
          'CAPSTAN_ERR_API_REFERENCE',
          `${fieldPathString([...path, kind, 'name'])} "${route.name}" must be listed in spec.strategy.canary.trafficRouting.managedRoutes`,
          [...path, kind, 'name'],
        );
      }
    }
    if (isObj(step.setMirrorRoute)) {
      list(step.setMirrorRoute.match).forEach((m, j) => {
        if (!isObj(m)) return;
        const mpath = [...path, 'setMirrorRoute', 'match', j];
        for (const f of ['method', 'path']) if (isObj(m[f])) oneOf(m[f] as Obj, ['exact', 'prefix', 'regex'], [...mpath, f], report, true);
        if (isObj(m.headers)) for (const [h, v] of Object.entries(m.headers)) if (isObj(v)) oneOf(v, ['exact', 'prefix', 'regex'], [...mpath, 'headers', h], report, true);
        for (const [f, v] of Object.entries(m)) {
          const tests = f === 'headers' && isObj(v) ? Object.entries(v) : [[f, v] as [string, unknown]];
          for (const [name, t] of tests) {
            if (!isObj(t) || !str(t.regex)) continue;
            try {
              new RegExp(t.regex);
            } catch (err) {
              const at = f === 'headers' ? [...mpath, 'headers', name, 'regex'] : [...mpath, f, 'regex'];
              report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString(at)} is not a valid regular expression: ${(err as Error).message}`, at);
            }
          }
        }
      });
    }
    if (isObj(step.experiment)) checkExperiment(step.experiment, [...path, 'experiment'], report);
  });
}

function checkPodSpec(pod: Obj, path: FieldPath, report: Report): void {
  const names = new Map<string, number>();
  list(pod.containers).forEach((c, i) => {
    if (!isObj(c)) return;
    const cpath = [...path, 'containers', i];
    if (str(c.name)) {
      const problem = dnsLabelProblem(c.name);
      if (problem) report('CAPSTAN_ERR_API_NAME', `${fieldPathString([...cpath, 'name'])} "${c.name}" ${problem}`, [...cpath, 'name']);
      const first = names.get(c.name);
      if (first !== undefined) {
        report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...cpath, 'name'])} "${c.name}" is already used by containers[${first}]`, [...cpath, 'name']);
      } else {
        names.set(c.name, i);
      }
    }
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const p = c[probe];
      if (!isObj(p)) continue;
      oneOf(p, ['httpGet', 'tcpSocket', 'exec'], [...cpath, probe], report, true);
      if (probe !== 'readinessProbe' && p.successThreshold !== undefined && p.successThreshold !== 1) {
        report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...cpath, probe, 'successThreshold'])} must be 1 for a ${probe}`, [
          ...cpath, probe, 'successThreshold',
        ]);
      }
    }
    if (isObj(c.lifecycle) && isObj(c.lifecycle.preStop)) {
      oneOf(c.lifecycle.preStop, ['exec', 'httpGet', 'tcpSocket', 'sleep'], [...cpath, 'lifecycle', 'preStop'], report, true);
    }
    list(c.env).forEach((e, j) => {
      if (!isObj(e)) return;
      const epath = [...cpath, 'env', j];
      if (e.value !== undefined && e.valueFrom !== undefined) {
        report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString(epath)} sets both value and valueFrom`, [...epath, 'valueFrom']);
      }
      if (isObj(e.valueFrom)) oneOf(e.valueFrom, ['configMapKeyRef', 'secretKeyRef'], [...epath, 'valueFrom'], report, true);
    });
    list(c.envFrom).forEach((e, j) => {
      if (isObj(e)) oneOf(e, ['configMapRef', 'secretRef'], [...cpath, 'envFrom', j], report, true);
    });
    const portNames = new Set<string>();
    list(c.ports).forEach((p, j) => {
      if (!isObj(p) || !str(p.name)) return;
      if (portNames.has(p.name)) {
        report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...cpath, 'ports', j, 'name'])} "${p.name}" is used twice`, [...cpath, 'ports', j, 'name']);
      }
      portNames.add(p.name);
    });
  });
  checkVolumes(pod, path, report);
  checkPodContainers(pod, path, report);
  checkPodDns(pod, path, report);
  list(pod.tolerations).forEach((t, i) => {
    if (isObj(t) && t.operator === 'Exists' && t.value !== undefined && t.value !== '') {
      report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...path, 'tolerations', i, 'value'])} must be empty when operator is Exists`, [
        ...path, 'tolerations', i, 'value',
      ]);
    }
  });
}

function checkCronJob(spec: Obj, report: Report): void {
  if (str(spec.schedule)) {
    const problem = cronProblem(spec.schedule);
    if (problem) report('CAPSTAN_ERR_API_SCHEMA', `spec.schedule "${spec.schedule}" is not a valid cron schedule: ${problem}`, ['spec', 'schedule']);
  }
  if (str(spec.timeZone) && !isTimeZone(spec.timeZone)) {
    report('CAPSTAN_ERR_API_SCHEMA', `spec.timeZone "${spec.timeZone}" is not a known IANA time zone`, ['spec', 'timeZone']);
  }
  const jt = spec.jobTemplate;
  if (!isObj(jt) || !isObj(jt.spec)) return;
  const template = jt.spec.template;
  if (!isObj(template)) return;
  const tpath = ['spec', 'jobTemplate', 'spec', 'template'];
  if (isObj(template.metadata)) checkLabels(template.metadata.labels, [...tpath, 'metadata', 'labels'], report);
  if (!isObj(template.spec)) return;
  checkPodSpec(template.spec, [...tpath, 'spec'], report);
  // Kubernetes has no default here: a Job's pods must say OnFailure or Never.
  const rp = template.spec.restartPolicy;
  if (rp === undefined) {
    report('CAPSTAN_ERR_API_REQUIRED', `${fieldPathString([...tpath, 'spec', 'restartPolicy'])} is required for a job: OnFailure or Never`, [
      ...tpath, 'spec', 'restartPolicy',
    ]);
  } else if (rp === 'Always') {
    report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...tpath, 'spec', 'restartPolicy'])} must be OnFailure or Never for a job, got "Always"`, [
      ...tpath, 'spec', 'restartPolicy',
    ]);
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function checkService(spec: Obj, report: Report): void {
  const ports = list(spec.ports);
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (!isObj(p)) return;
    const ppath = ['spec', 'ports', i];
    if (ports.length > 1 && !str(p.name)) {
      report('CAPSTAN_ERR_API_REQUIRED', `${fieldPathString([...ppath, 'name'])} is required when a Service has more than one port`, ppath);
    }
    if (str(p.name)) {
      if (names.has(p.name)) report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...ppath, 'name'])} "${p.name}" is used twice`, [...ppath, 'name']);
      names.add(p.name);
    }
    const key = `${String(p.port)}/${String(p.protocol ?? 'TCP')}`;
    if (seen.has(key)) report('CAPSTAN_ERR_API_SCHEMA', `${fieldPathString([...ppath, 'port'])} ${key} is listed twice`, [...ppath, 'port']);
    seen.add(key);
  });
}

function checkConfigKeys(o: Obj, kind: string, report: Report): void {
  const fields = kind === 'Secret' ? ['data', 'stringData'] : ['data', 'binaryData'];
  const seen = new Map<string, string>();
  for (const field of fields) {
    const m = o[field];
    if (!isObj(m)) continue;
    for (const [k, v] of Object.entries(m)) {
      const problem = configKeyProblem(k);
      if (problem) report('CAPSTAN_ERR_API_NAME', `key "${k}" in ${field} ${problem}`, [field, k]);
      const other = seen.get(k);
      // A key in both Secret fields is allowed (stringData wins, as in Kubernetes).
      if (other && kind === 'ConfigMap') report('CAPSTAN_ERR_API_SCHEMA', `key "${k}" is in both ${other} and ${field}`, [field, k]);
      seen.set(k, field);
      // Base64 length check; the value itself is never quoted.
      if (kind === 'Secret' && field === 'data' && str(v) && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 !== 0) {
        report('CAPSTAN_ERR_API_SCHEMA', `data["${k}"] is not valid base64 (length is not a multiple of 4)`, [field, k]);
      }
    }
  }
}

function checkAnalysisTemplate(spec: Obj, report: Report): void {
  const names = new Set<string>();
  list(spec.metrics).forEach((m, i) => {
    if (!isObj(m)) return;
    if (str(m.name)) {
      if (names.has(m.name)) report('CAPSTAN_ERR_API_SCHEMA', `spec.metrics[${i}].name "${m.name}" is used twice`, ['spec', 'metrics', i, 'name']);
      names.add(m.name);
    }
    if (isObj(m.provider)) oneOf(m.provider, ['capstan', 'web', 'prometheus', 'job'], ['spec', 'metrics', i, 'provider'], report, true);
  });
}

function checkChartRelease(spec: Obj, report: Report): void {
  if (str(spec.chart)) {
    const problem = repoPathProblem(spec.chart);
    if (problem) report('CAPSTAN_ERR_API_SCHEMA', `spec.chart "${spec.chart}" ${problem}`, ['spec', 'chart']);
  }
  list(spec.valuesFiles).forEach((f, i) => {
    if (!str(f)) return;
    const problem = repoPathProblem(f);
    if (problem) report('CAPSTAN_ERR_API_SCHEMA', `spec.valuesFiles[${i}] "${f}" ${problem}`, ['spec', 'valuesFiles', i]);
  });
  if (str(spec.namespace)) {
    const problem = dnsLabelProblem(spec.namespace);
    if (problem) report('CAPSTAN_ERR_API_NAME', `spec.namespace "${spec.namespace}" ${problem}`, ['spec', 'namespace']);
  }
}
