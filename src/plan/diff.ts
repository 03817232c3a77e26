// Field-level differences between two versions of an object. Both sides are compared after
// normalisation (defaults applied by validation, Capstan's own annotations removed), so key
// order, defaults and status annotations never show up as changes.

import { CAPSTAN_ANNOTATION_PREFIX, type ManifestObject } from '../api/types.js';
import type { FieldChange } from './types.js';
import { MANIFEST_COPY_ANNOTATIONS, SECRET_MASK } from '../server/redact.js';

type Json = unknown;

/** Placeholder shown instead of secret data. */
export const SENSITIVE = '(sensitive value)';

/** A copy without what must never count as a change: capstan.dev/* annotations and status. */
export function normalizeForDiff(object: ManifestObject): ManifestObject {
  const { status: _status, ...rest } = object as ManifestObject & { status?: unknown };
  const metadata = { ...object.metadata };
  if (metadata.annotations) {
    const kept = Object.entries(metadata.annotations).filter(([k]) => !k.startsWith(CAPSTAN_ANNOTATION_PREFIX));
    if (kept.length > 0) metadata.annotations = Object.fromEntries(kept);
    else delete metadata.annotations;
  }
  return { ...rest, metadata };
}

function isPlainObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function joinKey(path: string, key: string): string {
  const safe = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return safe;
  return safe.startsWith('"') ? `${path}[${safe}]` : `${path}.${safe}`;
}

/** Keyed by `name` when every item is an object with a unique string name (containers, ports, env). */
function namedItems(list: Json[]): Map<string, number> | undefined {
  const byName = new Map<string, number>();
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!isPlainObject(item) || typeof item.name !== 'string' || byName.has(item.name)) return undefined;
    byName.set(item.name, i);
  }
  return byName;
}

function diffValues(from: Json, to: Json, path: string, out: FieldChange[]): void {
  if (from === to) return;
  if (isPlainObject(from) && isPlainObject(to)) {
    const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
    for (const key of [...keys].sort()) {
      const p = joinKey(path, key);
      if (!(key in to)) out.push({ path: p, from: from[key] });
      else if (!(key in from)) out.push({ path: p, to: to[key] });
      else diffValues(from[key], to[key], p, out);
    }
    return;
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    diffArrays(from, to, path, out);
    return;
  }
  if (from === undefined) out.push({ path, to });
  else if (to === undefined) out.push({ path, from });
  else out.push({ path, from, to });
}

function diffArrays(from: Json[], to: Json[], path: string, out: FieldChange[]): void {
  const fromNames = namedItems(from);
  const toNames = namedItems(to);
  if (fromNames && toNames && from.length > 0 && to.length > 0) {
    // Match list items by name, as Kubernetes' strategic merge does for containers and ports,
    // so inserting one item does not show every later item as changed.
    to.forEach((item, i) => {
      const j = fromNames.get((item as { name: string }).name);
      const p = `${path}[${i}]`;
      if (j === undefined) out.push({ path: p, to: item });
      else diffValues(from[j], item, p, out);
    });
    from.forEach((item, j) => {
      if (!toNames.has((item as { name: string }).name)) out.push({ path: `${path}[${j}]`, from: item });
    });
    return;
  }
  const n = Math.max(from.length, to.length);
  for (let i = 0; i < n; i++) {
    const p = `${path}[${i}]`;
    if (i >= to.length) out.push({ path: p, from: from[i] });
    else if (i >= from.length) out.push({ path: p, to: to[i] });
    else diffValues(from[i], to[i], p, out);
  }
}

/** A Secret's annotations that copy the whole manifest, as they appear in a path. */
const COPY_PATHS = MANIFEST_COPY_ANNOTATIONS.map((a) => joinKey('metadata.annotations', a));

function isSensitivePath(kind: string, path: string): boolean {
  return kind === 'Secret' && (/^(data|stringData)\b/.test(path) || COPY_PATHS.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)));
}

