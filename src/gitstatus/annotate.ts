// Annotations edited in place: the file is parsed with source ranges, and only the text of the
// annotation entries is spliced in or out. Nothing is re-serialised, so comments, key order,
// quoting, indentation, blank lines, other documents and CRLF line endings stay byte-for-byte.
// JSON is YAML's flow style, so the same ranges work for `.json` files.

import { isMap, isScalar, isSeq, parseAllDocuments, stringify, type Document, type Pair, type YAMLMap } from 'yaml';
import { CapstanError } from '../common/index.js';

type AnyPair = Pair<unknown, unknown>;
type AnyMap = YAMLMap<unknown, unknown>;

interface Edit {
  start: number;
  end: number;
  text: string;
}

interface Ctx {
  text: string;
  file: string;
  json: boolean;
  eol: string;
}

const PARSE_OPTIONS = { version: '1.2', schema: 'core', keepSourceTokens: true, uniqueKeys: false } as const;

function parseDocs(text: string, file: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, PARSE_OPTIONS);
  if (!Array.isArray(docs)) return [];
  const bad = docs.find((d) => d.errors.length > 0);
  if (bad) {
    throw new CapstanError('CAPSTAN_ERR_RENDER_SYNTAX', `${file} is not valid YAML or JSON; annotations were not written`, {
      location: { file },
      cause: new Error(bad.errors[0]!.code),
    });
  }
  return docs;
}

/** The object's mapping: the document root, or `items[item]` of a `kind: List`. */
function objectMap(docs: Document.Parsed[], file: string, docIndex: number, item?: number): AnyMap {
  const doc = docs[docIndex];
  let root: unknown = doc?.contents;
  if (item !== undefined && isMap(root)) {
    const items = root.get('items', true);
    root = isSeq(items) ? items.items[item] : undefined;
  }
  if (!isMap(root)) {
    throw new CapstanError('CAPSTAN_ERR_RENDER_NOT_OBJECT', `${file} has no object at document ${docIndex}${item === undefined ? '' : ` item ${item}`}`, {
      location: { file },
      context: { file, docIndex, item },
    });
  }
  return root as AnyMap;
}

function findPair(map: AnyMap, key: string): AnyPair | undefined {
  return map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
}

function range(node: unknown): [number, number, number] {
  return (node as { range: [number, number, number] }).range;
}

