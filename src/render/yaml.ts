// Manifest files → plain JSON documents that remember where each field came from.
//
// The yaml library is driven in its three stages (lexer+parser → CST, composer → AST, toJS) so
// that nesting depth can be checked on the CST with an explicit stack *before* the recursive
// composer runs: a 100,000-deep `[[[[` must be a diagnostic, not a stack overflow.

import { Composer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq, visit } from 'yaml';
import type { CST, Document, DocumentOptions, Node, ScalarTag, SchemaOptions, Tags, YAMLError } from 'yaml';
import { diagnostic } from '../common/index.js';
import type { Diagnostic, ErrorCode } from '../common/index.js';
import { DEFAULT_PARSE_LIMITS } from './types.js';
import type { FieldPath, ParseLimits, ParseResult, ParsedDocument, Position } from './types.js';
import { bytePosition, firstInvalidUtf8 } from './yaml-utf8.js';

/**
 * `0644` is octal, as Kubernetes reads it (its YAML is 1.1 there): file modes such as
 * `defaultMode: 0644` mean 420, not six hundred and forty-four. `0o644` works too (YAML 1.2).
 */
export const LEADING_ZERO_OCTAL = /^[-+]?0[0-7]+$/;
const octalInt: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  format: 'OCT',
  test: LEADING_ZERO_OCTAL,
  resolve: (s: string) => (s.startsWith('-') ? -1 : 1) * parseInt(s.replace(/^[-+]/, ''), 8),
};

// YAML 1.2 core schema: `2024-01-01`, `yes`, `on` stay strings, nothing becomes a Date.
const COMPOSE_OPTIONS: DocumentOptions & SchemaOptions & { uniqueKeys: boolean; stringKeys: boolean; keepSourceTokens: boolean; intAsBigInt: boolean; strict: boolean } = {
  customTags: (tags: Tags) => [octalInt, ...tags],
  version: '1.2',
  schema: 'core',
  uniqueKeys: true,
  // Keys are strings, as in JSON and Kubernetes; a collection used as a key is an error.
  stringKeys: true,
  keepSourceTokens: false,
  intAsBigInt: false,
  strict: true,
};

export interface ManifestFile {
  /** Repository-relative path; `.json` files are read as YAML 1.2, which JSON is a subset of. */
  path: string;
  content: Uint8Array | string;
}

