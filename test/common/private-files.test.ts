// Capstan's own files are private: an older data dir with looser modes is tightened at start,
// with one info line, and what is not Capstan's to change (symlinks, the agent dir) is left alone.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tightenDataDir, tightenModes } from '../../src/common/index.js';

let dir: string;
const mode = (p: string): number => statSync(p).mode & 0o7777;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'capstan-modes-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('private files', () => {
  it('tightens the data dir, its tokens and log to 0700 / 0600 with an info line, once', async () => {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'admin.token'), 't\n', { mode: 0o644 });
    writeFileSync(join(dir, 'capstan.log'), '{}\n', { mode: 0o664 });
    mkdirSync(join(dir, 'source'), { mode: 0o755 });
    mkdirSync(join(dir, 'agent'), { mode: 0o711 });
    const outside = join(dir, 'source', 'shared');
    writeFileSync(outside, 'x', { mode: 0o644 });
    symlinkSync(outside, join(dir, 'link'));
    chmodSync(join(dir, 'capstan.log'), 0o664); // past the umask
    const lines: string[] = [];
    const logger = pino({ level: 'info', base: undefined }, { write: (l: string) => void lines.push(l) });

    const changes = await tightenDataDir(dir, logger);
    expect(changes.map((c) => [c.path, c.from, c.to])).toEqual([
      [dir, 0o755, 0o700],
      [join(dir, 'admin.token'), 0o644, 0o600],
      [join(dir, 'capstan.log'), 0o664, 0o600],
      [join(dir, 'source'), 0o755, 0o700],
    ]);
    expect(mode(join(dir, 'agent'))).toBe(0o711); // the agent sets its own
    expect(mode(outside)).toBe(0o644); // one level only, and never through a link
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: number; msg: string; paths: string[] };
    expect(line.level).toBe(30);
    expect(line.msg).toBe(`tightened the modes of 4 path(s) in ${dir}: group and others had access`);
    expect(line.paths[1]).toBe(`${join(dir, 'admin.token')} 0644 -> 0600`);

    expect(await tightenDataDir(dir, logger)).toEqual([]);
    expect(lines).toHaveLength(1);
  });

  it('walks a whole tree when asked, skipping what it is told to, and ignores a missing path', async () => {
    mkdirSync(join(dir, 'a', 'b'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'a', 'b', 'f'), 'x', { mode: 0o755 });
    mkdirSync(join(dir, 'keep'), { mode: 0o755 });
    chmodSync(dir, 0o700);
    await tightenModes(dir, Infinity, (p) => p === join(dir, 'keep'));
    expect([mode(join(dir, 'a')), mode(join(dir, 'a', 'b')), mode(join(dir, 'a', 'b', 'f')), mode(join(dir, 'keep'))]).toEqual([0o700, 0o700, 0o700, 0o755]);
    expect(await tightenModes(join(dir, 'missing'), Infinity)).toEqual([]);
  });
});
