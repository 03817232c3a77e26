// Every bad-input fixture fails `capstan validate` with its code at its file:line:col, exit 1,
// one clear line per problem and no stack trace.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBin, runCli } from '../helpers/cli.js';

const root = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

interface Expected {
  code: string;
  file: string;
  line?: number;
  column?: number;
  description?: string;
}

function expectedLocation(e: Expected): string {
  return `${e.file}${e.line !== undefined ? `:${e.line}` : ''}${e.column !== undefined ? `:${e.column}` : ''}:`;
}

describe('bad-input fixtures through `capstan validate`', () => {
  it('has at least 28 committed cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
  });

  it.each(cases)('%s', async (name) => {
    const dir = join(root, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
    // Every file of the case but its expectation, named on the command line as a user would.
    const files = readdirSync(dir).filter((f) => f !== 'expected.json').sort();
    const r = await runCli(['validate', ...files], { cwd: dir });
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    const hit = lines.find((l) => l.startsWith(expectedLocation(expected)) && l.includes(`[${expected.code}]`));
    expect(hit, `expected ${expectedLocation(expected)} … [${expected.code}] in:\n${r.stderr}`).toBeDefined();
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  });

  it('the real binary exits 1 without a stack trace', () => {
    const r = runBin(['validate', join(root, cases[0]!)]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('    at ');
  });
});
