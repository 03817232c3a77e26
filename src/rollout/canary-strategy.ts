// Canary, after Argo Rollouts' step semantics with traffic routing: a step machine over
// `steps`. The router splits traffic by the exact set weight, so the stable revision keeps its
// full replica count until promotion (Argo's default with a traffic router) and the canary
// runs ceil(weight x replicas / 100) pods, or what `setCanaryScale` says. State between
// passes (step, pause start, steps hash, stable revision) comes in `input.progressive` and
// `input.stepIndex` and goes out in the decision's `state` and `step`.

import { CapstanError } from '../common/index.js';
import { canaryReplicas, parseCanarySteps, parseDuration, type CanaryStep } from './canary.js';
import { finishDecision, pausedDecision } from './status.js';
import type { ExperimentSpec, HeaderRoute, MirrorRoute, ProgressiveState, StringMatch, RevisionState, RolloutDecision, RolloutInput, ScaleAction } from './types.js';

/**
 * A step that combines a canary scale with the routes it serves (Argo lets setCanaryScale,
 * setHeaderRoute and setMirrorRoute share one step).
 */
export interface RouteStep {
  setCanaryScale?: { replicas?: number; weight?: number; matchTrafficWeight?: boolean };
  setHeaderRoute?: HeaderRoute;
  setMirrorRoute?: MirrorRoute;
}

