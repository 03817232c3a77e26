import { createHash } from 'node:crypto';
import type { Context, Liquid } from 'liquidjs';

/** What liquidjs binds `this` to in a filter. */
export interface FilterImpl {
  context: Context;
  liquid: Liquid;
}
import { stringify as yamlStringify } from 'yaml';

// Helm's most used functions as liquidjs filters. All are pure: no clock, no files, no network.
// Each charges liquidjs' memory limiter for what it allocates, so a filter cannot blow up memory.

type Handler = (this: FilterImpl, value: unknown, ...args: unknown[]) => unknown;

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function charge(ctx: FilterImpl, s: string): string {
  ctx.context.memoryLimit.use(s.length);
  return s;
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

function indentLines(s: string, n: number): string {
  const pad = ' '.repeat(Math.max(0, Math.min(Math.trunc(n), 1000)));
  // Empty lines stay empty so the output has no trailing spaces.
  return s
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

function toNumber(v: unknown, fallback: number): number {
  const n = typeof v === 'number' ? v : Number(str(v));
  return Number.isFinite(n) ? n : fallback;
}

export const HELM_FILTERS: Record<string, Handler> = {
  /** `{{ values.image | required: "image is required" }}`: stops the render with the message. */
  required(v, message) {
    if (v === null || v === undefined || v === '') throw new Error(message === undefined ? 'a required value is missing' : str(message));
    return v;
  },
  /** `{{ "unsupported strategy" | fail }}` */
  fail(v) {
    throw new Error(str(v) || 'the chart failed the render');
  },
  quote(v) {
    return charge(this, JSON.stringify(str(v)));
  },
  squote(v) {
    return charge(this, `'${str(v).replace(/'/g, "''")}'`);
  },
  toYaml(v) {
    if (v === undefined || v === null) return 'null';
    const out = yamlStringify(v, { lineWidth: 0, aliasDuplicateObjects: false }).replace(/\n$/, '');
    return charge(this, out);
  },
  toJson(v) {
    return charge(this, JSON.stringify(v ?? null));
  },
  indent(v, n) {
    return charge(this, indentLines(str(v), toNumber(n, 0)));
  },
  nindent(v, n) {
    return charge(this, '\n' + indentLines(str(v), toNumber(n, 0)));
  },
  b64enc(v) {
    return charge(this, Buffer.from(str(v), 'utf8').toString('base64'));
  },
  b64dec(v) {
    return charge(this, Buffer.from(str(v), 'base64').toString('utf8'));
  },
  sha256sum(v) {
    return createHash('sha256').update(str(v), 'utf8').digest('hex');
  },
  lower(v) {
    return str(v).toLowerCase();
  },
  upper(v) {
    return str(v).toUpperCase();
  },
  title(v) {
    return str(v).replace(/\b\w/g, (c) => c.toUpperCase());
  },
  /** Helm's trunc: the first n characters, or the last -n. */
  trunc(v, n) {
    const s = str(v);
    const k = Math.trunc(toNumber(n, s.length));
    return k >= 0 ? s.slice(0, k) : s.slice(Math.max(0, s.length + k));
  },
  trimSuffix(v, suffix) {
    const s = str(v);
    const x = str(suffix);
    return x !== '' && s.endsWith(x) ? s.slice(0, s.length - x.length) : s;
  },
  trimPrefix(v, prefix) {
    const s = str(v);
    const x = str(prefix);
    return x !== '' && s.startsWith(x) ? s.slice(x.length) : s;
  },
  toString(v: unknown) {
    return str(v);
  },
  int(v) {
    return Math.trunc(toNumber(v, 0));
  },
  float(v) {
    return toNumber(v, 0);
  },
  /** `{{ values.debug | ternary: "on", "off" }}` */
  ternary(v, a, b) {
    return isEmpty(v) ? b : a;
  },
  /** Helm's `empty`, as a value usable after assign: `{% assign none = values.env | empty %}`. */
  empty(v) {
    return isEmpty(v);
  },
  keys(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
    const k = Object.keys(v as object).sort();
    this.context.memoryLimit.use(k.length);
    return k;
  },
  /** A mapping as a sorted list of { key, value }, for loops in a stable order. */
  entries(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
    const out = Object.keys(v as object)
      .sort()
      .map((key) => ({ key, value: (v as Record<string, unknown>)[key] }));
    this.context.memoryLimit.use(out.length);
    return out;
  },
  /** Disabled: a render must not depend on the clock, or every plan would show a change. */
  date() {
    throw new Error('the date filter is not available in charts: renders must not depend on the clock');
  },
};
