// Every folder in test/fixtures/bad must produce its expected diagnostic as an error.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findDuplicateObjects, validateDocument } from '../../src/api/index.js';
import type { SourcedObject } from '../../src/api/index.js';
import type { Diagnostic } from '../../src/common/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bad');

interface Expected {
  code: string;
  file: string;
  line: number;
  column?: number;
  description: string;
}

function check(dir: string): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const objects: SourcedObject[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'expected.json') continue;
    const parsed = parseManifestFile({ path: name, content: readFileSync(join(dir, name)) });
    diagnostics.push(...parsed.diagnostics);
    for (const doc of parsed.documents) {
      const v = validateDocument(doc);
      diagnostics.push(...v.diagnostics);
      if (v.object) objects.push(v.object);
    }
  }
  diagnostics.push(...findDuplicateObjects(objects));
  return diagnostics;
}

const cases = readdirSync(ROOT).sort();

describe('bad-input fixtures', () => {
  it('has at least 28 cases, each with expected.json', () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
    for (const c of cases) expect(readdirSync(join(ROOT, c))).toContain('expected.json');
  });

  it.each(cases)('%s', (name) => {
    const dir = join(ROOT, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
    const errors = check(dir).filter((d) => d.severity === 'error');
    const want: Record<string, unknown> = { code: expected.code, file: expected.file, line: expected.line };
    if (expected.column !== undefined) want.column = expected.column;
    expect(errors).toContainEqual(expect.objectContaining(want));
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
  });

  it('never echoes a Secret value', () => {
    const errors = check(join(ROOT, 'secret-bad-base64'));
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.message).not.toContain('hunter2');
  });
});
