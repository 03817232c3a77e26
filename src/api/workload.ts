// Deployment (apps/v1) and Rollout (argoproj.io/v1alpha1): the same spec, with Argo-style
// canary and blue-green blocks accepted on both.

import { podTemplateRef } from './pod.js';
import type { IntOrString, PodTemplateSpec } from './pod.js';
import { anyObject, arr, bool, duration, int, intOrPercent, labels, mapOf, nonEmpty, obj, oneOfValues, str, templateMeta, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject, SourcedObject } from './types.js';
import { diagnostic, type Diagnostic } from '../common/index.js';

export interface AnalysisRef {
  templates: Array<{ templateName: string }>;
  args?: Array<{ name: string; value?: string }>;
}

export interface BackgroundAnalysis extends AnalysisRef {
  startingStep?: number;
}

export interface CanaryStep {
  setWeight?: number;
  pause?: { duration?: number | string };
  setCanaryScale?: { replicas?: number; weight?: number; matchTrafficWeight?: boolean };
  analysis?: AnalysisRef;
  setHeaderRoute?: {
    name: string;
    match?: Array<{ headerName: string; headerValue: StringMatch }>;
  };
  /** Argo's setMirrorRoute: matching requests are copied to the canary, the copy's response discarded. */
  setMirrorRoute?: {
    name: string;
    percentage?: number;
    match?: Array<{ method?: StringMatch; path?: StringMatch; headers?: Record<string, StringMatch> }>;
  };
  experiment?: ExperimentStep;
}

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/** Argo's experiment step: pods of the listed revisions' templates for a while, with analyses. */
export interface ExperimentStep {
  duration?: number | string;
  templates: Array<{
    name: string;
    specRef: 'stable' | 'canary';
    replicas?: number;
    weight?: number;
    selector?: { matchLabels: Record<string, string> };
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  }>;
  analyses?: Array<{ name: string; templateName: string; args?: Array<{ name: string; value?: string }>; requiredForCompletion?: boolean }>;
}

/** Argo's workloadRef: the pod template (and selector) come from a Deployment. */
export interface WorkloadRefSpec {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  name: string;
  scaleDown?: 'never' | 'onsuccess' | 'progressively';
}

export interface CanaryStrategy {
  steps?: CanaryStep[];
  canaryService?: string;
  stableService?: string;
  maxSurge?: IntOrString;
  maxUnavailable?: IntOrString;
  analysis?: BackgroundAnalysis;
  scaleDownDelaySeconds?: number;
  abortScaleDownDelaySeconds?: number;
  /** Accepted for compatibility; Capstan's router splits the traffic itself. */
  trafficRouting?: Record<string, unknown> & { managedRoutes?: Array<{ name: string }> };
}

export interface BlueGreenStrategy {
  activeService: string;
  previewService?: string;
  previewReplicaCount?: number;
  autoPromotionEnabled?: boolean;
  autoPromotionSeconds?: number;
  scaleDownDelaySeconds?: number;
  abortScaleDownDelaySeconds?: number;
  prePromotionAnalysis?: AnalysisRef;
  postPromotionAnalysis?: AnalysisRef;
}

export interface DeploymentStrategy {
  type?: 'RollingUpdate' | 'Recreate';
  rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString };
  canary?: CanaryStrategy;
  blueGreen?: BlueGreenStrategy;
}

export interface WorkloadSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: PodTemplateSpec;
  strategy?: DeploymentStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  paused?: boolean;
  /**
   * Argo Rollouts' rollbackWindow: a return to the template of one of the last `revisions`
   * revisions that ended Healthy skips canary steps and analysis (default 3; 0 turns it off).
   */
  rollbackWindow?: { revisions?: number };
  /** Rollout only: the template and selector come from this Deployment (resolved when the commit is read). */
  workloadRef?: WorkloadRefSpec;
}

export interface Deployment extends ManifestObject {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  spec: WorkloadSpec;
}

export interface Rollout extends ManifestObject {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'Rollout';
  spec: WorkloadSpec & { strategy: Pick<DeploymentStrategy, 'canary' | 'blueGreen'> };
}

function analysisRef(extra: Record<string, Schema> = {}): Schema {
  return obj(
    {
      templates: arr(obj({ templateName: nonEmpty() }, ['templateName']), { minItems: 1 }),
      args: arr(obj({ name: nonEmpty(), value: str() }, ['name'])),
      ...extra,
    },
    ['templates'],
  );
}

function stringMatch(): Schema {
  return obj({ exact: str(), prefix: str(), regex: str() });
}

function experimentSchema(): Schema {
  return obj(
    {
      duration: duration(),
      templates: arr(
        obj(
          {
            name: nonEmpty(),
            specRef: oneOfValues(['stable', 'canary']),
            replicas: int(0),
            weight: int(0, 100),
            selector: obj({ matchLabels: labels() }, ['matchLabels']),
            metadata: templateMeta(),
            service: obj({ name: str() }),
          },
          ['name', 'specRef'],
        ),
        { minItems: 1 },
      ),
      analyses: arr(
        obj(
          {
            name: nonEmpty(),
            templateName: nonEmpty(),
            args: arr(obj({ name: nonEmpty(), value: str() }, ['name'])),
            requiredForCompletion: bool(),
          },
          ['name', 'templateName'],
        ),
      ),
    },
    ['templates'],
  );
}

// Argo's trafficRouting providers: accepted in any shape (Capstan's router does the split).
const TRAFFIC_PROVIDERS = ['nginx', 'alb', 'istio', 'smi', 'traefik', 'ambassador', 'apisix', 'appMesh', 'plugins'];

