import { CapstanError } from '../../common/index.js';
import { isPlainObject } from './values.js';

// Helm refuses list indexes above this, so `--set a[999999999]=x` cannot allocate gigabytes.
const MAX_INDEX = 65536;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function fail(expr: string, why: string): never {
  throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `--set ${expr}: ${why}`, { location: { file: '--set' } });
}

/** Helm's typing of --set values: true/false/null and integers without a leading zero. */
function typed(raw: string, asString: boolean): unknown {
  if (asString) return raw;
  if (/^true$/i.test(raw)) return true;
  if (/^false$/i.test(raw)) return false;
  if (/^null$/i.test(raw)) return null;
  if (raw === '0') return 0;
  if (/^-?[1-9][0-9]*$/.test(raw)) {
    const n = Number(raw);
    if (Number.isSafeInteger(n)) return n;
  }
  return raw;
}

/** Split on an unescaped separator outside `{...}`; escapes are kept for the next step. */
function splitTop(s: string, sepChar: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    if (c === sepChar && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

type Seg = string | number;

function parseKey(expr: string, key: string): Seg[] {
  const segs: Seg[] = [];
  let cur = '';
  let i = 0;
  const pushName = (): void => {
    if (cur === '') fail(expr, `empty key segment in ${JSON.stringify(key)}`);
    if (FORBIDDEN_KEYS.has(cur)) fail(expr, `the key ${cur} is not allowed`);
    segs.push(cur);
    cur = '';
  };
  while (i < key.length) {
    const c = key[i];
    if (c === '\\' && i + 1 < key.length) {
      cur += key[i + 1];
      i += 2;
    } else if (c === '.') {
      if (cur !== '') pushName();
      else if (segs.length === 0 || typeof segs[segs.length - 1] !== 'number') fail(expr, `empty key segment in ${JSON.stringify(key)}`);
      i++;
    } else if (c === '[') {
      if (cur !== '') pushName();
      const end = key.indexOf(']', i);
      if (end < 0) fail(expr, 'missing ]');
      const idx = key.slice(i + 1, end);
      if (!/^[0-9]+$/.test(idx)) fail(expr, `list index ${JSON.stringify(idx)} is not a number`);
      const n = Number(idx);
      if (n > MAX_INDEX) fail(expr, `list index ${n} is over ${MAX_INDEX}`);
      if (segs.length === 0) fail(expr, 'a key must start with a name');
      segs.push(n);
      i = end + 1;
    } else {
      cur += c;
      i++;
    }
  }
  if (cur !== '') pushName();
  if (segs.length === 0) fail(expr, 'missing key');
  return segs;
}

function assign(root: Record<string, unknown>, segs: Seg[], value: unknown): void {
  let node: unknown = root;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    const next = segs[i + 1];
    const fresh = (): unknown => (typeof next === 'number' ? [] : {});
    if (typeof seg === 'number') {
      const arr = node as unknown[];
      while (arr.length < seg) arr.push(null);
      if (last) arr[seg] = value;
      else {
        const ok = typeof next === 'number' ? Array.isArray(arr[seg]) : isPlainObject(arr[seg]);
        if (!ok) arr[seg] = fresh();
        node = arr[seg];
      }
    } else {
      const obj = node as Record<string, unknown>;
      if (last) obj[seg] = value;
      else {
        const ok = typeof next === 'number' ? Array.isArray(obj[seg]) : isPlainObject(obj[seg]);
        if (!ok) obj[seg] = fresh();
        node = obj[seg];
      }
    }
  }
}

/**
 * Parse Helm-style `--set` expressions: `a.b=c,d[0]=e,list={x,y}`, `\,` and `\.` escape.
 * Later assignments win; the result merges over the other values.
 */
export function parseSetValues(exprs: readonly string[], asString = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const expr of exprs) {
    for (const pair of splitTop(expr, ',')) {
      if (pair === '') continue;
      const eq = findUnescaped(pair, '=');
      if (eq < 0) fail(expr, `${JSON.stringify(pair)} is not key=value`);
      const segs = parseKey(expr, pair.slice(0, eq));
      const rawValue = pair.slice(eq + 1);
      let value: unknown;
      if (rawValue.startsWith('{') && rawValue.endsWith('}')) {
        const inner = rawValue.slice(1, -1);
        value = inner === '' ? [] : splitTop(inner, ',').map((x) => typed(unescape(x), asString));
      } else value = typed(unescape(rawValue), asString);
      assign(out, segs, value);
    }
  }
  return out;
}

function findUnescaped(s: string, ch: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ch) return i;
  }
  return -1;
}
