// docs/errors.md lists exactly the codes that exist, each with its meaning.
// Regenerate the table with: node scripts/errors-doc.mjs > docs/errors.md (after npm run build).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/common/index.js';

describe('docs/errors.md', () => {
  it('documents every error code and no other', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/`(CAPSTAN_ERR_[A-Z_]+)`/g)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(ERROR_CODES).sort());
  });
});
