// What a changed workload's rollout would look like, from the manifests alone.

import type { ManifestObject } from '../api/types.js';
import { parseDuration } from '../api/index.js';
import { resolveRollingParams } from '../rollout/index.js';
import { deepEqual } from './diff.js';
import type { RolloutPreview, RolloutStrategyName } from './types.js';

const WORKLOAD_KINDS = new Set(['Deployment', 'Rollout']);

interface Probe {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
}

type Obj = Record<string, any>;

export function isWorkload(object: ManifestObject | undefined): boolean {
  return object !== undefined && WORKLOAD_KINDS.has(object.kind);
}

/** Seconds from a pod start until it can count as available, at the least. */
function readySeconds(spec: Obj): number {
  const containers: Obj[] = spec.template?.spec?.containers ?? [];
  let probeDelay = 0;
  for (const c of containers) {
    const p: Probe | undefined = c.readinessProbe;
    if (p) probeDelay = Math.max(probeDelay, p.initialDelaySeconds ?? 0);
  }
  return probeDelay + (spec.minReadySeconds ?? 0);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function durationLabel(seconds: number): string {
  if (seconds % 3600 === 0 && seconds > 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0 && seconds > 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function canaryPreview(spec: Obj, canary: Obj, replicas: number): RolloutPreview {
  const steps: string[] = [];
  let minDuration = 0;
  let manual = false;
  for (const step of (canary.steps ?? []) as Obj[]) {
    if (step.setWeight !== undefined) {
      const pods = Math.ceil((step.setWeight * replicas) / 100);
      steps.push(`setWeight ${step.setWeight}% (${plural(pods, 'canary pod')}, router sends exactly ${step.setWeight}%)`);
    } else if (step.pause !== undefined) {
      const d = step.pause?.duration;
      if (d === undefined || d === null) {
        manual = true;
        steps.push('pause until `capstan promote`');
      } else {
        const s = parseDuration(d);
        minDuration += s;
        steps.push(`pause ${durationLabel(s)}`);
      }
    } else if (step.analysis !== undefined) {
      const names = ((step.analysis.templates ?? []) as Obj[]).map((t) => t.templateName).join(', ');
      steps.push(`analysis ${names || '(inline)'}`);
    } else if (step.experiment !== undefined) {
      const exp = step.experiment as Obj;
      const templates = ((exp.templates ?? []) as Obj[])
        .map((t) => `${t.name} (${t.specRef}, ${plural(t.replicas ?? 1, 'pod')}${t.weight !== undefined ? `, ${t.weight}% of traffic` : ''})`)
        .join(', ');
      const analyses = ((exp.analyses ?? []) as Obj[]).map((a) => a.templateName).join(', ');
      let length = 'until its analyses complete';
      if (exp.duration !== undefined && exp.duration !== null) {
        const d = parseDuration(exp.duration);
        minDuration += d;
        length = `for ${durationLabel(d)}`;
      } else if (!((exp.analyses ?? []) as Obj[]).some((a) => a.requiredForCompletion === true)) {
        manual = true;
        length = 'until `capstan promote`';
      }
      steps.push(`experiment ${templates} ${length}${analyses ? `, analysis ${analyses}` : ''}`);
    } else {
      // setCanaryScale, setHeaderRoute and setMirrorRoute may share one step.
      const parts: string[] = [];
      if (step.setCanaryScale !== undefined) {
        const sc = step.setCanaryScale as Obj;
        if (sc.replicas !== undefined) parts.push(`setCanaryScale ${plural(sc.replicas, 'pod')}`);
        else if (sc.weight !== undefined) parts.push(`setCanaryScale ${sc.weight}% of replicas`);
        else parts.push('setCanaryScale back to the traffic weight');
      }
      if (step.setHeaderRoute !== undefined) {
        const r = step.setHeaderRoute as Obj;
        parts.push(`setHeaderRoute ${r.name ?? ''}${r.match === undefined ? ' (removed)' : ''}`);
      }
      if (step.setMirrorRoute !== undefined) {
        const r = step.setMirrorRoute as Obj;
        parts.push(
          r.match === undefined
            ? `setMirrorRoute ${r.name ?? ''} (removed)`
            : `setMirrorRoute ${r.name ?? ''} (${r.percentage ?? 100}% of matching requests copied to the canary, responses discarded)`,
        );
      }
      if (parts.length > 0) steps.push(parts.join(' + '));
    }
  }
  steps.push(`promote: all ${plural(replicas, 'pod')} on the new revision, stable scaled down`);
  return {
    strategy: 'Canary',
    steps,
    replicas,
    minDurationSeconds: manual ? undefined : minDuration + readySeconds(spec),
    manualSteps: manual,
  };
}

function blueGreenPreview(spec: Obj, bg: Obj, replicas: number): RolloutPreview {
  const preview = bg.previewReplicaCount ?? replicas;
  const steps = [`start ${plural(preview, 'preview pod')}${bg.previewService ? ` behind ${bg.previewService}` : ''}`];
  let manual = false;
  let minDuration = readySeconds(spec);
  if (bg.prePromotionAnalysis) steps.push('pre-promotion analysis');
  if (bg.autoPromotionEnabled === false) {
    manual = true;
    steps.push('wait for `capstan promote`');
  } else if (bg.autoPromotionSeconds) {
    minDuration += bg.autoPromotionSeconds;
    steps.push(`promote automatically after ${durationLabel(bg.autoPromotionSeconds)}`);
  }
  steps.push(`switch ${bg.activeService ?? 'the active service'} to the new revision`);
  if (bg.postPromotionAnalysis) steps.push('post-promotion analysis');
  const delay = bg.scaleDownDelaySeconds ?? 30;
  steps.push(`scale the old revision down after ${durationLabel(delay)}`);
  return {
    strategy: 'BlueGreen',
    steps,
    replicas,
    minDurationSeconds: manual ? undefined : minDuration,
    manualSteps: manual,
  };
}

function rollingPreview(spec: Obj, replicas: number): RolloutPreview {
  const ru = spec.strategy?.rollingUpdate ?? {};
  const { maxSurge, maxUnavailable } = resolveRollingParams(replicas, ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%');
  const perWave = Math.max(1, maxSurge + maxUnavailable);
  const waves = Math.max(1, Math.ceil(replicas / perWave));
  return {
    strategy: 'RollingUpdate',
    steps: [
      `replace ${plural(replicas, 'pod')} in about ${plural(waves, 'wave')}: up to ${maxSurge} extra, at most ${maxUnavailable} unavailable`,
      `keep at least ${replicas - maxUnavailable} of ${replicas} available throughout`,
    ],
    replicas,
    maxSurge,
    maxUnavailable,
    minDurationSeconds: waves * readySeconds(spec),
    manualSteps: false,
  };
}

function recreatePreview(spec: Obj, replicas: number): RolloutPreview {
  return {
    strategy: 'Recreate',
    steps: [`stop all old pods (downtime until new pods are ready)`, `start ${plural(replicas, 'new pod')}`],
    replicas,
    minDurationSeconds: readySeconds(spec),
    manualSteps: false,
  };
}

export function strategyName(strategy: Obj): RolloutStrategyName {
  if (strategy.canary) return 'Canary';
  if (strategy.blueGreen) return 'BlueGreen';
  return strategy.type === 'Recreate' ? 'Recreate' : 'RollingUpdate';
}

/**
 * The rollout a workload change triggers, or undefined when nothing about the pods changes.
 * A create deploys straight to the full count: like Argo Rollouts, the first deploy skips
 * canary steps.
 */
export function previewRollout(from: ManifestObject | undefined, to: ManifestObject | undefined): RolloutPreview | undefined {
  if (!to || !isWorkload(to)) return undefined;
  const spec = (to.spec ?? {}) as Obj;
  const replicas: number = spec.replicas ?? 1;
  const strategy = (spec.strategy ?? {}) as Obj;
  const fromSpec = (from?.spec ?? {}) as Obj;

  if (!from) {
    return {
      strategy: strategyName(strategy),
      steps: [`first deploy: start ${plural(replicas, 'pod')} (no steps on a first deploy)`],
      replicas,
      minDurationSeconds: readySeconds(spec),
      manualSteps: false,
    };
  }

  const templateChanged = !deepEqual(fromSpec.template, spec.template);
  if (!templateChanged) {
    const before: number = fromSpec.replicas ?? 1;
    if (before === replicas) return undefined;
    return {
      strategy: strategyName(strategy),
      steps: [`scale ${before} → ${replicas} pods (no new revision)`],
      replicas,
      manualSteps: false,
      scaleOnly: true,
    };
  }
  if (strategy.canary) return canaryPreview(spec, strategy.canary, replicas);
  if (strategy.blueGreen) return blueGreenPreview(spec, strategy.blueGreen, replicas);
  if (strategy.type === 'Recreate') return recreatePreview(spec, replicas);
  return rollingPreview(spec, replicas);
}
