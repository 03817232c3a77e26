// Pod logs and exec end to end with the process runtime: a real API server and store on
// 127.0.0.1, a node agent with its own port, the CLI's client code talking to the server,
// which proxies to the agent with the node's proxy secret.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXEC_PROTOCOL, NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type NodeInfo, type Pod } from '../../src/api/cluster.js';
import { connect } from '../../src/cli/api-client.js';
import { execPath, runExecSession } from '../../src/cli/commands/exec.js';
import { runLogs } from '../../src/cli/commands/logs.js';
import type { CliIO } from '../../src/cli/io.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';
import { PassThrough } from 'node:stream';

// Prints three lines, then "late" once the trigger file exists; stays up until SIGTERM.
const PRINTER = `
const fs = require('fs');
console.log('line 1'); console.log('line 2'); console.log('line 3');
const t = setInterval(() => { if (fs.existsSync(process.env.TRIGGER)) { console.log('late'); clearInterval(t); } }, 50);
setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => process.exit(0));
`;

// Counts its starts in its working dir (kept across restarts): the first run exits 1.
const CRASHER = `
const fs = require('fs');
let n = 0; try { n = Number(fs.readFileSync('count', 'utf8')); } catch {}
n++; fs.writeFileSync('count', String(n));
console.log('boot ' + n);
if (n === 1) process.exit(1);
setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => process.exit(0));
`;

let t: TestApi;
let stateDir: string;
let agent: NodeAgent;
const trigger = join(tmpdir(), `capstan-logs-trigger-${process.pid}-${Date.now()}`);

function ioFor(): CliIO & { text: () => string; errText: () => string } {
  let out = '';
  let err = '';
  return { out: (s) => void (out += s), err: (s) => void (err += s), color: false, env: {}, cwd: '/', text: () => out, errText: () => err };
}

function pod(name: string, script: string, env: Record<string, string> = {}): Pod {
  return makePod(
    name,
    [{ name: 'main', image: 'node', command: [process.execPath, '-e', script], env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })) }],
    { nodeName: 'node-a', terminationGracePeriodSeconds: 2 },
  );
}

async function stored(name: string): Promise<Pod | undefined> {
  const kv = await t.kv.get(`${STORE_PREFIX.pods}default/${name}`);
  return kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as Pod) : undefined;
}

const logPath = (p: string, q = '') => `/api/v1/namespaces/default/pods/${p}/log${q}`;

beforeAll(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-logs-exec-'));
  agent = new NodeAgent({
    server: t.url,
    token: t.tokens.agentA,
    name: 'node-a',
    runtime: new ProcessRuntime({ stateDir, node: 'node-a', user: null }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 100, orphanGraceMs: 1000, backoff: { initialMs: 100, maxMs: 200 } },
  });
  await agent.start();
  await t.kv.put(`${STORE_PREFIX.pods}default/printer`, JSON.stringify(pod('printer', PRINTER, { TRIGGER: trigger })));
  await t.kv.put(`${STORE_PREFIX.pods}default/crasher`, JSON.stringify(pod('crasher', CRASHER)));
  await vi.waitFor(async () => expect((await stored('printer'))?.status.phase).toBe('Running'), { timeout: 10_000, interval: 50 });
}, 20_000);

afterAll(async () => {
  await agent?.stop({ stopPods: true });
  await t?.close();
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(trigger, { force: true });
});

