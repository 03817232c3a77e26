// Pod logs and exec with the Docker runtime: dockerode's logs (demultiplexed, tail) and exec
// (hijacked stream, exit code, stdin, TTY) through the API server and the agent's port.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DockerRuntime, EXEC_PROTOCOL, NodeAgent } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { connect } from '../../src/cli/api-client.js';
import { execPath, runExecSession } from '../../src/cli/commands/exec.js';
import type { CliIO } from '../../src/cli/io.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { TEST_IMAGE, dockerSkipReason, ensureTestImage, removeTestContainers, testDocker } from '../helpers/docker.js';
import { makePod } from './pods.js';

const NODE = 'node-a';
let t: TestApi;
let agent: NodeAgent;
let stateDir: string;
const io: CliIO = { out: () => undefined, err: () => undefined, color: false, env: {}, cwd: '/' };

describe.skipIf(dockerSkipReason !== undefined)('logs and exec with the Docker runtime', () => {
  beforeAll(async () => {
    const docker = testDocker();
    await ensureTestImage(docker);
    await removeTestContainers(NODE, docker);
    t = await startApi();
    stateDir = mkdtempSync(join(tmpdir(), 'capstan-logs-docker-'));
    agent = new NodeAgent({
      server: t.url,
      token: t.tokens.agentA,
      name: NODE,
      runtime: new DockerRuntime({ node: NODE, docker }),
      capacity: { cpu: 2000, memory: 2 ** 31 },
      stateDir,
      heartbeatMs: 300,
      retryBaseMs: 50,
      manager: { resyncMs: 200, orphanGraceMs: 1000 },
    });
    await agent.start();
    const pod: Pod = makePod(
      'box',
      [{ name: 'main', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo out 1; echo err 1 >&2; sleep 1; echo out 2; exec sleep 3600'] }],
      { nodeName: NODE, terminationGracePeriodSeconds: 1 },
    );
    await t.kv.put(`${STORE_PREFIX.pods}default/box`, JSON.stringify(pod));
    await vi.waitFor(
      async () => {
        const kv = await t.kv.get(`${STORE_PREFIX.pods}default/box`);
        expect((JSON.parse(Buffer.from(kv!.value).toString('utf8')) as Pod).status.phase).toBe('Running');
      },
      { timeout: 20_000, interval: 100 },
    );
  }, 40_000);

  afterAll(async () => {
    await agent?.stop({ stopPods: true });
    await t?.close();
    await removeTestContainers(NODE).catch(() => undefined);
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('serves Docker logs, stdout and stderr merged, with tailLines', async () => {
    const path = '/api/v1/namespaces/default/pods/box/log';
    await vi.waitFor(async () => expect((await call(t.url, 'GET', path, { token: t.tokens.viewer })).text.split('\n').sort()).toEqual(['', 'err 1', 'out 1', 'out 2']), {
      timeout: 5000,
      interval: 100,
    });
    expect((await call(t.url, 'GET', `${path}?tailLines=1`, { token: t.tokens.viewer })).text).toBe('out 2\n');
    const stamped = await call(t.url, 'GET', `${path}?tailLines=1&timestamps=true`, { token: t.tokens.viewer });
    expect(stamped.text).toMatch(/^\d{4}-\d\d-\d\dT\S+ out 2\n$/);
  });

  it('runs commands with docker exec: exit codes, stderr, stdin and a TTY', async () => {
    const run = async (command: string[], options: { stdin?: string; tty?: boolean } = {}) => {
      const api = connect(io, { server: t.url, token: t.tokens.deployer });
      const { socket, head } = await api.upgrade(execPath('default', 'box', command, { stdin: options.stdin !== undefined, tty: options.tty === true }), EXEC_PROTOCOL);
      const output = new PassThrough();
      const errors = new PassThrough();
      let stdout = '';
      let stderr = '';
      output.on('data', (c: Buffer) => (stdout += c.toString()));
      errors.on('data', (c: Buffer) => (stderr += c.toString()));
      const input = options.stdin !== undefined ? new PassThrough() : undefined;
      input?.end(options.stdin);
      const exit = await runExecSession(socket, head, { ...(input ? { input } : {}), output, errors });
      return { exit, stdout, stderr };
    };
    expect(await run(['echo', 'hi'])).toMatchObject({ exit: { exitCode: 0 }, stdout: 'hi\n', stderr: '' });
    expect(await run(['sh', '-c', 'echo bad >&2; exit 3'])).toMatchObject({ exit: { exitCode: 3 }, stderr: 'bad\n' });
    expect(await run(['cat'], { stdin: 'from stdin\n' })).toMatchObject({ exit: { exitCode: 0 }, stdout: 'from stdin\n' });
    const tty = await run(['sh', '-c', 'test -t 1 && echo tty'], { tty: true });
    expect(tty.exit).toEqual({ exitCode: 0 });
    expect(tty.stdout).toContain('tty');
  }, 20_000);
});
