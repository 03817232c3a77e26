import { describe, expect, it } from 'vitest';
import { CapstanError, formatDiagnostic, ERROR_CODES, isCapstanError } from '../../src/common/index.js';

describe('error catalog', () => {
  it('formats diagnostics as file:line:col', () => {
    expect(
      formatDiagnostic({ severity: 'error', code: 'CAPSTAN_ERR_API_SCHEMA', message: 'bad', file: 'a.yaml', line: 3, column: 5 }),
    ).toBe('a.yaml:3:5: bad [CAPSTAN_ERR_API_SCHEMA]');
    expect(
      formatDiagnostic({ severity: 'warning', code: 'CAPSTAN_ERR_API_SCHEMA', message: 'odd', file: 'a.yaml' }),
    ).toBe('a.yaml: warning: odd [CAPSTAN_ERR_API_SCHEMA]');
  });

  it('keeps code, location and cause on errors', () => {
    const cause = new Error('inner');
    const err = new CapstanError('CAPSTAN_ERR_SOURCE_GIT', 'outer', { cause, location: { file: 'x.yaml', line: 2 } });
    expect(isCapstanError(err, 'CAPSTAN_ERR_SOURCE_GIT')).toBe(true);
    expect(isCapstanError(err, 'CAPSTAN_ERR_INTERNAL_ERROR')).toBe(false);
    expect(err.cause).toBe(cause);
    expect(err.toDiagnostic()).toMatchObject({ file: 'x.yaml', line: 2, code: 'CAPSTAN_ERR_SOURCE_GIT' });
  });

  it('names every code with the CAPSTAN_ERR_<AREA>_<WHAT> shape', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^CAPSTAN_ERR_[A-Z]+_[A-Z_]+$/);
  });
});
