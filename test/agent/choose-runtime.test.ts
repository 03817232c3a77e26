// `--runtime auto`: Docker when a daemon answers, plain processes when none does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseRuntime, DockerRuntime, ProcessRuntime } from '../../src/agent/index.js';
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
