// Field positions in block-style YAML without building the full document model. Validation asks
// for a few positions of every object (replicas, containers, ports: see admissionFieldPaths),
// and building the full parser's model for each file just to answer them costs more than
// parsing the file did. This scanner reads the lines of one document and walks the path level
// by level, guided by the object the fast parser already produced: the object says whether a
// field exists and whether it is a mapping, a list or a scalar, the lines say where it is.
//
// It answers only when it is sure. At every level it walks, the keys it read must be the
// object's keys in the same order and the list items it counted the list's length; anything
// else (flow collections on the path, quoted or numeric keys, anchors, tags, an item that
// starts on the line after its dash) gives undefined and the caller asks the full parser. The
// answer is the full parser's: a key's position for a mapping field, an item's first character
// for a list entry, and where a path stops, the last field found.

import type { FieldPath, Position } from './types.js';

/** A key as Kubernetes manifests write them: plain, and a string in YAML 1.2's core schema. */
const PLAIN_KEY = /^([A-Za-z_][A-Za-z0-9_.\/-]*)[ ]*:(?: +(.*))?$/;
/** Plain words the core schema reads as booleans or null, not strings. */
const NOT_A_STRING = /^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL)$/;
/** A node starting with one of these needs the full parser (flow collections, anchors, tags, aliases, keys). */
const NEEDS_FULL = /^[\[{&!*?|>]/;

type Obj = Record<string, unknown>;

interface Found {
  line: number;
  column: number;
  /** What follows `key:` or `- ` on the same line ('' when nothing but a comment). */
  rest: string;
}

export class BlockLocator {
  private readonly lines: string[];
  /**
   * Levels already scanned, by the parsed value they were checked against and the line they
   * start on: several paths of one object share their first levels (spec, template, pod spec).
   */
  private readonly levels = new Map<object, { from: number; indent: number; level: Level | undefined }>();
  private readonly ends = new Map<number, number>();

  constructor(text: string) {
    this.lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }

  /**
   * The position of `path` in the document whose first content is at `start` (1-based), whose
   * parsed value is `root`; undefined when the scan cannot be sure.
   */
  locate(root: Obj, start: Position, path: FieldPath): Position | undefined {
    if (path.length === 0) return start;
    const from = start.line - 1;
    const first = this.lines[from];
    if (first === undefined || /^---(\s|$)/.test(first)) return undefined;
    const to = this.documentEnd(from);
    let level = this.mapAt(root, from, to, start.column - 1);
    if (!level) return undefined;
    let at: Position | undefined = start;
    let value: unknown = root;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i]!;
      let found: Found | undefined;
      let next: unknown;
      if (level.kind === 'map') {
        const k = (level.entries as Map<string, Found>).get(String(segment));
        if (!k) return at;
        found = k;
        next = (value as Obj)[String(segment)];
      } else {
        if (typeof segment !== 'number') return at;
        const item = (level.entries as Found[])[segment];
        if (!item) return at;
        // An item that starts on a later line, or with an anchor, tag or nested dash: full parser.
        if (item.rest === '' || NEEDS_FULL.test(item.rest) || item.rest.startsWith('-')) return undefined;
        found = item;
        next = (value as unknown[])[segment];
      }
      at = { line: found.line + 1, column: found.column };
      if (i === path.length - 1) return at;
      if (next === null || typeof next !== 'object') return at; // a scalar: the full parser stops here too
      const sub = this.valueOf(next, found, level.kind === 'seq', level.indent, to);
      if (!sub) return undefined;
      level = sub;
      value = next;
    }
    return at;
  }

  /** The mapping or list that is `value`, written under the key or item `found`. */
  private valueOf(value: object, found: Found, inItem: boolean, indent: number, to: number): Level | undefined {
    if (inItem) {
      // `- name: app`: the item's mapping starts on the dash line, at the item's column.
      if (Array.isArray(value)) return undefined;
      return this.mapAt(value as Obj, found.line, to, found.column - 1, found.rest);
    }
    if (found.rest !== '') return undefined; // a flow collection or something tagged on the key's line
    const n = this.nextContent(found.line + 1, to);
    if (n === undefined) return undefined;
    const ind = indentOf(this.lines[n]!);
    if (Array.isArray(value)) {
      if (ind < indent || !isDash(this.lines[n]!.slice(ind))) return undefined;
      return this.seqAt(value, n, to, ind, ind === indent);
    }
    if (ind <= indent) return undefined;
    return this.mapAt(value as Obj, n, to, ind);
  }

  /** The keys of the block mapping at `indent` starting on line `from`; undefined unless they are exactly `value`'s. */
  private mapAt(value: Obj, from: number, to: number, indent: number, firstText?: string): Level | undefined {
    const known = this.levels.get(value);
    if (known && known.from === from && known.indent === indent) return known.level;
    const level = this.scanMap(value, from, to, indent, firstText);
    this.levels.set(value, { from, indent, level });
    return level;
  }

  private scanMap(value: Obj, from: number, to: number, indent: number, firstText?: string): Level | undefined {
    const entries = new Map<string, Found>();
    for (let l = from; l < to; l++) {
      const raw = this.lines[l]!;
      const ind = l === from && firstText !== undefined ? indent : indentOf(raw);
      const text = l === from && firstText !== undefined ? firstText : raw.slice(ind);
      if (text === '' || text.startsWith('#')) continue;
      if (ind > indent) continue;
      if (ind < indent) break;
      // A compact list under the previous key (`containers:` then `- name:` at the same indent).
      if (isDash(text)) continue;
      const m = PLAIN_KEY.exec(text);
      if (!m || NOT_A_STRING.test(m[1]!) || m[1] === '__proto__') return undefined;
      const rest = restOf(m[2]);
      if (rest === undefined || entries.has(m[1]!)) return undefined;
      entries.set(m[1]!, { line: l, column: ind + 1, rest });
    }
    const keys = Object.keys(value);
    if (keys.length !== entries.size) return undefined;
    let i = 0;
    for (const k of entries.keys()) if (keys[i++] !== k) return undefined;
    return { kind: 'map', indent, entries };
  }

  /** The items of the block list whose dashes are at `indent`; undefined unless there are `value.length`. */
  private seqAt(value: unknown[], from: number, to: number, indent: number, compact: boolean): Level | undefined {
    const known = this.levels.get(value);
    if (known && known.from === from && known.indent === indent) return known.level;
    const level = this.scanSeq(value, from, to, indent, compact);
    this.levels.set(value, { from, indent, level });
    return level;
  }

  private scanSeq(value: unknown[], from: number, to: number, indent: number, compact: boolean): Level | undefined {
    const items: Found[] = [];
    for (let l = from; l < to; l++) {
      const raw = this.lines[l]!;
      const ind = indentOf(raw);
      const text = raw.slice(ind);
      if (text === '' || text.startsWith('#')) continue;
      if (ind > indent) continue;
      if (ind < indent) break;
      if (!isDash(text)) {
        if (compact) break; // the parent mapping's next key
        return undefined;
      }
      const after = text.slice(1);
      const body = after.trimStart();
      const rest = body.startsWith('#') ? '' : restOf(body);
      if (rest === undefined) return undefined;
      items.push({ line: l, column: ind + 2 + (after.length - body.length), rest });
    }
    if (items.length !== value.length) return undefined;
    return { kind: 'seq', indent, entries: items };
  }

  private nextContent(from: number, to: number): number | undefined {
    for (let l = from; l < to; l++) {
      const t = this.lines[l]!.trim();
      if (t !== '' && !t.startsWith('#')) return l;
    }
    return undefined;
  }

  private documentEnd(from: number): number {
    let end = this.ends.get(from);
    if (end === undefined) {
      end = this.lines.length;
      for (let l = from + 1; l < this.lines.length; l++) {
        if (/^(?:---|\.\.\.)(\s|$)/.test(this.lines[l]!)) {
          end = l;
          break;
        }
      }
      this.ends.set(from, end);
    }
    return end;
  }
}

interface Level {
  kind: 'map' | 'seq';
  indent: number;
  entries: Map<string, Found> | Found[];
}

function indentOf(line: string): number {
  let i = 0;
  while (line.charCodeAt(i) === 0x20) i++;
  return i;
}

function isDash(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

/**
 * What follows a key or dash on its line, '' for nothing or only a comment; undefined for a
 * quoted scalar that does not close on this line (it may run over lines that look like keys).
 */
function restOf(rest: string | undefined): string | undefined {
  if (rest === undefined || rest === '' || rest.startsWith('#')) return '';
  const q = rest[0];
  if (q === '"' || q === "'") {
    const body = rest.slice(1);
    const close = q === '"' ? /(?:^|[^\\])(?:\\\\)*"/.exec(body) : /'/.exec(body.replace(/''/g, '  '));
    if (!close) return undefined;
  }
  return rest;
}
