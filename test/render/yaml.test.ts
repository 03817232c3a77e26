import { describe, expect, it } from 'vitest';
import { parseManifestFile } from '../../src/render/yaml.js';

const parse = (content: string | Uint8Array, path = 'm.yaml', limits = {}) => parseManifestFile({ path, content }, limits);
const codes = (r: ReturnType<typeof parse>) => r.diagnostics.map((d) => d.code);

describe('parseManifestFile', () => {
  it('reads multi-document YAML, skipping empty documents, keeping document indexes', () => {
    const r = parse('# lead comment\na: 1\n---\n---\n# only a comment\n---\nb: 2\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.documents.map((d) => [d.index, d.object, d.position])).toEqual([
      [0, { a: 1 }, { line: 2, column: 1 }],
      [3, { b: 2 }, { line: 7, column: 1 }],
    ]);
    expect(r.documents[0].file).toBe('m.yaml');
  });

  it('uses YAML 1.2 core: dates, yes/no/on stay strings; a leading-zero number is octal, as Kubernetes reads it', () => {
    const r = parse('d: 2024-01-01\ny: yes\nn: no\no: on\nt: true\nz: 0777\nq: "0644"\nneg: -010\nf: 1.5\nx: null\n');
    expect(r.documents[0].object).toEqual({ d: '2024-01-01', y: 'yes', n: 'no', o: 'on', t: true, z: 0o777, q: '0644', neg: -8, f: 1.5, x: null });
  });

  it('reads JSON files, including tab-indented ones', () => {
    const r = parse('{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n\t"data": {"a": "1"}\n}\n', 'cm.json');
    expect(r.diagnostics).toEqual([]);
    expect(r.documents[0].object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', data: { a: '1' } });
    expect(r.documents[0].locate(['data', 'a'])).toEqual({ line: 4, column: 11 });
  });

  it('expands kind: List (JSON and YAML) into one document per item with item positions', () => {
    const json = '{"kind":"List","apiVersion":"v1","items":[\n {"kind":"ConfigMap","metadata":{"name":"a"}},\n {"kind":"ConfigMap","metadata":{"name":"b"}}\n]}';
    const r = parse(json, 'list.json');
    expect(r.documents.map((d) => [d.index, d.item, (d.object.metadata as { name: string }).name, d.position.line])).toEqual([
      [0, 0, 'a', 2],
      [0, 1, 'b', 3],
    ]);
    expect(r.documents[1].locate(['metadata', 'name'])).toEqual({ line: 3, column: 34 });
    const y = parse('kind: List\nitems:\n  - kind: ConfigMap\n    metadata: {name: a}\n  - 42\n');
    expect(y.documents).toHaveLength(1);
    expect(y.diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_NOT_OBJECT', line: 5, column: 5, field: 'items[1]' }]);
  });

  it('locates keys and array items, falling back to the nearest existing ancestor', () => {
    const d = parse('spec:\n  containers:\n    - name: a\n    - name: b\n      image: x\n').documents[0];
    expect(d.locate(['spec'])).toEqual({ line: 1, column: 1 });
    expect(d.locate(['spec', 'containers', 1])).toEqual({ line: 4, column: 7 });
    expect(d.locate(['spec', 'containers', 1, 'image'])).toEqual({ line: 5, column: 7 });
    expect(d.locate(['spec', 'containers', 0, 'image'])).toEqual({ line: 3, column: 7 });
    expect(d.locate(['spec', 'containers', 7, 'image'])).toEqual({ line: 2, column: 3 });
    expect(d.locate(['nope', 'deeper'])).toEqual({ line: 1, column: 1 });
    expect(d.locate([])).toEqual({ line: 1, column: 1 });
  });

  it('reports syntax errors with line and column', () => {
    const tab = parse('a:\n\tb: 1\n');
    expect(tab.documents).toEqual([]);
    expect(tab.diagnostics[0]).toMatchObject({ code: 'CAPSTAN_ERR_RENDER_SYNTAX', severity: 'error', file: 'm.yaml', line: 2, column: 1 });
    const quote = parse('a: 1\nb: "never closed\nc: 2\n');
    expect(quote.diagnostics[0]).toMatchObject({ code: 'CAPSTAN_ERR_RENDER_SYNTAX', line: 2, column: 4 });
  });

  it('reports duplicate keys at the second key', () => {
    const r = parse('a: 1\nb:\n  c: 1\n  c: 2\n');
    expect(r.documents).toEqual([]);
    expect(r.diagnostics).toMatchObject([
      { code: 'CAPSTAN_ERR_RENDER_DUPLICATE_KEY', line: 4, column: 3, message: 'key c appears twice in the same mapping' },
    ]);
    expect(parse('{"x": 1, "x": 2}', 'm.json').diagnostics[0].message).toBe('key "x" appears twice in the same mapping');
  });

  it('refuses alias bombs without expanding them, but allows a few aliases', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = parse(levels.join('\n') + '\n');
    expect(bomb.documents).toEqual([]);
    expect(codes(bomb)).toEqual(['CAPSTAN_ERR_RENDER_ALIAS_LIMIT']);
    expect(bomb.diagnostics[0]).toMatchObject({ line: 2, column: 8 });
    const fine = parse('base: &b {x: 1}\none: *b\ntwo: *b\n');
    expect(fine.documents[0].object).toEqual({ base: { x: 1 }, one: { x: 1 }, two: { x: 1 } });
    // Even with the alias count check switched off, copying the shared values stops early.
    expect(codes(parse(levels.join('\n') + '\n', 'm.yaml', { maxAliasCount: -1 }))).toEqual(['CAPSTAN_ERR_RENDER_ALIAS_LIMIT']);
    expect(codes(parse('base: &b {x: 1}\none: *b\ntwo: *b\n', 'm.yaml', { maxAliasCount: 1 }))).toEqual([
      'CAPSTAN_ERR_RENDER_ALIAS_LIMIT',
    ]);
  });

  it('refuses documents nested deeper than maxDepth, and survives 100,000 levels', () => {
    const flow = parse('a: ' + '['.repeat(1000) + ']'.repeat(1000) + '\n');
    expect(flow.diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_TOO_DEEP', line: 1, column: 4 + 63 }]);
    const block = 'a:\n' + Array.from({ length: 200 }, (_, i) => `${' '.repeat(2 * i + 2)}b${i}:\n`).join('');
    expect(codes(parse(block))).toEqual(['CAPSTAN_ERR_RENDER_TOO_DEEP']);
    const huge = parse('['.repeat(100_000));
    expect(codes(huge)).toContain('CAPSTAN_ERR_RENDER_TOO_DEEP');
    expect(huge.documents).toEqual([]);
    expect(parse('a: [[[1]]]\n', 'm.yaml', { maxDepth: 4 }).diagnostics).toEqual([]);
    expect(codes(parse('a: [[[[1]]]]\n', 'm.yaml', { maxDepth: 4 }))).toEqual(['CAPSTAN_ERR_RENDER_TOO_DEEP']);
    // A too-deep document does not hide the others in the file.
    const mixed = parse('a: [[[[[1]]]]]\n---\nb: 1\n', 'm.yaml', { maxDepth: 3 });
    expect(mixed.documents.map((d) => d.object)).toEqual([{ b: 1 }]);
  });

  it('reports documents that are lists or scalars', () => {
    expect(parse('- a\n- b\n').diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_NOT_OBJECT', line: 1, column: 1 }]);
    expect(parse('a: 1\n---\n42\n').diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_NOT_OBJECT', line: 3, column: 1 }]);
  });

  it('warns (does not fail) on an empty or comment-only file', () => {
    for (const text of ['', '\n\n', '# nothing here\n', '---\n---\n', '~\n']) {
      const r = parse(text);
      expect(r.documents).toEqual([]);
      expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_RENDER_EMPTY', severity: 'warning', file: 'm.yaml' })]);
    }
  });

  it('reports bytes that are not UTF-8 at their line and column, and accepts a BOM', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('a: 1\nb: "caf'), 0xe9, 0x22, 0x0a]);
    expect(parse(bytes).diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_SOURCE_BINARY', line: 2, column: 8 }]);
    const overlong = new Uint8Array([0x61, 0x3a, 0x20, 0xc0, 0xaf]);
    expect(codes(parse(overlong))).toEqual(['CAPSTAN_ERR_SOURCE_BINARY']);
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('a: "é"\n')]);
    expect(parse(bom).documents[0].object).toEqual({ a: 'é' });
  });

  it('stops at maxDocuments', () => {
    const r = parse('a: 1\n---\nb: 2\n---\nc: 3\n', 'm.yaml', { maxDocuments: 2 });
    expect(r.documents).toHaveLength(2);
    expect(codes(r)).toEqual(['CAPSTAN_ERR_SOURCE_TOO_LARGE']);
  });

  it('refuses self-referencing aliases and copies shared ones into a plain tree', () => {
    for (const text of ['a: &a [*a]\n', 'a: &x {b: *x}\n']) {
      expect(parse(text).diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_ALIAS_LIMIT', line: 1 }]);
    }
    const o = parse('a: &x {b: 1}\nc: *x\n').documents[0].object as Record<string, { b: number }>;
    expect(o).toEqual({ a: { b: 1 }, c: { b: 1 } });
    expect(o.a).not.toBe(o.c);
    // Expansion through aliases counts towards the depth limit too.
    expect(codes(parse('a: &x [[1]]\nb: [[*x]]\n', 'm.yaml', { maxDepth: 4 }))).toEqual(['CAPSTAN_ERR_RENDER_TOO_DEEP']);
  });

  it('reads keys as strings and refuses collection keys', () => {
    expect(parse('1: a\ntrue: b\n').documents[0].object).toEqual({ '1': 'a', true: 'b' });
    expect(parse('? [a]\n: b\n').diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_RENDER_SYNTAX', line: 1, column: 3 }]);
  });

  it('turns !!binary into base64 text', () => {
    expect(parse('a: !!binary aGk=\n').documents[0].object).toEqual({ a: 'aGk=' });
  });

  it('keeps __proto__ as a plain key', () => {
    const r = parse('__proto__: {polluted: true}\n');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(r.documents[0].object)).toEqual(['__proto__']);
  });
});
