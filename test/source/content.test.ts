import { describe, expect, it } from 'vitest';
import { checkText, gitBlobId, normalizeRepoPath } from '../../src/source/index.js';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('text checks', () => {
  it('accepts UTF-8 text, including multi-byte characters', () => {
    expect(checkText(new TextEncoder().encode('name: café ☕ 🚢\n'))).toBeUndefined();
    expect(checkText(bytes())).toBeUndefined();
  });

  it('finds the first bad byte by line and column', () => {
    expect(checkText(bytes(0x61, 0x0a, 0x62, 0x00))).toEqual({ reason: 'nul', line: 2, column: 2 });
    expect(checkText(bytes(0x61, 0x62, 0xff))).toEqual({ reason: 'utf8', line: 1, column: 3 });
    // Overlong "/" and a lone surrogate are not UTF-8 either.
    expect(checkText(bytes(0x0a, 0xc0, 0xaf))).toMatchObject({ reason: 'utf8', line: 2, column: 1 });
    expect(checkText(bytes(0xed, 0xa0, 0x80))).toMatchObject({ reason: 'utf8', line: 1, column: 1 });
    // Truncated sequence at the end.
    expect(checkText(bytes(0x61, 0xe2, 0x98))).toMatchObject({ reason: 'utf8', column: 2 });
  });

  it('computes Git blob ids', () => {
    // `printf 'hello\n' | git hash-object --stdin`
    expect(gitBlobId(new TextEncoder().encode('hello\n'))).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
    expect(gitBlobId(bytes())).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
  });
});

describe('repository paths', () => {
  it('normalises relative paths and refuses ones that escape', () => {
    expect(normalizeRepoPath('./apps//web/')).toBe('apps/web');
    expect(normalizeRepoPath('.')).toBe('');
    expect(normalizeRepoPath('a/../b')).toBe('b');
    expect(() => normalizeRepoPath('a/../../b')).toThrow(/outside/);
    expect(() => normalizeRepoPath('/etc/passwd')).toThrow(/absolute/);
  });
});