describe('pod logs through the API server', () => {
  it('reports the agent port in the node record and never serves the proxy secret', async () => {
    const node = (await call(t.url, 'GET', '/api/v1/nodes/node-a', { token: t.tokens.admin })).json as NodeInfo;
    expect(node.status.daemonEndpoints?.kubeletEndpoint.port).toBe(agent.agentEndpoint!.port);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
    const secret = Buffer.from((await t.kv.get(`${STORE_PREFIX.proxySecrets}node-a`))!.value).toString('utf8');
    expect(secret.length).toBeGreaterThanOrEqual(32);
    for (const path of ['/api/v1/nodes', '/api/v1/nodes/node-a']) {
      expect((await call(t.url, 'GET', path, { token: t.tokens.admin })).text).not.toContain(secret);
    }
  });

  it('serves the whole log and the last N lines, to viewers but not to agents', async () => {
    await vi.waitFor(async () => expect((await call(t.url, 'GET', logPath('printer'), { token: t.tokens.viewer })).text).toBe('line 1\nline 2\nline 3\n'), {
      timeout: 5000,
      interval: 50,
    });
    const tail = await call(t.url, 'GET', logPath('printer', '?tailLines=2'), { token: t.tokens.deployer });
    expect(tail.status).toBe(200);
    expect(tail.text).toBe('line 2\nline 3\n');
    expect(tail.headers.get('content-type')).toMatch(/^text\/plain/);
    const agentRead = await call(t.url, 'GET', logPath('printer'), { token: t.tokens.agentA });
    expect(agentRead.status).toBe(403);
    expect(agentRead.json.error.code).toBe('CAPSTAN_ERR_AUTH_FORBIDDEN');
    const missing = await call(t.url, 'GET', logPath('nope'), { token: t.tokens.viewer });
    expect(missing.status).toBe(404);
    const badContainer = await call(t.url, 'GET', logPath('printer', '?container=other'), { token: t.tokens.viewer });
    expect(badContainer.status).toBe(400);
    expect(badContainer.json.error.code).toBe('CAPSTAN_ERR_API_CONTAINER_NAME');
  });

  it('says so when the pod is not bound to a node yet', async () => {
    const pending = makePod('pending', [{ name: 'main', image: 'node', command: ['true'] }]);
    await t.kv.put(`${STORE_PREFIX.pods}default/pending`, JSON.stringify(pending));
    const r = await call(t.url, 'GET', logPath('pending'), { token: t.tokens.viewer });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('CAPSTAN_ERR_API_POD_NOT_BOUND');
  });

  it('follows the log: a line written later arrives on the open stream', async () => {
    const abort = new AbortController();
    const res = await fetch(new URL(logPath('printer', '?follow=true'), t.url), { headers: { authorization: `Bearer ${t.tokens.viewer}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('line 3\n');
    expect(text).not.toContain('late');
    writeFileSync(trigger, '');
    await readUntil('late\n');
    expect(text).toBe('line 1\nline 2\nline 3\nlate\n');
    abort.abort();
  });

  it('keeps the previous container of a restarted one for --previous', async () => {
    await vi.waitFor(async () => expect((await stored('crasher'))?.status.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 50 });
    await vi.waitFor(async () => expect((await call(t.url, 'GET', logPath('crasher'), { token: t.tokens.viewer })).text).toBe('boot 2\n'), { timeout: 5000, interval: 50 });
    const previous = await call(t.url, 'GET', logPath('crasher', '?previous=true'), { token: t.tokens.viewer });
    expect(previous.status).toBe(200);
    expect(previous.text).toBe('boot 1\n');
    // The printer never restarted: kubectl's words.
    const none = await call(t.url, 'GET', logPath('printer', '?previous=true'), { token: t.tokens.viewer });
    expect(none.status).toBe(404);
    expect(none.json.error.message).toContain('previous terminated container "main" in pod "printer" not found');
  });

  it('capstan logs prints the tail and warns about what the process runtime cannot do', async () => {
    const io = ioFor();
    await runLogs(io, 'printer', { server: t.url, token: t.tokens.viewer, tail: 1, since: '5m' });
    expect(io.text()).toMatch(/^(line 3|late)\n$/);
    expect(io.errText()).toContain('Warning: the process runtime keeps no time per line: sinceSeconds is ignored');
  });
});

describe('exec through the API server', () => {
  async function exec(token: string, command: string[], input?: string): Promise<{ exit: { exitCode?: number; error?: string }; stdout: string; stderr: string }> {
    const api = connect(ioFor(), { server: t.url, token });
    const { socket, head } = await api.upgrade(execPath('default', 'printer', command, { stdin: input !== undefined }), EXEC_PROTOCOL);
    const output = new PassThrough();
    const errors = new PassThrough();
    let stdout = '';
    let stderr = '';
    output.on('data', (c: Buffer) => (stdout += c.toString()));
    errors.on('data', (c: Buffer) => (stderr += c.toString()));
    const stdin = input !== undefined ? new PassThrough() : undefined;
    if (stdin) stdin.end(input);
    const exit = await runExecSession(socket, head, { ...(stdin ? { input: stdin } : {}), output, errors });
    return { exit, stdout, stderr };
  }

  it('runs a command in the container with its exit code and output', async () => {
    const hi = await exec(t.tokens.deployer, ['echo', 'hi']);
    expect(hi).toMatchObject({ exit: { exitCode: 0 }, stdout: 'hi\n' });
    const three = await exec(t.tokens.admin, ['sh', '-c', 'echo oops >&2; exit 3']);
    expect(three).toMatchObject({ exit: { exitCode: 3 }, stderr: 'oops\n' });
    // The container's environment and working dir.
    const env = await exec(t.tokens.admin, ['sh', '-c', 'echo "$TRIGGER"; pwd']);
    expect(env.stdout).toBe(`${trigger}\n${join(stateDir, 'pods', 'default', 'printer', 'work')}\n`);
    // stdin, ended by an empty frame.
    const cat = await exec(t.tokens.admin, ['cat'], 'piped in\n');
    expect(cat).toMatchObject({ exit: { exitCode: 0 }, stdout: 'piped in\n' });
  });

  it('refuses a viewer (403) and a TTY on the process runtime', async () => {
    const api = connect(ioFor(), { server: t.url, token: t.tokens.viewer });
    await expect(api.upgrade(execPath('default', 'printer', ['echo', 'hi'], {}), EXEC_PROTOCOL)).rejects.toMatchObject({ context: { status: 403, code: 'CAPSTAN_ERR_AUTH_FORBIDDEN' } });
    const admin = connect(ioFor(), { server: t.url, token: t.tokens.admin });
    await expect(admin.upgrade(execPath('default', 'printer', ['sh'], { tty: true }), EXEC_PROTOCOL)).rejects.toMatchObject({ context: { status: 400, code: 'CAPSTAN_ERR_AGENT_EXEC' } });
  });

  it('the agent port refuses anything but the proxy secret', async () => {
    const base = `http://127.0.0.1:${agent.agentEndpoint!.port}`;
    const path = '/pods/default/printer/containers/main/logs';
    expect((await call(base, 'GET', path)).status).toBe(401);
    const wrong = await call(base, 'GET', path, { token: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('CAPSTAN_ERR_AGENT_PROXY_AUTH');
    // An API token is no proxy secret either.
    expect((await call(base, 'GET', path, { token: t.tokens.admin })).status).toBe(401);
    const secret = Buffer.from((await t.kv.get(`${STORE_PREFIX.proxySecrets}node-a`))!.value).toString('utf8');
    const right = await call(base, 'GET', path, { token: secret });
    expect(right.status).toBe(200);
    expect(right.text).toContain('line 1\n');
  });
});