/** Parse every document of one manifest file; never throws on bad input. */
export function parseManifestFile(file: ManifestFile, limits: Partial<ParseLimits> = {}): ParseResult {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  const diagnostics: Diagnostic[] = [];
  const documents: ParsedDocument[] = [];
  const text = decode(file, diagnostics);
  if (text === undefined) return { documents, diagnostics };

  const lineCounter = new LineCounter();
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const err = (code: ErrorCode, message: string, offset: number, severity: Diagnostic['severity'] = 'error') =>
    diagnostics.push(diagnostic(severity, code, message, { file: file.path, ...pos(offset) }));

  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer(COMPOSE_OPTIONS);
  const docs: Document.Parsed[] = [];
  const tooDeep = new Set<number>();
  let docTokens = 0;
  for (const token of parser.parse(text)) {
    if (token.type === 'document') {
      if (docTokens === lim.maxDocuments) {
        err('CAPSTAN_ERR_SOURCE_TOO_LARGE', `the file holds more than ${lim.maxDocuments} documents`, token.offset);
        break;
      }
      if (token.value) {
        const deep = findTooDeep(token.value, lim.maxDepth);
        if (deep) {
          err('CAPSTAN_ERR_RENDER_TOO_DEEP', `the document nests deeper than ${lim.maxDepth} levels`, deep.offset);
          tooDeep.add(docTokens);
          // Compose an empty document in its place, so the composer never recurses into it.
          token.value = undefined;
        }
      }
      docTokens += 1;
    }
    for (const doc of composer.next(token)) docs.push(doc);
  }
  // forceDoc: errors found outside any document still arrive, on an empty document.
  for (const doc of composer.end(docTokens === 0, text.length)) docs.push(doc);

  docs.forEach((doc, index) => {
    if (tooDeep.has(index)) return;
    // The parser often explains one mistake twice at the same spot, the later one more
    // plainly ("flow map must end with a }"); one line per spot is clearer.
    const byOffset = new Map<number, YAMLError>();
    for (const e of doc.errors) byOffset.set(errorOffset(e, text), e);
    for (const [at, e] of byOffset) err(yamlErrorCode(e), yamlMessage(e, text), at);
    for (const w of doc.warnings) err('CAPSTAN_ERR_RENDER_SYNTAX', yamlMessage(w), w.pos[0], 'warning');
    if (doc.errors.length > 0) return;
    const root = doc.contents;
    // Empty documents (`---` followed by nothing, or only comments, or a bare `~`) are skipped.
    if (root === null || (isScalar(root) && root.value === null)) return;
    if (!isMap(root)) {
      const what = isSeq(root) ? 'a list' : isAlias(root) ? 'an alias' : `a ${typeof (root as { value?: unknown }).value}`;
      err('CAPSTAN_ERR_RENDER_NOT_OBJECT', `document ${index} is ${what}, not a mapping of fields`, root.range[0]);
      return;
    }
    let object: Record<string, unknown>;
    try {
      // Aliases become shared references, never copies; maxAliasCount stops a bomb before it grows.
      const shared = doc.toJS({ maxAliasCount: lim.maxAliasCount }) as Record<string, unknown>;
      const tree = toTree(shared, lim.maxDepth);
      if (typeof tree === 'string') {
        const at = firstAliasOffset(doc) ?? root.range[0];
        if (tree === 'cycle') err('CAPSTAN_ERR_RENDER_ALIAS_LIMIT', 'an alias refers to its own anchor, which would expand forever', at);
        else if (tree === 'depth') err('CAPSTAN_ERR_RENDER_TOO_DEEP', `aliases expand the document deeper than ${lim.maxDepth} levels`, at);
        else err('CAPSTAN_ERR_RENDER_ALIAS_LIMIT', `aliases expand the document by more than ${MAX_ALIAS_COPIES} copied values`, at);
        return;
      }
      object = tree;
    } catch (cause) {
      const isBomb = cause instanceof ReferenceError && /alias count/i.test(cause.message);
      const at = firstAliasOffset(doc) ?? root.range[0];
      if (isBomb) {
        err('CAPSTAN_ERR_RENDER_ALIAS_LIMIT', `aliases expand beyond the limit of ${lim.maxAliasCount} (alias bomb)`, at);
      } else {
        const message = cause instanceof Error ? cause.message : String(cause);
        err('CAPSTAN_ERR_RENDER_SYNTAX', message.charAt(0).toLowerCase() + message.slice(1), at);
      }
      return;
    }
    const base = { file: file.path, index };
    if (object.kind === 'List' && Array.isArray(object.items)) {
      object.items.forEach((item: unknown, i: number) => {
        const prefix = ['items', i];
        const at = locateIn(root, prefix, pos);
        if (!isPlainObject(item)) {
          const where = { file: file.path, ...at };
          diagnostics.push(
            diagnostic('error', 'CAPSTAN_ERR_RENDER_NOT_OBJECT', `items[${i}] of the List is not a mapping of fields`, where, `items[${i}]`),
          );
          return;
        }
        documents.push({
          ...base,
          item: i,
          position: at,
          object: item,
          locate: (path) => locateIn(root, [...prefix, ...path], pos),
        });
      });
      return;
    }
    documents.push({ ...base, position: pos(root.range[0]), object, locate: (path) => locateIn(root, path, pos) });
  });

  if (documents.length === 0 && !diagnostics.some((d) => d.severity === 'error')) {
    // A warning, not an error: emptying a file is how a user removes its objects, and a
    // placeholder file harms nothing. The file is still named so the user sees it was read.
    diagnostics.push(
      diagnostic('warning', 'CAPSTAN_ERR_RENDER_EMPTY', 'the file holds no objects (it is empty, or only comments and empty documents)', { file: file.path }),
    );
  }
  return { documents, diagnostics };
}

