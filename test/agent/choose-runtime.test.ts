// `--runtime auto`: Docker when a daemon answers, plain processes when none does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { chooseRuntime, DockerRuntime, pickRuntime, ProcessRuntime } from '../../src/agent/index.js';
import { silentLogger } from '../../src/common/index.js';
import { dockerSkipReason } from '../helpers/docker.js';

const stateDir = mkdtempSync(join(tmpdir(), 'capstan-choose-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('chooseRuntime', () => {
  it('falls back to processes when no daemon answers', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `unix://${join(stateDir, 'no-daemon.sock')}`;
    try {
      const runtime = await chooseRuntime({ runtime: 'auto', name: 'n1', stateDir }, silentLogger());
      expect(runtime).toBeInstanceOf(ProcessRuntime);
      // Said at warn, with the reason and who pods run as, in the line the console shows too.
      const lines: string[] = [];
      const logger = pino({ level: 'info', base: undefined }, { write: (l: string) => void lines.push(l) });
      const chosen = await pickRuntime({ runtime: 'auto', name: 'n1', stateDir }, logger);
      const who = (chosen.driver as ProcessRuntime).isolation;
      expect(who).toBe(process.getuid?.() === 0 ? 'pods run as user nobody (uid 65534)' : expect.stringMatching(/^pods run as Capstan's own user/));
      expect(chosen.summary).toMatch(new RegExp(`^process \\(--runtime auto: no Docker daemon answers: .*no-daemon\\.sock.*\\); `));
      expect(chosen.summary.endsWith(`; ${who} — see README 'What the process runtime does not isolate'`)).toBe(true);
      const line = JSON.parse(lines.find((l) => l.includes('"runtime: process'))!) as { level: number; msg: string; reason: string };
      expect(line.level).toBe(40);
      expect(line.msg).toBe(`runtime: ${chosen.summary}`);
      expect(line.reason).toMatch(/^--runtime auto: no Docker daemon answers: /);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it.skipIf(dockerSkipReason !== undefined)('uses Docker when the daemon answers', async () => {
    const runtime = await chooseRuntime({ runtime: 'auto', name: 'n1', stateDir }, silentLogger());
    expect(runtime).toBeInstanceOf(DockerRuntime);
  });
});
