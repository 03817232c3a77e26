// Annotation edits change only the annotation lines: everything else stays byte-for-byte.
import { describe, expect, it } from 'vitest';
import { locateObject, readAnnotations, setAnnotations } from '../../src/gitstatus/index.js';

const SET = { 'capstan.dev/phase': 'Healthy', 'capstan.dev/ready': '3/3' };

const cases: { name: string; file: string; doc?: number; input: string; output: string }[] = [
  {
    name: 'block metadata without annotations, comments between keys',
    file: 'a.yaml',
    input: '# head\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web # the name\n  # between\n  labels:\n    app: web\n\ndata:\n  a: "1"\n',
    output:
      '# head\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web # the name\n  # between\n  labels:\n    app: web\n  annotations:\n    capstan.dev/phase: "Healthy"\n    capstan.dev/ready: "3/3"\n\ndata:\n  a: "1"\n',
  },
  {
    name: 'flow metadata',
    file: 'b.yaml',
    input: 'kind: X\nmetadata: {name: x}\nspec: {}\n',
    output: 'kind: X\nmetadata: {name: x, annotations: {capstan.dev/phase: "Healthy", capstan.dev/ready: "3/3"}}\nspec: {}\n',
  },
  {
    name: 'existing annotations with other keys, four-space indent, a stale value with a comment',
    file: 'c.yaml',
    input: 'kind: X\nmetadata:\n    name: x\n    annotations:\n        other: "1"\n        capstan.dev/phase: Progressing # old\nspec: {}\n',
    output: 'kind: X\nmetadata:\n    name: x\n    annotations:\n        other: "1"\n        capstan.dev/phase: "Healthy" # old\n        capstan.dev/ready: "3/3"\nspec: {}\n',
  },
  {
    name: 'second document, --- separators with comments',
    file: 'd.yaml',
    doc: 1,
    input: 'kind: A\nmetadata:\n  name: a\n--- # second\n# about b\nkind: B\nmetadata:\n  name: b\n---\nkind: C\nmetadata:\n  name: c\n',
    output:
      'kind: A\nmetadata:\n  name: a\n--- # second\n# about b\nkind: B\nmetadata:\n  name: b\n  annotations:\n    capstan.dev/phase: "Healthy"\n    capstan.dev/ready: "3/3"\n---\nkind: C\nmetadata:\n  name: c\n',
  },
  {
    name: 'pretty JSON without annotations',
    file: 'e.json',
    input: '{\n  "kind": "X",\n  "metadata": {\n    "name": "x"\n  },\n  "spec": {}\n}\n',
    output:
      '{\n  "kind": "X",\n  "metadata": {\n    "name": "x",\n    "annotations": {\n      "capstan.dev/phase": "Healthy",\n      "capstan.dev/ready": "3/3"\n    }\n  },\n  "spec": {}\n}\n',
  },
  {
    name: 'pretty JSON with annotations',
    file: 'f.json',
    input: '{\n  "kind": "X",\n  "metadata": {\n    "name": "x",\n    "annotations": {\n      "a": "b"\n    }\n  }\n}',
    output:
      '{\n  "kind": "X",\n  "metadata": {\n    "name": "x",\n    "annotations": {\n      "a": "b",\n      "capstan.dev/phase": "Healthy",\n      "capstan.dev/ready": "3/3"\n    }\n  }\n}',
  },
  {
    name: 'CRLF line endings',
    file: 'g.yaml',
    input: 'kind: X\r\nmetadata:\r\n  name: x\r\n  labels: {a: b}\r\nspec: {}\r\n',
    output: 'kind: X\r\nmetadata:\r\n  name: x\r\n  labels: {a: b}\r\n  annotations:\r\n    capstan.dev/phase: "Healthy"\r\n    capstan.dev/ready: "3/3"\r\nspec: {}\r\n',
  },
  {
    name: 'no final line break',
    file: 'h.yaml',
    input: 'kind: X\nmetadata:\n  name: x',
    output: 'kind: X\nmetadata:\n  name: x\n  annotations:\n    capstan.dev/phase: "Healthy"\n    capstan.dev/ready: "3/3"\n',
  },
  {
    name: 'empty annotations entry',
    file: 'i.yaml',
    input: 'kind: X\nmetadata:\n  name: x\n  annotations:\nspec: {}\n',
    output: 'kind: X\nmetadata:\n  name: x\n  annotations:\n    capstan.dev/phase: "Healthy"\n    capstan.dev/ready: "3/3"\nspec: {}\n',
  },
  {
    name: 'flow annotations inside block metadata',
    file: 'j.yaml',
    input: 'kind: X\nmetadata:\n  name: x\n  annotations: {a: b}\n',
    output: 'kind: X\nmetadata:\n  name: x\n  annotations: {a: b, capstan.dev/phase: "Healthy", capstan.dev/ready: "3/3"}\n',
  },
];

