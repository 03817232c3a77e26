// Kubernetes quantities and Argo-style durations, as plain numbers for the scheduler and
// the rollout controller.

import { CapstanError } from '../common/index.js';

const QUANTITY = /^([+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a quantity in base units (cores or bytes), or undefined when malformed. */
export function quantityValue(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? q : undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const base = Number(m[1]);
  const scale = suffix.startsWith('e') || suffix.startsWith('E') ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  return base * scale;
}

/**
 * A resource quantity as an integer: cpu in millicores (`"500m"` → 500, `1` → 1000),
 * memory in bytes (`"128Mi"` → 134217728). Rounds up, as Kubernetes does for requests.
 */
export function parseQuantity(q: string | number, resource: 'cpu' | 'memory'): number {
  const v = quantityValue(q);
  if (v === undefined) {
    throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `"${String(q)}" is not a Kubernetes quantity`, { context: { resource } });
  }
  // Round away float noise first (0.1 * 1000 = 100.00000000000001) before rounding up.
  const scaled = resource === 'cpu' ? v * 1000 : v;
  return Math.ceil(Number(scaled.toPrecision(12)));
}

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Seconds in a duration: a number (seconds), a digit string (seconds), or `30s`, `5m`, `1h30m`, `500ms`. */
export function parseDuration(d: string | number): number {
  if (typeof d === 'number') {
    if (Number.isFinite(d) && d >= 0) return d;
  } else if (/^[0-9]+$/.test(d)) {
    return Number(d);
  } else if (DURATION.test(d)) {
    let total = 0;
    for (const m of d.matchAll(DURATION_PART)) total += Number(m[1]) * UNIT[m[2]];
    return total;
  }
  throw new CapstanError('CAPSTAN_ERR_API_SCHEMA', `"${String(d)}" is not a duration (use seconds, or 30s, 5m, 1h)`);
}
