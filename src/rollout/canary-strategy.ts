// Canary, after Argo Rollouts' step semantics with traffic routing: a step machine over
// `steps`. The router splits traffic by the exact set weight, so the stable revision keeps its
// full replica count until promotion (Argo's default with a traffic router) and the canary
// runs ceil(weight x replicas / 100) pods, or what `setCanaryScale` says. State between
// passes (step, pause start, steps hash, stable revision) comes in `input.progressive` and
// `input.stepIndex` and goes out in the decision's `state` and `step`.

import { CapstanError } from '../common/index.js';
import { canaryReplicas, parseCanarySteps, type CanaryStep } from './canary.js';
import { finishDecision, pausedDecision } from './status.js';
import type { HeaderRoute, ProgressiveState, RevisionState, RolloutDecision, RolloutInput, ScaleAction } from './types.js';

/** A parsed step: the canary helpers' steps plus `setHeaderRoute`. */
export type CanaryStepSpec = CanaryStep | { setHeaderRoute: HeaderRoute };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the steps, `setHeaderRoute` included; errors name the field path. */
export function parseProgressiveSteps(raw: unknown, field = 'spec.strategy.canary.steps'): CanaryStepSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return parseCanarySteps(raw, undefined, field);
  return raw.map((s, i) => {
    if (isObject(s) && 'setHeaderRoute' in s) {
      const v = s.setHeaderRoute;
      if (!isObject(v) || typeof v.name !== 'string' || v.name === '') {
        throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${field}[${i}].setHeaderRoute: needs a name`, { field: `${field}[${i}].setHeaderRoute` });
      }
      const match = Array.isArray(v.match) ? (v.match as HeaderRoute['match']) : [];
      return { setHeaderRoute: { name: v.name, match } };
    }
    return parseCanarySteps([s], undefined, field)[0]!;
  });
}

/** FNV-1a over the steps' JSON: a short, stable name for a step list. */
export function stepsHash(steps: readonly unknown[]): string {
  const text = JSON.stringify(steps);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The stable revision: the one kept from earlier passes if it still exists, else the newest
 * old revision that still has replicas (the first canary after a RollingUpdate history).
 */
export function stableOf(input: RolloutInput): RevisionState | undefined {
  const kept = input.progressive?.stableRevision;
  if (kept === input.newRevision.name) return input.newRevision;
  const byName = input.oldRevisions.find((r) => r.name === kept);
  if (byName && (byName.replicas > 0 || byName.pods.total > 0)) return byName;
  const live = input.oldRevisions.filter((r) => r.replicas > 0 || r.pods.available > 0);
  live.sort((a, b) => b.pods.available - a.pods.available || b.revisionNumber - a.revisionNumber);
  return live[0];
}

/** The new revision at full scale, every old one at 0: first deploys and promoted canaries. */
function fullRollout(input: RolloutInput, count: number, hash: string, extra: Partial<ProgressiveState> = {}): RolloutDecision {
  const n = input.newRevision;
  const scale: ScaleAction[] = [];
  if (n.replicas !== input.replicas) scale.push({ revision: n.name, replicas: input.replicas });
  // Old revisions go only once the new one is fully available, so traffic always has a home.
  const newReady = n.replicas === input.replicas && n.pods.available >= input.replicas;
  const olds = input.oldRevisions.filter((r) => r.replicas > 0);
  if (newReady || olds.every((r) => r.pods.available === 0)) {
    for (const r of olds) scale.push({ revision: r.name, replicas: 0 });
  }
  const switched = newReady || olds.length === 0;
  const stable = switched ? n.name : (stableOf(input)?.name ?? n.name);
  const traffic = switched ? [{ revision: n.name, weight: 100 }] : [{ revision: n.name, weight: 0 }, { revision: stable, weight: 100 }];
  return {
    ...finishDecision(input, scale, { traffic, step: { index: count, count } }),
    state: { stableRevision: stable, stepsHash: hash, weight: switched ? 100 : 0, ...extra },
    roles: { stable, canary: n.name },
  };
}

/** Canary replicas for the current weight, unless a `setCanaryScale` step overrides it. */
function canaryTarget(steps: readonly CanaryStepSpec[], upTo: number, weight: number, replicas: number): number {
  let override: number | undefined;
  for (let i = 0; i <= upTo && i < steps.length; i++) {
    const s = steps[i]!;
    if ('setCanaryScale' in s) {
      const c = s.setCanaryScale;
      override = c.replicas ?? (c.weight !== undefined ? canaryReplicas(c.weight, replicas) : undefined);
    }
  }
  return override ?? canaryReplicas(weight, replicas);
}

export function canary(input: RolloutInput): RolloutDecision {
  const raw = input.strategy.type === 'Canary' ? input.strategy.canary?.steps : undefined;
  const steps = parseProgressiveSteps(raw);
  const count = steps.length;
  const hash = stepsHash(steps);
  const prev = input.progressive ?? {};
  const n = input.newRevision;
  const stable = stableOf(input);

  // First deploy, or this revision already promoted: no steps, just the full revision.
  if (!stable || stable.name === n.name) return fullRollout(input, count, hash);

  const base = { stableRevision: stable.name, stepsHash: hash };
  const roles = { stable: stable.name, canary: n.name };
  // Revisions that are neither stable nor this canary (an overtaken canary) go straight away.
  const others: ScaleAction[] = input.oldRevisions
    .filter((r) => r.name !== stable.name && r.replicas > 0)
    .map((r) => ({ revision: r.name, replicas: 0 }));
  const keepStable: ScaleAction[] = stable.replicas < input.replicas ? [{ revision: stable.name, replicas: input.replicas }] : [];

  let index = prev.stepsHash === hash ? Math.min(input.stepIndex ?? 0, count) : 0;
  let pauseStartedAt = prev.stepsHash === hash ? (input.pauseStartedAt ?? null) : null;
  const stepOf = (i: number) => ({ index: i, count });

  if (prev.aborted) {
    const scale = [...others, ...keepStable, ...(n.replicas > 0 ? [{ revision: n.name, replicas: 0 }] : [])];
    const d = finishDecision(input, scale, {
      traffic: [{ revision: stable.name, weight: 100 }, { revision: n.name, weight: 0 }],
      step: stepOf(index),
    });
    const message = `Rollout aborted: revision "${n.name}" is pinned and receives no traffic until Git changes or the rollout is retried.`;
    return {
      ...d,
      state: { ...base, aborted: true, weight: 0 },
      roles,
      phase: 'Degraded',
      reason: 'RolloutAborted',
      message,
      conditions: [...d.conditions.filter((c) => c.type !== 'Progressing'), { type: 'Progressing', status: 'False', reason: 'RolloutAborted', message }],
      lastProgressAt: input.lastProgressAt,
    };
  }

  // A return to a recently healthy revision: no steps, no analysis, full weight once it is up.
  if (prev.fastTrack) return fullRollout(input, count, hash);

  // Background analysis (Argo's `canary.analysis`): runs from `startingStep` until promotion;
  // a failure aborts, an inconclusive result pauses until promoted.
  const bgRaw = input.strategy.type === 'Canary' ? input.strategy.canary?.analysis : undefined;
  const bgSpec = isObject(bgRaw) && Array.isArray(bgRaw.templates) ? bgRaw : undefined;
  const bgResult = prev.backgroundAnalysis?.phase;
  if (bgSpec && (bgResult === 'Failed' || bgResult === 'Error')) {
    return canary({ ...input, progressive: { ...prev, aborted: true, promote: undefined }, stepIndex: index });
  }

  let promoteConsumed = false;
  if (prev.promote === 'full') {
    index = count;
    promoteConsumed = true;
  } else if (prev.promote === 'step' && index < count) {
    index++;
    pauseStartedAt = null;
    promoteConsumed = true;
  }

  if (index >= count) {
    const d = fullRollout(input, count, hash);
    return promoteConsumed ? { ...d, promoteConsumed } : d;
  }

  // Walk the steps this pass can complete; stop at the first that must wait.
  const weightAt = (i: number): number => {
    let w = 0;
    for (let k = 0; k <= i && k < count; k++) {
      const s = steps[k]!;
      if ('setWeight' in s) w = s.setWeight;
    }
    return w;
  };
  let wait: { kind: 'scale' | 'pause' | 'analysis'; message: string; reason: string; paused: boolean; requeueAt?: number } | undefined;
  let scale: ScaleAction[] = [];
  let weight = prev.weight ?? 0;
  let analysis: RolloutDecision['analysis'];
  let analysisFailed: string | undefined;
  while (index < count) {
    const s = steps[index]!;
    const want = canaryTarget(steps, index, weightAt(index), input.replicas);
    if (n.replicas !== want) {
      scale = [{ revision: n.name, replicas: want }];
      wait = { kind: 'scale', message: `Step ${index + 1}/${count}: scaling the canary to ${want}.`, reason: 'RevisionUpdated', paused: false };
      break;
    }
    if (n.pods.available < want) {
      wait = { kind: 'scale', message: `Step ${index + 1}/${count}: waiting for ${want} canary replicas to be available (${n.pods.available} now).`, reason: 'RevisionUpdated', paused: false };
      break;
    }
    // The canary has its pods: the router may carry the weight of the steps so far.
    weight = weightAt(index);
    if ('pause' in s) {
      const started = pauseStartedAt ?? input.now;
      pauseStartedAt = started;
      const d = s.pause.duration;
      if (d === undefined) {
        wait = { kind: 'pause', message: `Paused at step ${index + 1}/${count}: waiting for promote.`, reason: 'CanaryPauseStep', paused: true };
        break;
      }
      const until = started + d * 1000;
      if (input.now < until) {
        wait = { kind: 'pause', message: `Paused at step ${index + 1}/${count} for ${d}s.`, reason: 'CanaryPauseStep', paused: true, requeueAt: until };
        break;
      }
      pauseStartedAt = null;
    } else if ('analysis' in s) {
      const result = prev.analysis && (prev.analysis.key === undefined || prev.analysis.key === `step-${index}`) ? prev.analysis.phase : undefined;
      if (result === 'Failed' || result === 'Error') {
        analysisFailed = `Analysis at step ${index + 1}/${count} failed${prev.analysis?.message ? `: ${prev.analysis.message}` : ''}.`;
        break;
      }
      if (result !== 'Successful') {
        analysis = { key: `step-${index}`, templates: s.analysis.templates.map((t) => t.templateName), ...(s.analysis.args ? { args: s.analysis.args } : {}) };
        const inconclusive = result === 'Inconclusive';
        wait = {
          kind: 'analysis',
          message: inconclusive
            ? `Paused at step ${index + 1}/${count}: analysis was inconclusive${prev.analysis?.message ? ` (${prev.analysis.message})` : ''}; promote to go on or abort.`
            : `Step ${index + 1}/${count}: running analysis ${analysis.templates.join(', ')}.`,
          reason: inconclusive ? 'AnalysisInconclusive' : 'RunningAnalysis',
          paused: inconclusive,
        };
        break;
      }
    }
    index++;
  }

  if (!wait && bgSpec && bgResult === 'Inconclusive' && !promoteConsumed && index < count) {
    wait = {
      kind: 'analysis',
      message: `Paused at step ${index + 1}/${count}: background analysis was inconclusive${prev.backgroundAnalysis?.message ? ` (${prev.backgroundAnalysis.message})` : ''}; promote to go on or abort.`,
      reason: 'AnalysisInconclusive',
      paused: true,
    };
  }
  const startingStep = bgSpec && typeof bgSpec.startingStep === 'number' ? bgSpec.startingStep : 0;
  const backgroundAnalysis =
    bgSpec && index >= startingStep && bgResult !== 'Successful'
      ? {
          key: 'background',
          templates: (bgSpec.templates as Array<{ templateName?: unknown }>).map((t) => String(t.templateName)),
          ...(Array.isArray(bgSpec.args) ? { args: bgSpec.args as Array<{ name: string; value: string }> } : {}),
        }
      : undefined;

  if (analysisFailed !== undefined) {
    // A failed analysis aborts, exactly as the operator's abort does, on the next pass.
    return canary({ ...input, progressive: { ...prev, aborted: true, promote: undefined }, stepIndex: index });
  }
  if (index >= count) {
    const d = fullRollout(input, count, hash);
    return promoteConsumed ? { ...d, promoteConsumed } : d;
  }

  const headerRoutes: HeaderRoute[] = [];
  for (let k = 0; k < index; k++) {
    const s = steps[k]!;
    if ('setHeaderRoute' in s) headerRoutes.push(s.setHeaderRoute);
  }
  const extras = {
    traffic: [
      { revision: n.name, weight },
      { revision: stable.name, weight: 100 - weight },
    ],
    step: stepOf(index),
  };
  const all = [...others, ...keepStable, ...scale];
  const paused = input.paused || wait?.paused === true;
  let d: RolloutDecision;
  if (paused && all.length === 0) {
    d = pausedDecision(input, extras);
    if (!input.paused && wait) d = { ...d, reason: wait.reason, message: wait.message };
  } else {
    d = finishDecision(input, all, extras);
    if (wait && d.phase === 'Progressing') d = { ...d, message: wait.message };
  }
  return {
    ...d,
    state: { ...base, weight },
    roles,
    ...(headerRoutes.length > 0 ? { headerRoutes } : {}),
    ...(wait?.requeueAt !== undefined && !input.paused ? { requeueAt: wait.requeueAt } : {}),
    ...(analysis ? { analysis } : {}),
    ...(backgroundAnalysis ? { backgroundAnalysis } : {}),
    ...(promoteConsumed ? { promoteConsumed } : {}),
    pauseStartedAt,
  };
}