describe('setAnnotations', () => {
  for (const c of cases) {
    it(c.name, () => {
      const out = setAnnotations(c.input, c.file, c.doc ?? 0, SET);
      expect(out).toBe(c.output);
      // Idempotent, and the result reads back.
      expect(setAnnotations(out, c.file, c.doc ?? 0, SET)).toBe(out);
      expect(readAnnotations(out, c.file, c.doc ?? 0)).toMatchObject(SET);
    });
  }

  it('removes keys it is told to, keeping other annotations and the rest of the file', () => {
    const input = 'kind: X\nmetadata:\n  name: x\n  annotations:\n    keep: "1"\n    capstan.dev/phase: "Healthy"\nspec: {}\n';
    expect(setAnnotations(input, 'x.yaml', 0, { 'capstan.dev/phase': undefined })).toBe(
      'kind: X\nmetadata:\n  name: x\n  annotations:\n    keep: "1"\nspec: {}\n',
    );
    // Removing the only entry drops `annotations:` rather than leaving a null.
    const only = 'kind: X\nmetadata:\n  name: x\n  annotations:\n    capstan.dev/phase: "Healthy"\nspec: {}\n';
    expect(setAnnotations(only, 'x.yaml', 0, { 'capstan.dev/phase': undefined })).toBe('kind: X\nmetadata:\n  name: x\nspec: {}\n');
    expect(setAnnotations('kind: X\nmetadata: {name: x, annotations: {capstan.dev/phase: "Healthy"}}\n', 'x.yaml', 0, { 'capstan.dev/phase': undefined })).toBe(
      'kind: X\nmetadata: {name: x, annotations: {}}\n',
    );
  });

  it('quotes values that would otherwise be YAML syntax or other types', () => {
    const input = 'kind: X\nmetadata:\n  name: x\n';
    const tricky = { 'capstan.dev/message': 'a: b # c\n"d"', 'capstan.dev/revision': '4', 'capstan.dev/x': 'true' };
    const out = setAnnotations(input, 'x.yaml', 0, tricky);
    expect(readAnnotations(out, 'x.yaml', 0)).toEqual(tricky);
    expect(out.split('\n').length).toBe(input.split('\n').length + 4);
    const json = setAnnotations('{"kind": "X", "metadata": {"name": "x"}}', 'x.json', 0, tricky);
    expect((JSON.parse(json) as { metadata: { annotations: unknown } }).metadata.annotations).toEqual(tricky);
  });

  it('annotates an item of a List and finds objects that moved', () => {
    const input = 'kind: List\nitems:\n- kind: A\n  metadata:\n    name: a\n- kind: B\n  metadata:\n    name: b\n';
    const loc = locateObject(input, 'l.yaml', { kind: 'B', name: 'b' });
    expect(loc).toEqual({ docIndex: 0, item: 1 });
    const out = setAnnotations(input, 'l.yaml', loc!.docIndex, { 'capstan.dev/phase': 'Healthy' }, loc!.item);
    expect(out).toBe('kind: List\nitems:\n- kind: A\n  metadata:\n    name: a\n- kind: B\n  metadata:\n    name: b\n    annotations:\n      capstan.dev/phase: "Healthy"\n');
    expect(locateObject('kind: A\nmetadata:\n  name: a\n---\nkind: B\nmetadata:\n  name: b\n', 'm.yaml', { kind: 'B', name: 'b' }, { docIndex: 0 })).toEqual({ docIndex: 1 });
    expect(locateObject(input, 'l.yaml', { kind: 'C', name: 'c' })).toBeUndefined();
  });

  it('refuses a document that is not an object, and a file that does not parse', () => {
    expect(() => setAnnotations('- a\n', 'x.yaml', 0, SET)).toThrow(/no object at document 0/);
    expect(() => setAnnotations('kind: X\nmetadata: {name: [\n', 'x.yaml', 0, SET)).toThrow(/not valid YAML/);
  });
});
