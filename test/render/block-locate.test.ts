// The line scan must give the full parser's positions whenever it answers, and answer for the
// manifests people write (so validation does not build the full model for every file).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsyaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { BlockLocator } from '../../src/render/block-locate.js';
import { parseManifestFast } from '../../src/render/fast-parse.js';
import type { FieldPath } from '../../src/render/types.js';
import { parseManifestFile } from '../../src/render/yaml.js';

const examples = fileURLToPath(new URL('../../examples-repo/', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

/** Every path into the value, plus paths that stop early: a missing key, an index past the end, a step into a scalar. */
function pathsOf(value: unknown, prefix: FieldPath = [], out: FieldPath[] = []): FieldPath[] {
  out.push(prefix);
  if (Array.isArray(value)) {
    value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
    out.push([...prefix, value.length], [...prefix, 'name']);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
    out.push([...prefix, 'no-such-field'], [...prefix, 0]);
  } else {
    out.push([...prefix, 'deeper']);
  }
  return out;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-1
  namespace: team-1
  labels:
    app: app-1
    app.kubernetes.io/part-of: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app-1
  template:
    metadata:
      labels:
        app: app-1
    spec:
      containers:
        - name: app
          image: registry.local/app-1:1.0.1
          args: ["--port", "8080"]
          env:
          - name: MODE
            value: "a # not a comment"
          - name: TEXT
            value: |
              line one
              key: not a key
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
        -   name: sidecar # two spaces more after the dash
            image: busybox
      volumes: []
`;

const inputs: Record<string, string> = {
  deployment,
  'service with a compact list and comments': `# a service
apiVersion: v1
kind: Service
metadata:
  name: web   # trailing comment
spec:
  selector: {app: web}
  ports:
  # the only port
  - port: 80

    targetPort: 8080
  - name: tls
    port: 443
`,
  'several documents': `a:
  b: 1
---
# second
c:
  - d: 2
    e:
      - 3
      - 4
--- # third
f: "x"
`,
  'indented root': '  a:\n    b: 1\n  c: 2\n',
  'windows line ends': 'a:\r\n  b: 1\r\nc:\r\n  - x\r\n',
  'quoted keys': '"a": 1\nb:\n  "c": 2\n',
  'numeric and boolean keys': '1: a\ntrue: b\nc:\n  0x1F: d\n',
  'multi-line quoted value that looks like keys': 'a: "one\n  b: two"\nc: 1\n',
  'multi-line plain value': 'a: one\n  two\nb:\n  c: three\n    four\n',
  'anchor on a mapping': 'a: &x\n  b: 1\nc: 2\n',
  'tagged value': 'a: !!str 1\nb:\n  c: !!map\n    d: 1\n',
  'item on the next line': 'a:\n  -\n    b: 1\n  - c: 2\n',
  'nested lists': 'a:\n  - - 1\n    - 2\n  - [3]\n',
  'flow mapping in a list': 'a:\n  - {b: 1}\n  - c: 2\n',
  'empty values': 'a:\nb:\n  c:\n  d: ~\n',
  'keys with spaces and colons': 'a b: 1\nc:d: 2\ne: 3\n',
  'block scalars': 'a: >\n  folded\n  text\nb: |-\n  x: y\nc: 1\n',
  json: '{"a": {"b": [1, 2]}}\n',
};

function check(text: string): { answered: number; asked: number } {
  const file = { path: 'x.yaml', content: Buffer.from(text) };
  const full = parseManifestFile(file);
  const fast = parseManifestFast(file);
  const scan = new BlockLocator(text);
  let answered = 0;
  let asked = 0;
  expect(fast.documents.length).toBe(full.documents.length);
  full.documents.forEach((doc, i) => {
    const object = (jsyaml.loadAll(text, undefined, { schema: jsyaml.CORE_SCHEMA })[i] ?? doc.object) as Record<string, unknown>;
    for (const path of pathsOf(doc.object)) {
      const want = doc.locate(path);
      expect(fast.documents[i]!.locate(path), `${JSON.stringify(path)} through parseManifestFast`).toEqual(want);
      const got = scan.locate(object, doc.position, path);
      asked++;
      if (got === undefined) continue;
      answered++;
      expect(got, `${JSON.stringify(path)} from the line scan`).toEqual(want);
    }
  });
  return { answered, asked };
}

describe('BlockLocator', () => {
  it.each(Object.entries(inputs))('%s: the full parser’s positions whenever it answers', (_name, text) => {
    check(text);
  });

  it.each(yamlFiles(examples))('%s: the full parser’s positions whenever it answers', (path) => {
    check(readFileSync(path, 'utf8'));
  });

  it('answers every path of a plain block-style manifest without the full parser', () => {
    const { answered, asked } = check(deployment.replace('args: ["--port", "8080"]\n', '').replace('      volumes: []\n', ''));
    expect(answered).toBe(asked);
  });

  it('does not answer where a line that looks like a key belongs to a quoted value', () => {
    const text = 'a: "one\nb: two"\nc: 1\n';
    const object = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }) as Record<string, unknown>;
    expect(Object.keys(object)).toEqual(['a', 'c']);
    expect(new BlockLocator(text).locate(object, { line: 1, column: 1 }, ['c'])).toBeUndefined();
  });

  it('stops where the full parser stops: a missing field, an index past the end, a scalar', () => {
    const text = 'a:\n  b: 1\n  c:\n    - x: 1\n';
    const object = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }) as Record<string, unknown>;
    const scan = new BlockLocator(text);
    const start = { line: 1, column: 1 };
    expect(scan.locate(object, start, ['a', 'nope'])).toEqual({ line: 1, column: 1 });
    expect(scan.locate(object, start, ['a', 'c', 3])).toEqual({ line: 3, column: 3 });
    expect(scan.locate(object, start, ['a', 'b', 'deeper'])).toEqual({ line: 2, column: 3 });
    expect(scan.locate(object, start, ['a', 'c', 0, 'x'])).toEqual({ line: 4, column: 7 });
  });
});
