// `capstan agent` option parsing, and one run against a real API server on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentOptions, runAgentCommand } from '../../src/cli/commands/agent.js';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { startApi } from '../helpers/api.js';

describe('capstan agent options', () => {
  it('parses the contract flags', () => {
    const p = parseAgentOptions(
      { server: 'http://127.0.0.1:9999', token: 'tok', name: 'node-1', runtime: 'process', labels: 'zone=a,disk=ssd', capacity: 'cpu=2,memory=4Gi', stateDir: 'st' },
      {},
      '/tmp/x',
    );
    expect(p).toEqual({
      server: 'http://127.0.0.1:9999',
      token: 'tok',
      name: 'node-1',
      runtime: 'process',
      labels: { zone: 'a', disk: 'ssd' },
      capacity: { cpu: 2000, memory: 4 * 1024 ** 3, pods: 110 },
      stateDir: '/tmp/x/st',
      allowPrivileged: false,
      listen: { host: '127.0.0.1', port: 0 },
    });
    expect(parseAgentOptions({ name: 'n', token: 't', listen: '0.0.0.0:10250' }, {}, '/').listen).toEqual({ host: '0.0.0.0', port: 10250 });
    expect(() => parseAgentOptions({ name: 'n', token: 't', listen: 'nope' }, {}, '/')).toThrow(/--listen takes HOST:PORT/);
    expect(parseAgentOptions({ name: 'n', token: 't', allowPrivileged: true }, {}, '/')).toMatchObject({ allowPrivileged: true });
    const fromEnv = parseAgentOptions({ name: 'n' }, { CAPSTAN_TOKEN: 'e', CAPSTAN_SERVER: 'http://127.0.0.1:1' }, '/');
    expect(fromEnv).toMatchObject({ token: 'e', server: 'http://127.0.0.1:1', runtime: 'auto' });
  });

  it('refuses bad flags with usage errors that name the flag', () => {
    const bad = (opts: Parameters<typeof parseAgentOptions>[0]) => {
      try {
        parseAgentOptions(opts, {}, '/');
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error('accepted');
    };
    expect(bad({ name: 'n' })).toMatchObject({ code: 'CAPSTAN_ERR_CLI_USAGE', message: expect.stringContaining('--token') });
    expect(bad({ token: 't' }).message).toContain('--name');
    expect(bad({ token: 't', name: 'n', runtime: 'vm' }).message).toContain('--runtime');
    expect(bad({ token: 't', name: 'n', labels: 'zone' }).message).toContain('--labels');
    expect(bad({ token: 't', name: 'n', capacity: 'cpu=lots' }).message).toContain('--capacity');
    expect(bad({ token: 't', name: 'n', capacity: 'gpu=1' }).message).toContain('--capacity');
    expect(bad({ token: 't', name: 'n', server: 'ftp://x' }).message).toContain('--server');
  });

  it('runs an agent that registers its node until stopped', async () => {
    const t = await startApi();
    const dir = mkdtempSync(join(tmpdir(), 'capstan-agent-cli-'));
    const abort = new AbortController();
    const printed: string[] = [];
    try {
      const run = runAgentCommand(
        { out: (s) => printed.push(s), err: (s) => printed.push(s), color: false, env: {}, cwd: dir },
        { server: t.url, token: t.tokens.agentA, name: 'node-a', runtime: 'process', labels: 'zone=a', capacity: 'cpu=1,memory=1Gi', signal: abort.signal, logger: silentLogger(), onStarted: () => abort.abort() },
      );
      await run;
      const node = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.nodes}node-a`))!.value).toString('utf8'));
      expect(node).toMatchObject({ labels: { zone: 'a' }, capacity: { cpu: 1000, memory: 1024 ** 3 }, runtime: 'process' });
      expect(printed.join('')).toContain('node node-a registered');
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