/** Offset just after the line holding `offset - 1` (the end of a pair's content). */
function afterLine(text: string, end: number): number {
  if (end > 0 && text[end - 1] === '\n') return end;
  const nl = text.indexOf('\n', end);
  return nl < 0 ? text.length : nl + 1;
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

/** Where a pair's text ends: after its value, or after its key when the value is empty. */
function pairEnd(p: AnyPair): number {
  const v = p.value as unknown;
  if (v && (v as { range?: unknown }).range) return range(v)[1];
  return range(p.key)[1];
}

function scalarText(value: string, ctx: Ctx): string {
  // JSON.stringify is both valid JSON and a valid YAML double-quoted scalar.
  if (ctx.json) return JSON.stringify(value);
  return stringify(value, { defaultStringType: 'QUOTE_DOUBLE', lineWidth: 0 }).replace(/\n$/, '');
}

function keyText(key: string, ctx: Ctx): string {
  if (ctx.json) return JSON.stringify(key);
  return stringify(key, { lineWidth: 0 }).replace(/\n$/, '');
}

function entryText(key: string, value: string, ctx: Ctx): string {
  return `${keyText(key, ctx)}: ${scalarText(value, ctx)}`;
}

/** Current value of an annotation, as a string, when it is a scalar. */
function scalarValue(p: AnyPair): string | undefined {
  const v = p.value as unknown;
  if (!isScalar(v) || v.value === null || v.value === undefined) return undefined;
  return String(v.value);
}

function indentUnit(ctx: Ctx, map: AnyMap, fallbackParentCol: number): number {
  const first = map.items[0];
  if (!first) return 2;
  const unit = column(ctx.text, range(first.key)[0]) - fallbackParentCol;
  return unit > 0 ? unit : 2;
}

/** Entries of a block mapping, one per line at `indent`, each ending with the line break. */
function blockLines(entries: [string, string][], indent: number, ctx: Ctx): string {
  return entries.map(([k, v]) => `${' '.repeat(indent)}${entryText(k, v, ctx)}${ctx.eol}`).join('');
}

/** Text to add `entries` at the end of a flow mapping that has at least one pair. */
function flowAppend(map: AnyMap, entries: [string, string][], ctx: Ctx, render: (k: string, v: string) => string): Edit {
  const last = map.items[map.items.length - 1]!;
  const at = pairEnd(last);
  const multiLine = ctx.text.slice(range(map)[0], range(map)[1]).includes('\n');
  const col = column(ctx.text, range(last.key)[0]);
  const sep = multiLine ? `,${ctx.eol}${' '.repeat(col)}` : ', ';
  return { start: at, end: at, text: entries.map(([k, v]) => `${sep}${render(k, v)}`).join('') };
}

function flowMapText(entries: [string, string][], ctx: Ctx): string {
  return `{${entries.map(([k, v]) => entryText(k, v, ctx)).join(', ')}}`;
}

/** Edits that set or remove keys in an existing `annotations` mapping. */
function editAnnotations(ann: AnyMap, annPair: AnyPair, want: Record<string, string | undefined>, ctx: Ctx): Edit[] {
  const edits: Edit[] = [];
  const added: [string, string][] = [];
  const removed = new Set<AnyPair>();
  for (const [key, value] of Object.entries(want)) {
    const p = findPair(ann, key);
    if (value === undefined) {
      if (p) removed.add(p);
      continue;
    }
    if (!p) {
      added.push([key, value]);
      continue;
    }
    if (scalarValue(p) === value) continue;
    const v = p.value as unknown;
    if (v && (v as { range?: unknown }).range) {
      const [s, e] = range(v);
      edits.push({ start: s, end: e, text: scalarText(value, ctx) });
    } else {
      const e = range(p.key)[1];
      const colon = ctx.text.indexOf(':', e);
      edits.push({ start: colon + 1, end: colon + 1, text: ` ${scalarText(value, ctx)}` });
    }
  }
  const kept = ann.items.filter((p) => !removed.has(p));
  if (!ann.flow) {
    if (kept.length === 0 && added.length === 0) {
      // Removing the last entry: drop the whole `annotations:` entry rather than leave a null.
      return [{ start: lineStart(ctx.text, range(annPair.key)[0]), end: afterLine(ctx.text, pairEnd(annPair)), text: '' }];
    }
    for (const p of removed) edits.push({ start: lineStart(ctx.text, range(p.key)[0]), end: afterLine(ctx.text, pairEnd(p)), text: '' });
    if (added.length > 0) {
      const last = ann.items[ann.items.length - 1]!;
      const indent = column(ctx.text, range(ann.items[0]!.key)[0]);
      const at = afterLine(ctx.text, pairEnd(last));
      const pre = at === ctx.text.length && !ctx.text.endsWith('\n') ? ctx.eol : '';
      edits.push({ start: at, end: at, text: pre + blockLines(added, indent, ctx) });
    }
    return edits;
  }
  // Flow mapping (YAML `{...}` or JSON).
  if (kept.length === 0 && removed.size > 0) {
    // Nothing of the old entries stays: rewrite the braces with only the new entries.
    const close = ctx.text.lastIndexOf('}', range(ann)[1] - 1);
    return [{ start: range(ann)[0], end: close + 1, text: added.length > 0 ? flowMapText(added, ctx) : '{}' }];
  }
  const items = ann.items;
  for (let i = 0; i < items.length; i++) {
    const p = items[i]!;
    if (!removed.has(p)) continue;
    // Remove the pair with the separator before it; the first pair takes the one after it.
    const prevKept = items.slice(0, i).some((q) => !removed.has(q));
    if (i > 0 && prevKept) {
      edits.push({ start: pairEnd(items[i - 1]!), end: pairEnd(p), text: '' });
    } else {
      const next = items.slice(i + 1).find((q) => !removed.has(q));
      edits.push({ start: range(p.key)[0], end: next ? range(next.key)[0] : pairEnd(p), text: '' });
    }
  }
  if (added.length > 0) {
    if (kept.length > 0) {
      const lastKept = kept[kept.length - 1]!;
      const multiLine = ctx.text.slice(range(ann)[0], range(ann)[1]).includes('\n');
      const col = column(ctx.text, range(lastKept.key)[0]);
      const sep = multiLine ? `,${ctx.eol}${' '.repeat(col)}` : ', ';
      const at = pairEnd(lastKept);
      edits.push({ start: at, end: at, text: added.map(([k, v]) => `${sep}${entryText(k, v, ctx)}`).join('') });
    } else {
      const [s] = range(ann);
      const close = ctx.text.lastIndexOf('}', range(ann)[1] - 1);
      // Everything inside the braces is being removed or was empty: write the entries inline.
      return [{ start: s, end: close + 1, text: flowMapText(added, ctx) }];
    }
  }
  // Removal edits can overlap when neighbours both go: merge them into one span.
  return mergeEdits(edits);
}

function mergeEdits(edits: Edit[]): Edit[] {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Edit[] = [];
  for (const e of sorted) {
    const prev = out[out.length - 1];
    if (prev && e.start < prev.end) {
      prev.end = Math.max(prev.end, e.end);
      prev.text += e.text;
    } else out.push({ ...e });
  }
  return out;
}

/** Edits that add an `annotations` entry to `metadata` (which has none). */
function addAnnotations(meta: AnyMap, metaPair: AnyPair, entries: [string, string][], ctx: Ctx): Edit[] {
  if (entries.length === 0) return [];
  const parentCol = column(ctx.text, range(metaPair.key)[0]);
  if (!meta.flow) {
    const last = meta.items[meta.items.length - 1]!;
    const indent = column(ctx.text, range(meta.items[0]!.key)[0]);
    const unit = indentUnit(ctx, meta, parentCol);
    const at = afterLine(ctx.text, pairEnd(last));
    const pre = at === ctx.text.length && !ctx.text.endsWith('\n') ? ctx.eol : '';
    const head = `${' '.repeat(indent)}${keyText('annotations', ctx)}:${ctx.eol}`;
    return [{ start: at, end: at, text: pre + head + blockLines(entries, indent + unit, ctx) }];
  }
  const multiLine = ctx.text.slice(range(meta)[0], range(meta)[1]).includes('\n');
  let value: string;
  if (multiLine && meta.items.length > 0) {
    // Pretty-printed JSON: nest one level deeper, closing brace under the key.
    const col = column(ctx.text, range(meta.items[0]!.key)[0]);
    const unit = indentUnit(ctx, meta, parentCol);
    const inner = entries.map(([k, v]) => `${' '.repeat(col + unit)}${entryText(k, v, ctx)}`).join(`,${ctx.eol}`);
    value = `{${ctx.eol}${inner}${ctx.eol}${' '.repeat(col)}}`;
  } else {
    value = flowMapText(entries, ctx);
  }
  if (meta.items.length === 0) {
    const [s] = range(meta);
    const close = ctx.text.lastIndexOf('}', range(meta)[1] - 1);
    return [{ start: s, end: close + 1, text: `{${keyText('annotations', ctx)}: ${value}}` }];
  }
  return [flowAppend(meta, [['annotations', value]], ctx, (k, v) => `${keyText(k, ctx)}: ${v}`)];
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function isJsonFile(file: string): boolean {
  return /\.json$/i.test(file);
}

/**
 * Set (or, for `undefined`, remove) `metadata.annotations` keys of document `docIndex` (and,
 * for a `kind: List`, of `items[item]`), changing no other byte of `text`. Setting values the
 * file already holds returns `text` unchanged.
 */
export function setAnnotations(
  text: string,
  file: string,
  docIndex: number,
  annotations: Record<string, string | undefined>,
  item?: number,
): string {
  const docs = parseDocs(text, file);
  const obj = objectMap(docs, file, docIndex, item);
  const ctx: Ctx = { text, file, json: isJsonFile(file), eol: text.includes('\r\n') ? '\r\n' : '\n' };
  const metaPair = findPair(obj, 'metadata');
  const meta = metaPair?.value as unknown;
  if (!metaPair || !isMap(meta)) {
    throw new CapstanError('CAPSTAN_ERR_API_REQUIRED', `${file}: document ${docIndex} has no metadata mapping to annotate`, {
      location: { file },
      field: 'metadata',
    });
  }
  const annPair = findPair(meta as AnyMap, 'annotations');
  const ann = annPair?.value as unknown;
  const toAdd = Object.entries(annotations).filter((e): e is [string, string] => e[1] !== undefined);
  let edits: Edit[];
  if (annPair && isMap(ann)) {
    edits = editAnnotations(ann as AnyMap, annPair, annotations, ctx);
  } else if (annPair) {
    // `annotations:` with no value, or `annotations: null`.
    if (toAdd.length === 0) return text;
    const v = ann as { range?: [number, number, number] } | null;
    if (v?.range && v.range[1] > v.range[0]) {
      edits = [{ start: v.range[0], end: v.range[1], text: flowMapText(toAdd, ctx) }];
    } else if ((meta as AnyMap).flow) {
      const e = range(annPair.key)[1];
      const colon = ctx.text.indexOf(':', e);
      edits = [{ start: colon + 1, end: colon + 1, text: ` ${flowMapText(toAdd, ctx)}` }];
    } else {
      const keyCol = column(text, range(annPair.key)[0]);
      const unit = indentUnit(ctx, meta as AnyMap, column(text, range(metaPair.key)[0]));
      const at = afterLine(text, range(annPair.key)[1]);
      const pre = at === text.length && !text.endsWith('\n') ? ctx.eol : '';
      edits = [{ start: at, end: at, text: pre + blockLines(toAdd, keyCol + unit, ctx) }];
    }
  } else {
    edits = addAnnotations(meta as AnyMap, metaPair, toAdd, ctx);
  }
  return applyEdits(text, edits);
}

/** The annotations of one object in the file (string values only). */
export function readAnnotations(text: string, file: string, docIndex: number, item?: number): Record<string, string> {
  const obj = objectMap(parseDocs(text, file), file, docIndex, item);
  const meta = findPair(obj, 'metadata')?.value as unknown;
  if (!isMap(meta)) return {};
  const ann = findPair(meta as AnyMap, 'annotations')?.value as unknown;
  const out: Record<string, string> = {};
  if (!isMap(ann)) return out;
  for (const p of (ann as AnyMap).items) {
    const v = scalarValue(p);
    if (isScalar(p.key) && v !== undefined) out[String(p.key.value)] = v;
  }
  return out;
}

export interface ObjectLocation {
  docIndex: number;
  item?: number;
}

/**
 * Where `kind`/`name` is defined in the file: `hint` when the object is still there, else the
 * first document (or List item) with that kind and name. Undefined when it is gone.
 */
export function locateObject(text: string, file: string, want: { kind: string; name: string }, hint?: ObjectLocation): ObjectLocation | undefined {
  const docs = parseDocs(text, file);
  const matches = (m: unknown): boolean => {
    if (!isMap(m)) return false;
    const meta = (m as AnyMap).get('metadata', true);
    return (m as AnyMap).get('kind') === want.kind && isMap(meta) && String(meta.get('name')) === want.name;
  };
  const at = (loc: ObjectLocation): unknown => {
    const root = docs[loc.docIndex]?.contents;
    if (loc.item === undefined) return root;
    const items = isMap(root) ? root.get('items', true) : undefined;
    return isSeq(items) ? items.items[loc.item] : undefined;
  };
  if (hint && matches(at(hint))) return hint;
  for (let d = 0; d < docs.length; d++) {
    const root = docs[d]!.contents;
    if (matches(root)) return { docIndex: d };
    const items = isMap(root) ? root.get('items', true) : undefined;
    if (isSeq(items)) {
      const i = items.items.findIndex(matches);
      if (i >= 0) return { docIndex: d, item: i };
    }
  }
  return undefined;
}
