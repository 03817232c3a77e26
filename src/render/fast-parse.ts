// A fast path for the common case: a well-formed file of plain mappings. js-yaml parses such
// files about ten times faster than building the full position-keeping document model, and
// positions are only needed when something must be reported. So: parse fast, find field
// positions by scanning the lines (block-locate.ts), and build the full parser's model (once
// per file) only for a position the scan is not sure of.
// Anything unusual — a syntax error, a duplicate key, an alias, an empty or non-mapping
// document, a List, deep nesting — goes to the full parser, which reports it exactly.

import jsyaml from 'js-yaml';
import { DEFAULT_PARSE_LIMITS, type ParseLimits, type ParseResult, type ParsedDocument, type Position } from './types.js';
import { BlockLocator } from './block-locate.js';
import { parseManifestFile, type ManifestFile } from './yaml.js';

/** A plain scalar that may be a leading-zero octal number, after `: ` or `- `; the full parser decides. */
const LEADING_ZERO_MAYBE = /(?:^|[:\-\[,{]\s*)[-+]?0[0-7]+\s*(?:[#,\]}]|$)/m;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** True when the value is a tree of plain data within `maxDepth`, with no node reached twice. */
function isPlainTree(root: unknown, maxDepth: number): boolean {
  const seen = new Set<object>();
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    // A node reached twice came from an alias: leave alias accounting to the full parser.
    if (depth > maxDepth || seen.has(v)) return false;
    seen.add(v);
    if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1]);
    else if (Object.getPrototypeOf(v) !== Object.prototype) return false;
    else for (const x of Object.values(v)) stack.push([x, depth + 1]);
  }
  return true;
}

/**
 * Where each document's first content is: the first line after the start or a `---` that is
 * neither blank nor a comment nor a directive. Cheap, and enough for `file:line` in plans.
 */
function documentStarts(text: string): Position[] {
  const starts: Position[] = [];
  let waiting = true;
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    if (/^---(\s|$)/.test(raw)) {
      waiting = true;
      const rest = raw.slice(3).trim();
      if (rest && !rest.startsWith('#')) {
        starts.push({ line, column: raw.indexOf(rest) + 1 });
        waiting = false;
      }
      continue;
    }
    if (!waiting) continue;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('%')) continue;
    starts.push({ line, column: raw.length - raw.trimStart().length + 1 });
    waiting = false;
  }
  return starts;
}

function fastDocuments(file: ManifestFile, lim: ParseLimits): { text: string; objects: Record<string, unknown>[]; starts: Position[] } | undefined {
  let text: string;
  try {
    text = typeof file.content === 'string' ? file.content : decoder.decode(file.content);
  } catch {
    return undefined;
  }
  // A leading-zero number is octal (see LEADING_ZERO_OCTAL); js-yaml's core schema reads it as decimal.
  if (LEADING_ZERO_MAYBE.test(text)) return undefined;
  if (text.charCodeAt(0) === 0xfeff || text.includes('\t') || text.includes('\0') || /^\.\.\.\s*$/m.test(text)) return undefined;
  let docs: unknown[];
  try {
    // CORE_SCHEMA: YAML 1.2 core types only, so dates and `yes`/`on` stay strings, as in the full parser.
    docs = jsyaml.loadAll(text, undefined, { schema: jsyaml.CORE_SCHEMA, json: false });
  } catch {
    return undefined;
  }
  if (docs.length === 0 || docs.length > lim.maxDocuments) return undefined;
  for (const d of docs) {
    if (d === null || typeof d !== 'object' || Array.isArray(d)) return undefined;
    if ((d as { kind?: unknown }).kind === 'List') return undefined;
    if (!isPlainTree(d, lim.maxDepth)) return undefined;
  }
  const starts = documentStarts(text);
  // Anything the line scan cannot pair one-to-one with the parsed documents goes the slow way.
  if (starts.length !== docs.length) return undefined;
  return { text, objects: docs as Record<string, unknown>[], starts };
}

/** Same contract as parseManifestFile, faster on well-formed files. */
export function parseManifestFast(file: ManifestFile, limits: Partial<ParseLimits> = {}): ParseResult {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  const fast = fastDocuments(file, lim);
  if (!fast) return parseManifestFile(file, limits);

  let full: ParseResult | undefined;
  let lines: BlockLocator | undefined;
  const slow = (index: number): ParsedDocument | undefined => {
    full ??= parseManifestFile(file, limits);
    return full.documents.find((d) => d.index === index) ?? full.documents[index];
  };
  const documents = fast.objects.map(
    (object, index): ParsedDocument => ({
      file: file.path,
      index,
      position: fast.starts[index]!,
      object,
      locate: (path) => (lines ??= new BlockLocator(fast.text)).locate(object, fast.starts[index]!, path) ?? slow(index)?.locate(path) ?? fast.starts[index]!,
    }),
  );
  return { documents, diagnostics: [] };
}
