// Kubernetes Deployment arithmetic: maxSurge percentages round up, maxUnavailable round down,
// and when both resolve to 0 maxUnavailable becomes 1 (surge might be blocked by quota, and a
// rollout that can neither add nor remove a pod would never move).

import { CapstanError } from '../common/index.js';
import type { IntOrPercent, RollingUpdateParams, StrategySpec } from './types.js';

export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';

const FIELD = 'spec.strategy.rollingUpdate';

/** Kubernetes `GetScaledValueFromIntOrPercent`, in integer arithmetic so 25% of 10 is exactly 2.5. */
export function scaledValue(value: IntOrPercent, total: number, roundUp: boolean, field = FIELD): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) {
      throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${field}: ${value} is not a non-negative integer`, { field });
    }
    return value;
  }
  const m = /^(\d+)%$/.exec(value);
  if (!m) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${field}: ${JSON.stringify(value)} is not an integer or a percentage like "25%"`, {
      field,
    });
  }
  const scaled = Number(m[1]) * total;
  return roundUp ? Math.ceil(scaled / 100) : Math.floor(scaled / 100);
}

/** Kubernetes `ResolveFenceposts`: the surge and unavailability limits for `replicas`. */
export function resolveFenceposts(
  maxSurge: IntOrPercent | undefined,
  maxUnavailable: IntOrPercent | undefined,
  replicas: number,
): { maxSurge: number; maxUnavailable: number } {
  const surge = scaledValue(maxSurge ?? DEFAULT_MAX_SURGE, replicas, true, `${FIELD}.maxSurge`);
  let unavailable = scaledValue(maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, replicas, false, `${FIELD}.maxUnavailable`);
  if (typeof maxUnavailable === 'string' && Number(maxUnavailable.slice(0, -1)) > 100) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `${FIELD}.maxUnavailable: ${maxUnavailable} is over 100%`, {
      field: `${FIELD}.maxUnavailable`,
    });
  }
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: unavailable };
}

function params(strategy: StrategySpec): RollingUpdateParams | null {
  return strategy.type === 'RollingUpdate' ? (strategy.rollingUpdate ?? {}) : null;
}

/** Kubernetes `MaxUnavailable(deployment)`: 0 unless rolling, and never more than replicas. */
export function maxUnavailableFor(strategy: StrategySpec, replicas: number): number {
  const p = params(strategy);
  if (p === null || replicas === 0) return 0;
  return Math.min(resolveFenceposts(p.maxSurge, p.maxUnavailable, replicas).maxUnavailable, replicas);
}

/** Kubernetes `MaxSurge(deployment)`: 0 unless rolling. */
export function maxSurgeFor(strategy: StrategySpec, replicas: number): number {
  const p = params(strategy);
  if (p === null) return 0;
  return resolveFenceposts(p.maxSurge, p.maxUnavailable, replicas).maxSurge;
}

/** `resolveFenceposts` with replicas first, for callers that read a spec's rollingUpdate block. */
export function resolveRollingParams(
  replicas: number,
  maxSurge: IntOrPercent | undefined,
  maxUnavailable: IntOrPercent | undefined,
): { maxSurge: number; maxUnavailable: number } {
  return resolveFenceposts(maxSurge, maxUnavailable, replicas);
}