/** `metadata` or `metadata.annotations` of a Secret shown whole (create, delete, first annotations): manifest copies hidden. */
function hideCopies(kind: string, path: string, value: Json): Json {
  if (kind !== 'Secret' || !isPlainObject(value)) return value;
  if (path === 'metadata') return isPlainObject(value.annotations) ? { ...value, annotations: hideCopies(kind, 'metadata.annotations', value.annotations) } : value;
  if (path !== 'metadata.annotations') return value;
  const out = { ...value };
  for (const a of MANIFEST_COPY_ANNOTATIONS) if (a in out) out[a] = SENSITIVE;
  return out;
}

function hideCopiesIn(kind: string, change: FieldChange): FieldChange {
  const out: FieldChange = { ...change };
  if ('from' in change) out.from = hideCopies(kind, change.path, change.from);
  if ('to' in change) out.to = hideCopies(kind, change.path, change.to);
  return out;
}

function redact(change: FieldChange): FieldChange {
  const out: FieldChange = { path: change.path, sensitive: true };
  if ('from' in change) out.from = SENSITIVE;
  if ('to' in change) out.to = SENSITIVE;
  return out;
}

/**
 * A Secret read from a server has every value masked (src/server/redact.ts). Such a value
 * cannot be compared: where the current side holds the mask, the desired side's value is
 * taken as the same, so only added and removed keys show as changes.
 */
function withMaskedLikeCurrent(current: ManifestObject | undefined, desired: ManifestObject): ManifestObject {
  if (!current || current.kind !== 'Secret' || desired.kind !== 'Secret') return desired;
  const out = { ...desired } as Record<string, Json>;
  for (const field of ['data', 'stringData']) {
    const have = (current as Record<string, Json>)[field];
    const want = out[field];
    if (!isPlainObject(have) || !isPlainObject(want)) continue;
    const masked = Object.keys(want).filter((k) => have[k] === SECRET_MASK);
    if (masked.length > 0) out[field] = { ...want, ...Object.fromEntries(masked.map((k) => [k, SECRET_MASK])) };
  }
  const haveNotes = current.metadata.annotations ?? {};
  const wantNotes = desired.metadata.annotations;
  const maskedNotes = MANIFEST_COPY_ANNOTATIONS.filter((a) => wantNotes?.[a] !== undefined && haveNotes[a] === SECRET_MASK);
  if (wantNotes && maskedNotes.length > 0) {
    out.metadata = { ...desired.metadata, annotations: { ...wantNotes, ...Object.fromEntries(maskedNotes.map((a) => [a, SECRET_MASK])) } };
  }
  return out as ManifestObject;
}

/**
 * Field changes from `from` to `to` (either may be undefined: create or delete). Secret data
 * is compared but never shown.
 */
export function diffObjects(from: ManifestObject | undefined, to: ManifestObject | undefined): FieldChange[] {
  const a = from ? normalizeForDiff(from) : undefined;
  const b = to ? withMaskedLikeCurrent(a, normalizeForDiff(to)) : undefined;
  const kind = (b ?? a)?.kind ?? '';
  const out: FieldChange[] = [];
  if (a && b) {
    diffValues(a, b, '', out);
  } else {
    // A create or delete lists the object's top-level spec fields, not every leaf.
    const only = (a ?? b) as Record<string, Json>;
    for (const key of Object.keys(only).sort()) {
      if (key === 'apiVersion' || key === 'kind') continue;
      out.push(a ? { path: key, from: only[key] } : { path: key, to: only[key] });
    }
  }
  return out.map((c) => (isSensitivePath(kind, c.path) ? redact(c) : hideCopiesIn(kind, c)));
}

/** Structural equality of JSON data; key order does not matter. */
export function deepEqual(a: Json, b: Json): boolean {
  const out: FieldChange[] = [];
  diffValues(a, b, '', out);
  return out.length === 0;
}
