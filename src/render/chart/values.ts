import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { CapstanError } from '../../common/index.js';
import type { FieldPath, Position } from '../types.js';
import type { ValuesSource } from './types.js';

// Keys that could reach Object.prototype through a merge; values are plain data, never these.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `a.b[0].c` for messages. */
export function formatPath(path: FieldPath): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) s += s === '' ? p : `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}

/**
 * Parse a YAML values file into a source that can locate its values. Syntax errors, duplicate
 * keys and documents that are not a mapping become CAPSTAN_ERR_CHART_VALUES errors with a line.
 */
export function parseValuesYaml(file: string, text: string): ValuesSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `${file} is not valid YAML: ${first.message.split('\n')[0]}`, {
      location: { file, line: pos.line, column: pos.col },
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `${file}: ${(err as Error).message}`, { cause: err, location: { file } });
  }
  if (data === null || data === undefined) data = {};
  if (!isPlainObject(data)) {
    throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `${file} must hold a mapping of values`, { location: { file, line: 1, column: 1 } });
  }
  const clean = sanitize(data, file, []) as Record<string, unknown>;
  const locate = (path: FieldPath): Position | undefined => {
    let node: unknown = doc.contents;
    for (const seg of path) {
      if (isMap(node)) node = node.get(seg, true);
      else if (isSeq(node) && typeof seg === 'number') node = node.get(seg, true);
      else return undefined;
      if (node === undefined) return undefined;
    }
    const range = (node as Node | null)?.range;
    if (!range) return undefined;
    // Point at the key when the value is a mapping entry, which is what a reader looks for.
    const p = lineCounter.linePos(keyOffset(doc.contents, path) ?? range[0]);
    return { line: p.line, column: p.col };
  };
  return { file, data: clean, locate };
}

function keyOffset(root: unknown, path: FieldPath): number | undefined {
  if (path.length === 0) return undefined;
  let node: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (isMap(node) || isSeq(node)) node = node.get(path[i], true);
    else return undefined;
  }
  if (!isMap(node)) return undefined;
  const last = path[path.length - 1];
  const pair = node.items.find((it) => isScalar(it.key) && it.key.value === last);
  const key = pair?.key as Node | undefined;
  return key?.range?.[0];
}

/** Copy plain data, refusing prototype keys and non-JSON values. */
export function sanitize(v: unknown, file: string, path: FieldPath): unknown {
  if (Array.isArray(v)) return v.map((x, i) => sanitize(x, file, [...path, i]));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (FORBIDDEN_KEYS.has(k)) {
        throw new CapstanError('CAPSTAN_ERR_CHART_VALUES', `${formatPath([...path, k])}: the key ${k} is not allowed in values`, {
          location: { file },
          field: formatPath([...path, k]),
        });
      }
      out[k] = sanitize(x, file, [...path, k]);
    }
    return out;
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/**
 * Helm's coalescing: mappings merge key by key, anything else is replaced, and a null in the
 * override removes the key.
 */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (FORBIDDEN_KEYS.has(k)) continue;
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(out[k])) out[k] = mergeValues(out[k] as Record<string, unknown>, v);
    else out[k] = v;
  }
  return out;
}

/** Source view of `spec.values` in a manifest (or any object without positions). */
export function inlineSource(file: string, data: Record<string, unknown>, locate?: (p: FieldPath) => Position | undefined): ValuesSource {
  return { file, data: sanitize(data, file, []) as Record<string, unknown>, locate: (p) => locate?.(p) };
}

/** The same source seen from a sub-chart: its values are the parent's `values.<name>`. */
export function scopeSource(src: ValuesSource, name: string): ValuesSource {
  const sub = src.data[name];
  return {
    file: src.file,
    data: isPlainObject(sub) ? sub : {},
    locate: (p) => src.locate([name, ...p]),
  };
}

export function hasPath(data: unknown, path: FieldPath): boolean {
  let node = data;
  for (const seg of path) {
    if (Array.isArray(node) && typeof seg === 'number') {
      if (seg >= node.length) return false;
      node = node[seg];
    } else if (isPlainObject(node) && typeof seg === 'string') {
      if (!Object.prototype.hasOwnProperty.call(node, seg)) return false;
      node = node[seg];
    } else return false;
  }
  return true;
}
