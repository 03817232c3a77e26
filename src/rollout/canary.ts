// Canary helpers: step parsing (Argo Rollouts' `steps` list) and replica arithmetic.

import { CapstanError } from '../common/index.js';
import type { SourceLocation } from '../common/index.js';

export type CanaryStep =
  | { setWeight: number }
  /** No duration = wait until promoted. */
  | { pause: { duration?: number } }
  | { setCanaryScale: { replicas?: number; weight?: number; matchTrafficWeight?: boolean } }
  | { analysis: { templates: Array<{ templateName: string }>; args?: Array<{ name: string; value: string }> } };

/** Canary replicas for a traffic weight: ceil(weight x replicas / 100), in integer arithmetic. */
export function canaryReplicas(weight: number, replicas: number): number {
  const w = Math.min(100, Math.max(0, weight));
  return Math.ceil((w * replicas) / 100);
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

function fail(message: string, field: string, location?: SourceLocation): CapstanError {
  return new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${field}: ${message}`, { field, location });
}

/** A duration in seconds: a bare number (seconds), "30", "30s", "5m" or "1h". */
export function parseDuration(value: unknown, field = 'duration', location?: SourceLocation): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
    throw fail(`${value} is not a whole number of seconds`, field, location);
  }
  if (typeof value === 'string') {
    const m = /^(\d+)([smh]?)$/.exec(value.trim());
    if (m) return Number(m[1]) * (m[2] ? UNIT_SECONDS[m[2]] : 1);
  }
  throw fail(`${JSON.stringify(value)} is not a duration like 30, "30s", "5m" or "1h"`, field, location);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function percent(v: unknown, field: string, location?: SourceLocation): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 100) return v;
  throw fail(`${JSON.stringify(v)} is not a whole percentage 0..100`, field, location);
}

function parseStep(raw: unknown, field: string, location?: SourceLocation): CanaryStep {
  if (!isObject(raw)) throw fail('a step must be a mapping', field, location);
  const keys = Object.keys(raw);
  if (keys.length !== 1) throw fail(`a step has exactly one of setWeight, pause, setCanaryScale, analysis; got ${keys.join(', ') || 'none'}`, field, location);
  const key = keys[0];
  const v = raw[key];
  const f = `${field}.${key}`;
  switch (key) {
    case 'setWeight':
      return { setWeight: percent(v, f, location) };
    case 'pause': {
      if (v === null || v === undefined) return { pause: {} };
      if (!isObject(v)) throw fail('pause takes {} or {duration}', f, location);
      if (v.duration === undefined || v.duration === null) return { pause: {} };
      return { pause: { duration: parseDuration(v.duration, `${f}.duration`, location) } };
    }
    case 'setCanaryScale': {
      if (!isObject(v)) throw fail('setCanaryScale takes {replicas}, {weight} or {matchTrafficWeight: true}', f, location);
      const set = Object.keys(v).filter((k) => v[k] !== undefined);
      if (set.length !== 1) throw fail('setCanaryScale takes exactly one of replicas, weight, matchTrafficWeight', f, location);
      if (v.replicas !== undefined) {
        if (typeof v.replicas === 'number' && Number.isInteger(v.replicas) && v.replicas >= 0) return { setCanaryScale: { replicas: v.replicas } };
        throw fail(`${JSON.stringify(v.replicas)} is not a replica count`, `${f}.replicas`, location);
      }
      if (v.weight !== undefined) return { setCanaryScale: { weight: percent(v.weight, `${f}.weight`, location) } };
      if (v.matchTrafficWeight === true) return { setCanaryScale: { matchTrafficWeight: true } };
      throw fail('matchTrafficWeight must be true when given', `${f}.matchTrafficWeight`, location);
    }
    case 'analysis': {
      const templates = isObject(v) ? v.templates : undefined;
      if (!Array.isArray(templates) || templates.length === 0) throw fail('analysis needs a list of templates', `${f}.templates`, location);
      const names = templates.map((t, i) => {
        if (isObject(t) && typeof t.templateName === 'string' && t.templateName !== '') return { templateName: t.templateName };
        throw fail('each template needs a templateName', `${f}.templates[${i}]`, location);
      });
      const args = isObject(v) && Array.isArray(v.args) ? v.args : undefined;
      const step: CanaryStep = { analysis: { templates: names } };
      if (args) {
        step.analysis.args = args.map((a, i) => {
          if (isObject(a) && typeof a.name === 'string') return { name: a.name, value: String(a.value ?? '') };
          throw fail('each arg needs a name', `${f}.args[${i}]`, location);
        });
      }
      return step;
    }
    default:
      throw fail(`unknown step ${JSON.stringify(key)}`, field, location);
  }
}

/**
 * Parses `spec.strategy.canary.steps`. Errors name the field path; pass `location` (the
 * manifest position of the steps) so they can be reported as file:line:col.
 */
export function parseCanarySteps(raw: unknown, location?: SourceLocation, field = 'spec.strategy.canary.steps'): CanaryStep[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw fail('steps must be a list', field, location);
  return raw.map((s, i) => parseStep(s, `${field}[${i}]`, location));
}