/** A parsed step: the canary helpers' steps, route steps and `experiment`. */
export type CanaryStepSpec = CanaryStep | RouteStep | { experiment: ExperimentSpec };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schemaError(message: string, field: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${field}: ${message}`, { field });
}

function stringMatchOf(v: unknown): StringMatch | undefined {
  if (!isObject(v)) return undefined;
  const out: StringMatch = {};
  if (typeof v.exact === 'string') out.exact = v.exact;
  else if (typeof v.prefix === 'string') out.prefix = v.prefix;
  else if (typeof v.regex === 'string') out.regex = v.regex;
  return out;
}

function parseMirrorRoute(v: unknown, field: string): MirrorRoute {
  if (!isObject(v) || typeof v.name !== 'string' || v.name === '') throw schemaError('needs a name', field);
  const route: MirrorRoute = { name: v.name, match: [] };
  if (v.percentage !== undefined) {
    const p = v.percentage;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 100) throw schemaError(`${JSON.stringify(p)} is not a whole percentage 0..100`, `${field}.percentage`);
    route.percentage = p;
  }
  for (const m of Array.isArray(v.match) ? v.match : []) {
    if (!isObject(m)) continue;
    const entry: MirrorRoute['match'][number] = {};
    const method = stringMatchOf(m.method);
    const path = stringMatchOf(m.path);
    if (method) entry.method = method;
    if (path) entry.path = path;
    if (isObject(m.headers)) {
      const headers: Record<string, StringMatch> = {};
      for (const [k, hv] of Object.entries(m.headers)) {
        const t = stringMatchOf(hv);
        if (t) headers[k] = t;
      }
      entry.headers = headers;
    }
    route.match.push(entry);
  }
  return route;
}

function parseExperiment(v: unknown, field: string): ExperimentSpec {
  if (!isObject(v) || !Array.isArray(v.templates) || v.templates.length === 0) throw schemaError('an experiment needs a list of templates', `${field}.templates`);
  const spec: ExperimentSpec = { templates: [], analyses: [] };
  if (v.duration !== undefined && v.duration !== null) spec.duration = parseDuration(v.duration, `${field}.duration`);
  v.templates.forEach((t, i) => {
    const f = `${field}.templates[${i}]`;
    if (!isObject(t) || typeof t.name !== 'string' || t.name === '') throw schemaError('each template needs a name', f);
    if (t.specRef !== 'stable' && t.specRef !== 'canary') throw schemaError('specRef must be stable or canary', `${f}.specRef`);
    const replicas = t.replicas === undefined ? 1 : t.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw schemaError(`${JSON.stringify(replicas)} is not a replica count`, `${f}.replicas`);
    const out: ExperimentSpec['templates'][number] = { name: t.name, specRef: t.specRef, replicas };
    if (typeof t.weight === 'number') out.weight = t.weight;
    const meta = isObject(t.metadata) ? t.metadata : {};
    if (isObject(meta.labels)) out.labels = meta.labels as Record<string, string>;
    if (isObject(meta.annotations)) out.annotations = meta.annotations as Record<string, string>;
    spec.templates.push(out);
  });
  for (const [i, a] of (Array.isArray(v.analyses) ? v.analyses : []).entries()) {
    const f = `${field}.analyses[${i}]`;
    if (!isObject(a) || typeof a.name !== 'string' || typeof a.templateName !== 'string') throw schemaError('each analysis needs a name and a templateName', f);
    const out: ExperimentSpec['analyses'][number] = { name: a.name, templateName: a.templateName };
    if (Array.isArray(a.args)) out.args = a.args.filter(isObject).map((x) => ({ name: String(x.name), value: String(x.value ?? '') }));
    if (a.requiredForCompletion === true) out.requiredForCompletion = true;
    spec.analyses.push(out);
  }
  return spec;
}

const ROUTE_KEYS = ['setCanaryScale', 'setHeaderRoute', 'setMirrorRoute'];

/** Parses the steps, route steps and experiments included; errors name the field path. */
export function parseProgressiveSteps(raw: unknown, field = 'spec.strategy.canary.steps'): CanaryStepSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return parseCanarySteps(raw, undefined, field);
  return raw.map((s, i): CanaryStepSpec => {
    const f = `${field}[${i}]`;
    if (isObject(s) && 'experiment' in s && Object.keys(s).length === 1) return { experiment: parseExperiment(s.experiment, `${f}.experiment`) };
    const keys = isObject(s) ? Object.keys(s) : [];
    const routeStep = keys.length > 0 && keys.every((k) => ROUTE_KEYS.includes(k)) && (keys.includes('setHeaderRoute') || keys.includes('setMirrorRoute'));
    if (isObject(s) && routeStep) {
      const step: RouteStep = {};
      if ('setCanaryScale' in s) {
        const parsed = parseCanarySteps([{ setCanaryScale: s.setCanaryScale }], undefined, field)[0]!;
        if ('setCanaryScale' in parsed) step.setCanaryScale = parsed.setCanaryScale;
      }
      if ('setHeaderRoute' in s) {
        const v = s.setHeaderRoute;
        if (!isObject(v) || typeof v.name !== 'string' || v.name === '') throw schemaError('needs a name', `${f}.setHeaderRoute`);
        step.setHeaderRoute = { name: v.name, match: Array.isArray(v.match) ? (v.match as HeaderRoute['match']) : [] };
      }
      if ('setMirrorRoute' in s) step.setMirrorRoute = parseMirrorRoute(s.setMirrorRoute, `${f}.setMirrorRoute`);
      return step;
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
    const c = 'setCanaryScale' in s ? s.setCanaryScale : undefined;
    if (c) override = c.replicas ?? (c.weight !== undefined ? canaryReplicas(c.weight, replicas) : undefined);
  }
  return override ?? canaryReplicas(weight, replicas);
}

/**
 * The header and mirror routes in force before step `upTo`: a later step with the same name
 * replaces a route, and one without `match` removes it (as Argo's managed routes).
 */
export function routesUpTo(steps: readonly CanaryStepSpec[], upTo: number): { headerRoutes: HeaderRoute[]; mirrorRoutes: MirrorRoute[] } {
  const headers = new Map<string, HeaderRoute>();
  const mirrors = new Map<string, MirrorRoute>();
  for (let k = 0; k < upTo && k < steps.length; k++) {
    const s = steps[k]!;
    const h = 'setHeaderRoute' in s ? s.setHeaderRoute : undefined;
    if (h) {
      headers.delete(h.name);
      if (h.match.length > 0) headers.set(h.name, h);
    }
    const m = 'setMirrorRoute' in s ? s.setMirrorRoute : undefined;
    if (m) {
      mirrors.delete(m.name);
      if (m.match.length > 0) mirrors.set(m.name, m);
    }
  }
  return { headerRoutes: [...headers.values()], mirrorRoutes: [...mirrors.values()] };
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
  let experiment: RolloutDecision['experiment'];
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
    } else if ('experiment' in s) {
      const key = `step-${index}`;
      const result = prev.experiment?.key === key ? prev.experiment : undefined;
      if (result?.phase === 'Failed' || result?.phase === 'Error') {
        analysisFailed = `Experiment at step ${index + 1}/${count} failed${result.message ? `: ${result.message}` : ''}.`;
        break;
      }
      if (result?.phase !== 'Successful') {
        experiment = { key, spec: s.experiment, revisions: { stable: stable.name, canary: n.name } };
        const inconclusive = result?.phase === 'Inconclusive';
        wait = {
          kind: 'analysis',
          message: inconclusive
            ? `Paused at step ${index + 1}/${count}: the experiment's analysis was inconclusive${result?.message ? ` (${result.message})` : ''}; promote to go on or abort.`
            : `Step ${index + 1}/${count}: running experiment ${s.experiment.templates.map((t) => t.name).join(', ')}` +
              (s.experiment.duration !== undefined ? ` for ${s.experiment.duration}s.` : ' until its analyses complete.'),
          reason: inconclusive ? 'AnalysisInconclusive' : 'RunningExperiment',
          paused: inconclusive,
        };
        break;
      }
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

  const { headerRoutes, mirrorRoutes } = routesUpTo(steps, index);
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
    ...(mirrorRoutes.length > 0 ? { mirrorRoutes } : {}),
    ...(experiment ? { experiment } : {}),
    ...(wait?.requeueAt !== undefined && !input.paused ? { requeueAt: wait.requeueAt } : {}),
    ...(analysis ? { analysis } : {}),
    ...(backgroundAnalysis ? { backgroundAnalysis } : {}),
    ...(promoteConsumed ? { promoteConsumed } : {}),
    pauseStartedAt,
  };
}