function decode(file: ManifestFile, diagnostics: Diagnostic[]): string | undefined {
  let text: string;
  if (typeof file.content === 'string') {
    text = file.content;
  } else {
    const bad = firstInvalidUtf8(file.content);
    if (bad >= 0) {
      const at = bytePosition(file.content, bad);
      const byte = file.content[bad].toString(16).padStart(2, '0');
      diagnostics.push(
        diagnostic('error', 'CAPSTAN_ERR_SOURCE_BINARY', `the file is not valid UTF-8 (byte 0x${byte})`, { file: file.path, ...at }),
      );
      return undefined;
    }
    text = new TextDecoder('utf-8').decode(file.content);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The first collection nested deeper than `max`, found with an explicit stack (no recursion). */
function findTooDeep(root: CST.Token, max: number): CST.Token | undefined {
  const stack: Array<[CST.Token, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth > max) return token;
    for (const item of token.items) {
      if (item.value) stack.push([item.value, depth + 1]);
      if ('key' in item && item.key) stack.push([item.key, depth + 1]);
    }
  }
  return undefined;
}

function yamlErrorCode(e: YAMLError): ErrorCode {
  return e.code === 'DUPLICATE_KEY' ? 'CAPSTAN_ERR_RENDER_DUPLICATE_KEY' : 'CAPSTAN_ERR_RENDER_SYNTAX';
}

function yamlMessage(e: YAMLError, text?: string): string {
  if (e.code === 'NON_STRING_KEY') return 'mapping keys must be plain strings, not lists or mappings';
  if (e.code === 'MISSING_CHAR' && /closing ["']quote/.test(e.message)) return 'this quoted string is never closed';
  if (e.code === 'MULTILINE_IMPLICIT_KEY' || e.code === 'BLOCK_AS_IMPLICIT_KEY') {
    // Usually a line indented deeper than its siblings, read as a continuation of this value.
    return `${lowerFirst(e.message.split('\n')[0])} (is the next line indented too far?)`;
  }
  if (e.code === 'DUPLICATE_KEY' && text !== undefined) {
    const start = e.pos[0];
    const q = text[start];
    const key =
      q === '"' || q === "'"
        ? text.slice(start, text.indexOf(q, start + 1) + 1)
        : (/^[^:\n]*/.exec(text.slice(start, start + 200))?.[0] ?? '').trim();
    if (key.length > 0 && key.length <= 100) return `key ${key} appears twice in the same mapping`;
  }
  // The library's message may carry a source excerpt after a blank line; keep the first line.
  return lowerFirst(e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''));
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Where to point for an error: an unclosed quote is reported at its opening, not at EOF. */
function errorOffset(e: YAMLError, text: string): number {
  const at = e.pos[0];
  if (e.code !== 'MISSING_CHAR') return at;
  const quote = /closing "quote/.test(e.message) ? '"' : /closing '/.test(e.message) ? "'" : undefined;
  if (!quote) return at;
  // Inside an unterminated scalar no unescaped quote of its kind occurs, so the last one
  // before the error is the opener.
  for (let i = Math.min(at, text.length) - 1; i >= 0; i--) {
    if (text[i] !== quote) continue;
    if (quote === '"') {
      let backslashes = 0;
      for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) backslashes += 1;
      if (backslashes % 2 === 1) continue;
      return i;
    }
    if (text[i - 1] === "'") {
      i -= 1; // '' is an escaped quote
      continue;
    }
    return i;
  }
  return at;
}

function firstAliasOffset(doc: Document.Parsed): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

function locateIn(root: Node, path: FieldPath, pos: (offset: number) => Position): Position {
  let node: unknown = root;
  let offset = root.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item?.range) break;
      offset = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  return pos(offset);
}

// Values copied because an alias shares them; a bomb under maxAliasCount still stops here.
const MAX_ALIAS_COPIES = 100_000;

/**
 * A plain JSON tree from toJS output: aliased (shared) values are copied, so no two fields
 * share an object a later edit could change through the other; cycles, over-deep expansion
 * and huge expansions are refused; binary values become base64 strings, as Kubernetes
 * writes them. Iterative, so no input can exhaust the call stack.
 */
function toTree(root: Record<string, unknown>, maxDepth: number): Record<string, unknown> | 'cycle' | 'depth' | 'size' {
  type Container = Record<string, unknown> | unknown[];
  interface Frame {
    src: Container;
    dst: Container;
    keys: Array<string | number>;
    i: number;
    depth: number;
  }
  const shell = (v: Container): Container => (Array.isArray(v) ? new Array<unknown>(v.length) : {});
  const keysOf = (v: Container): Array<string | number> => (Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v));
  const put = (dst: Container, k: string | number, v: unknown) => {
    // Assigning "__proto__" would set the prototype; define it as an ordinary field instead.
    if (k === '__proto__') Object.defineProperty(dst, k, { value: v, enumerable: true, writable: true, configurable: true });
    else (dst as Record<string | number, unknown>)[k] = v;
  };
  const out = shell(root) as Record<string, unknown>;
  const onPath = new Set<unknown>([root]);
  const visited = new Set<unknown>();
  const stack: Frame[] = [{ src: root, dst: out, keys: keysOf(root), i: 0, depth: 1 }];
  let copies = 0;
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    if (f.i === f.keys.length) {
      onPath.delete(f.src);
      stack.pop();
      continue;
    }
    const k = f.keys[f.i++];
    const v = (f.src as Record<string | number, unknown>)[k];
    if (v === null || typeof v !== 'object') {
      put(f.dst, k, v);
      continue;
    }
    if (ArrayBuffer.isView(v)) {
      put(f.dst, k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
      continue;
    }
    if (onPath.has(v)) return 'cycle';
    if (visited.has(v) && ++copies > MAX_ALIAS_COPIES) return 'size';
    visited.add(v);
    if (f.depth + 1 > maxDepth) return 'depth';
    const c = v as Container;
    const d = shell(c);
    put(f.dst, k, d);
    onPath.add(c);
    stack.push({ src: c, dst: d, keys: keysOf(c), i: 0, depth: f.depth + 1 });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
