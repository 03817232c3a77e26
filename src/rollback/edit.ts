// The text edit behind a rollback commit: replace one object's `spec.template` in its file
// with the template it had at an older commit, splicing source ranges so every other byte
// of the file (comments, order, quoting, other documents) stays as it is.
import { isMap, isSeq, parseAllDocuments, stringify, type Node } from 'yaml';
import { CapstanError } from '../common/index.js';

export interface ObjectRef {
  kind: string;
  name: string;
}

interface Found {
  node: Node;
  text: string;
}

/** The `spec.template` node of `kind`/`name` in a YAML or JSON file, or undefined. */
function findTemplate(text: string, want: ObjectRef): Node | undefined {
  for (const doc of parseAllDocuments(text)) {
    if (!('contents' in doc) || doc.errors.length > 0) continue;
    const top = doc.contents;
    const candidates: unknown[] = [];
    if (isMap(top)) {
      const items = top.get('items', true);
      if ((top.get('kind') as unknown) === 'List' && isSeq(items)) candidates.push(...items.items);
      else candidates.push(top);
    }
    for (const c of candidates) {
      if (!isMap(c) || c.get('kind') !== want.kind) continue;
      const meta = c.get('metadata', true);
      if (!isMap(meta) || meta.get('name') !== want.name) continue;
      const spec = c.get('spec', true);
      const template = isMap(spec) ? spec.get('template', true) : undefined;
      if (template && typeof template === 'object' && 'range' in template && (template as Node).range) return template as Node;
    }
  }
  return undefined;
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** The node's own text, without the trailing blank lines a block node's range includes. */
function nodeText(text: string, node: Node): Found & { start: number; end: number } {
  const [start, valueEnd] = node.range!;
  let end = valueEnd;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { node, text: text.slice(start, end), start, end };
}

/** Lines after the first move by `delta` columns (the first starts where the splice starts). */
function reindent(block: string, delta: number): string {
  if (delta === 0) return block;
  return block
    .split('\n')
    .map((line, i) => {
      if (i === 0 || line.length === 0) return line;
      if (delta > 0) return ' '.repeat(delta) + line;
      const drop = Math.min(-delta, line.length - line.trimStart().length);
      return line.slice(drop);
    })
    .join('\n');
}

/**
 * `current` with `want`'s spec.template replaced: by the template node's text in `old` (the
 * file at the revision's commit) when given and found there, else by `fallback` rendered as
 * YAML (or JSON for .json files). Throws when the object or its template is not in `current`.
 */
export function replaceTemplate(current: string, file: string, want: ObjectRef, old: string | undefined, fallback: unknown): string {
  const here = findTemplate(current, want);
  if (!here) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `${want.kind} ${want.name} has no spec.template in ${file} at the branch tip`, { location: { file }, context: { ...want } });
  }
  const target = nodeText(current, here);
  const col = columnOf(current, target.start);
  let replacement: string;
  const there = old !== undefined ? findTemplate(old, want) : undefined;
  if (there && old !== undefined) {
    const from = nodeText(old, there);
    replacement = reindent(from.text, col - columnOf(old, from.start));
  } else {
    const flow = current[target.start] === '{';
    // A template written on one line (flow or JSON) stays on one line.
    const oneLine = flow && !target.text.includes('\n');
    const rendered = oneLine ? JSON.stringify(fallback) : flow || /\.json$/i.test(file) ? JSON.stringify(fallback, null, 2) : stringify(fallback).trimEnd();
    replacement = reindent(rendered, col);
  }
  return current.slice(0, target.start) + replacement + current.slice(target.end);
}