function trafficRoutingSchema(): Schema {
  const props: Record<string, Schema> = {};
  for (const p of TRAFFIC_PROVIDERS) props[p] = anyObject();
  props.managedRoutes = arr(obj({ name: nonEmpty() }, ['name']));
  props.maxTrafficWeight = int(1);
  return obj(props);
}

function canarySchema(): Schema {
  const step = obj({
    setWeight: int(0, 100),
    pause: obj({ duration: duration() }),
    setCanaryScale: obj({ replicas: int(0), weight: int(0, 100), matchTrafficWeight: bool() }),
    analysis: analysisRef(),
    setHeaderRoute: obj(
      {
        name: nonEmpty(),
        match: arr(
          obj(
            { headerName: nonEmpty(), headerValue: obj({ exact: str(), prefix: str(), regex: str() }) },
            ['headerName', 'headerValue'],
          ),
        ),
      },
      ['name'],
    ),
    setMirrorRoute: obj(
      {
        name: nonEmpty(),
        percentage: int(0, 100),
        match: arr(obj({ method: stringMatch(), path: stringMatch(), headers: mapOf(stringMatch()) })),
      },
      ['name'],
    ),
    experiment: experimentSchema(),
  });
  return obj({
    steps: arr(step),
    trafficRouting: trafficRoutingSchema(),
    canaryService: nonEmpty(),
    stableService: nonEmpty(),
    maxSurge: intOrPercent(),
    maxUnavailable: intOrPercent(),
    analysis: analysisRef({ startingStep: int(0) }),
    scaleDownDelaySeconds: int(0),
    abortScaleDownDelaySeconds: int(0),
  });
}

function blueGreenSchema(): Schema {
  return obj(
    {
      activeService: nonEmpty(),
      previewService: nonEmpty(),
      previewReplicaCount: int(1),
      autoPromotionEnabled: bool(),
      autoPromotionSeconds: int(1),
      scaleDownDelaySeconds: int(0),
      abortScaleDownDelaySeconds: int(0),
      prePromotionAnalysis: analysisRef(),
      postPromotionAnalysis: analysisRef(),
    },
    ['activeService'],
  );
}

function workloadSpec(strategy: Schema, rollout = false): Schema {
  return obj(
    {
      replicas: int(0),
      selector: obj({ matchLabels: labels() }, ['matchLabels']),
      template: podTemplateRef(),
      strategy,
      minReadySeconds: int(0),
      revisionHistoryLimit: int(0),
      progressDeadlineSeconds: int(1),
      paused: bool(),
      rollbackWindow: obj({ revisions: int(0) }),
      ...(rollout
        ? {
            workloadRef: obj(
              {
                apiVersion: oneOfValues(['apps/v1']),
                kind: oneOfValues(['Deployment']),
                name: nonEmpty(),
                scaleDown: oneOfValues(['never', 'onsuccess', 'progressively']),
              },
              ['apiVersion', 'kind', 'name'],
            ),
          }
        : {}),
    },
    // A Rollout may take both from spec.workloadRef instead (checked in checks.ts).
    rollout ? [] : ['selector', 'template'],
  );
}

export function deploymentSchema(): Schema {
  const strategy = obj({
    type: oneOfValues(['RollingUpdate', 'Recreate']),
    rollingUpdate: obj({ maxSurge: intOrPercent(), maxUnavailable: intOrPercent() }),
    canary: canarySchema(),
    blueGreen: blueGreenSchema(),
  });
  return topLevel({ spec: workloadSpec(strategy) }, ['spec']);
}

export function rolloutSchema(): Schema {
  const strategy = obj({ canary: canarySchema(), blueGreen: blueGreenSchema() });
  return topLevel({ spec: workloadSpec(strategy, true) }, ['spec']);
}

/** The field a commit-wide workloadRef check points at (its position is kept in `source.at`). */
export function workloadRefFieldPaths(o: ManifestObject): string[][] {
  const spec = (o as { spec?: { workloadRef?: unknown } }).spec;
  return o.kind === 'Rollout' && typeof spec?.workloadRef === 'object' && spec.workloadRef !== null ? [['spec', 'workloadRef', 'name']] : [];
}

/**
 * Checks across a commit: a Rollout's `spec.workloadRef` names a Deployment in the same
 * namespace of the same commit (an error at workloadRef.name). Pure.
 */
export function checkWorkloadRefs(objects: readonly SourcedObject[]): Diagnostic[] {
  const errors: Diagnostic[] = [];
  const ids = new Set(objects.map((s) => `${s.object.kind}/${s.object.metadata.namespace}/${s.object.metadata.name}`));
  for (const s of objects) {
    if (s.object.kind !== 'Rollout') continue;
    const ref = (s.object as Rollout).spec?.workloadRef;
    if (!ref || typeof ref.name !== 'string') continue;
    const ns = s.object.metadata.namespace;
    const found = ids.has(`Deployment/${ns}/${ref.name}`);
    // Revisions and pods are named after the workload: the two would share names.
    const same = ref.name === s.object.metadata.name;
    if (found && !same) continue;
    const path = 'spec.workloadRef.name';
    const p = s.source.at?.[path];
    errors.push(
      diagnostic(
        'error',
        'CAPSTAN_ERR_API_REFERENCE',
        same
          ? `${path}: Rollout ${ns}/${s.object.metadata.name} has the name of the Deployment it references; give the Rollout another name`
          : `${path}: Rollout ${ns}/${s.object.metadata.name} takes its pod template from Deployment ${ns}/${ref.name}, which is not in this commit`,
        { file: s.source.file, line: p?.line ?? s.source.line, column: p?.column ?? s.source.column },
        path,
      ),
    );
  }
  return errors;
}
