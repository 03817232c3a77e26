// The fast path must be indistinguishable from the full parser: same objects, same document
// positions, same field positions, same diagnostics.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseManifestFast } from '../../src/render/fast-parse.js';
import { parseManifestFile } from '../../src/render/yaml.js';

const examples = fileURLToPath(new URL('../../examples-repo/', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

const inputs: Record<string, string> = {
  'leading comments and directive': '# top\n%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n',
  'several documents': 'a: 1\n---\n# note\nb:\n  c: [1, 2]\n--- # trailing comment\nd: "x"\n',
  'inline document after ---': '--- {a: 1}\n--- {b: 2}\n',
  'json file': '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}',
  'yaml 1.2 scalars stay strings': 'when: 2024-01-01\nflag: yes\nswitch: on\nn: 010\nhex: 0x1F\nf: 1.5e3\nnull1: ~\n',
  'indented first key': '  a: 1\n  b: 2\n',
  'duplicate key': 'a: 1\na: 2\n',
  alias: 'base: &b {x: 1}\nother: *b\n',
  'syntax error': 'a: "unclosed\n',
  'tab indentation': 'a:\n\tb: 1\n',
  'empty document in the middle': 'a: 1\n---\n---\nb: 2\n',
  'a list document': '- 1\n- 2\n',
  'only comments': '# nothing here\n',
  list: 'kind: List\nitems:\n  - {kind: ConfigMap, metadata: {name: x}}\n',
};

function strip(r: ReturnType<typeof parseManifestFile>) {
  return {
    diagnostics: r.diagnostics,
    documents: r.documents.map((d) => ({ index: d.index, position: d.position, object: d.object })),
  };
}

describe('parseManifestFast', () => {
  it.each(Object.entries(inputs))('%s: same result as the full parser', (_name, text) => {
    const file = { path: 'x.yaml', content: Buffer.from(text) };
    expect(strip(parseManifestFast(file))).toEqual(strip(parseManifestFile(file)));
  });

  it.each(yamlFiles(examples))('%s: same objects, positions and field positions', (path) => {
    const file = { path, content: readFileSync(path) };
    const fast = parseManifestFast(file);
    const full = parseManifestFile(file);
    expect(strip(fast)).toEqual(strip(full));
    for (let i = 0; i < full.documents.length; i++) {
      for (const field of [['metadata', 'name'], ['spec'], ['kind'], ['spec', 'template', 'spec', 'containers', 0, 'image']]) {
        expect(fast.documents[i]!.locate(field)).toEqual(full.documents[i]!.locate(field));
      }
    }
  });
});
