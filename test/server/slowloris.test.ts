// The API listener under a slowloris flood: half-open connections from a separate process,
// many source addresses (127.0.0.x) including the one real clients use; /healthz and an
// agent's calls keep answering, an open watch stream survives, and the half-open sockets are
// closed by the headers timeout. Plus the timeouts, caps and accept errors one by one.
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/index.js';
import { addressKey, defaultMaxConnections, maxConnectionsFor, openFilesSoftLimit } from '../../src/server/connections.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';

const open: TestApi[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const t of open.splice(0)) await t.close();
});

async function api(options: Parameters<typeof startApi>[0]): Promise<TestApi> {
  const t = await startApi(options);
  open.push(t);
  return t;
}

function portOf(t: TestApi): number {
  return Number(new URL(t.url).port);
}

/** A GET on a fresh connection (no keep-alive pool), with its latency. */
function freshGet(port: number, path: string, token?: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/** A raw socket that writes `send` and collects what comes back until the server closes it. */
function raw(port: number, send = ''): { closed: Promise<{ data: string; ms: number }>; write(s: string): void; data(): string } {
  const started = performance.now();
  const s = connect({ host: '127.0.0.1', port });
  let data = '';
  s.on('data', (d) => (data += d.toString('latin1')));
  s.on('error', () => {});
  if (send) s.write(send);
  return {
    closed: new Promise((resolve) => s.on('close', () => resolve({ data, ms: performance.now() - started }))),
    write: (x) => s.write(x),
    data: () => data,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function capture(): { logs: () => string; logger: ReturnType<typeof createLogger> } {
  let text = '';
  const destination = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { logs: () => text, logger: createLogger({ level: 'info', destination }) };
}

describe('slowloris flood', () => {
  it('keeps /healthz and agent calls answering through 20,000 half-open connections, then closes them', async () => {
    const MAX = 3000;
    const t = await api({ heartbeatMs: 500, connections: { maxConnections: MAX, headersTimeoutMs: 3000 } });
    const port = portOf(t);
    const watch = await openSse(t.url, '/api/v1/pods?watch=1', { token: t.tokens.agentA });
    expect(watch.status).toBe(200);

    const script = fileURLToPath(new URL('./slowloris-attacker.mjs', import.meta.url));
    const attacker = spawn(process.execPath, [script, '127.0.0.1', String(port), '20000', '40', '1000', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(attacker);
    let report: Record<string, number> | undefined;
    attacker.stdout!.on('data', (d) => (report = JSON.parse(String(d).trim())));

    const latencies: number[] = [];
    const failures: string[] = [];
    let maxOpen = 0;
    let probes = 0;
    const probe = async (): Promise<void> => {
      const n = probes++;
      try {
        const r = n % 2 === 0 ? await freshGet(port, '/healthz') : await freshGet(port, '/api/v1/pods', t.tokens.agentA);
        latencies.push(r.ms);
        if (r.status !== 200) failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push(String(err));
      }
    };
    const inFlight: Promise<void>[] = [];
    const started = Date.now();
    while (!report || Date.now() - started < 3000) {
      if (Date.now() - started > 25_000) throw new Error('the attacker did not finish in time');
      inFlight.push(probe());
      maxOpen = Math.max(maxOpen, t.api.connections.size);
      await sleep(50);
    }
    await Promise.all(inFlight);

    // The flood happened and was shed: most attacking sockets were closed by the server.
    expect(report!.attempted).toBe(20_000);
    expect(report!.connected).toBeGreaterThan(15_000);
    expect(report!.closed).toBeGreaterThan(10_000);
    expect(report!.got503).toBeGreaterThan(1000);
    expect(maxOpen).toBeLessThanOrEqual(MAX);
    const shed = (await t.registry.getSingleMetric('capstan_http_connections_shed_total')!.get()).values;
    expect(shed.reduce((n, v) => n + v.value, 0)).toBeGreaterThan(10_000);

    expect(failures).toEqual([]);
    expect(latencies.length).toBeGreaterThan(40);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
    expect(p99, `probe latencies over 300 ms: ${sorted.filter((l) => l > 300).map(Math.round).join(', ')}`).toBeLessThan(1000);

    // The watch stream opened before the flood is still streaming.
    const beats = watch.comments.length;
    await until('a heartbeat on the watch', () => watch.comments.length > beats, 3000);

    // The attacker is still there, trickling; the headers timeout closes what is left.
    expect(attacker.exitCode).toBeNull();
    await until('the half-open sockets to be closed', () => t.api.connections.pendingCount === 0, 6000);
    const after = await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.admin });
    expect(after.status).toBe(200);
    watch.close();
  }, 45_000);
});

describe('timeouts', () => {
  it('closes a socket that never finishes its headers, or sends nothing, after headersTimeout', async () => {
    const t = await api({ connections: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } });
    const partial = raw(portOf(t), 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const silent = raw(portOf(t));
    const p = await partial.closed;
    expect(p.ms).toBeGreaterThan(400);
    expect(p.ms).toBeLessThan(2000);
    expect(p.data).toMatch(/^HTTP\/1\.1 408/);
    const s = await silent.closed;
    expect(s.ms).toBeGreaterThan(400);
    expect(s.ms).toBeLessThan(2000);
    expect((await call(t.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('keeps a watch stream open far longer than the headers, request and idle timeouts', async () => {
    const t = await api({ heartbeatMs: 200, connections: { headersTimeoutMs: 300, requestTimeoutMs: 500, idleTimeoutMs: 400, keepAliveTimeoutMs: 200 } });
    const watch = await openSse(t.url, '/api/v1/pods?watch=1', { token: t.tokens.agentA });
    expect(watch.status).toBe(200);
    await sleep(2000);
    const beats = watch.comments.length;
    expect(beats).toBeGreaterThanOrEqual(5);
    await until('one more heartbeat', () => watch.comments.length > beats, 1000);
    expect(t.api.connections.size).toBeGreaterThanOrEqual(1);
    watch.close();
  });

  it('lets an authenticated Git push upload for longer than requestTimeout, but not an anonymous one', async () => {
    const gitHttp = async (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> => {
      let n = 0;
      for await (const chunk of req) n += (chunk as Buffer).length;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`received ${n}`);
    };
    const t = await api({ gitHttp, connections: { headersTimeoutMs: 300, requestTimeoutMs: 500, idleTimeoutMs: 2000 } });
    const slowPush = async (authorization?: string): Promise<{ data: string; ms: number }> => {
      const s = raw(portOf(t));
      s.write(
        `POST /git/repo.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\n`,
      );
      for (let i = 0; i < 6; i++) {
        await sleep(250);
        s.write('4\r\npack\r\n');
      }
      s.write('0\r\n\r\n');
      // An answered push keeps its connection (keep-alive); a timed-out one is closed.
      await Promise.race([s.closed, sleep(500)]);
      return { data: s.data(), ms: 0 };
    };
    const basic = `Basic ${Buffer.from(`anyone:${t.tokens.deployer}`).toString('base64')}`;
    const pushed = await slowPush(basic);
    expect(pushed.data).toMatch(/^HTTP\/1\.1 200/);
    expect(pushed.data).toContain('received 24');
    const anonymous = await slowPush();
    expect(anonymous.data).toMatch(/^HTTP\/1\.1 408/);
    const wrong = await slowPush(`Basic ${Buffer.from('anyone:capstan_not-a-token').toString('base64')}`);
    expect(wrong.data).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('connection caps', () => {
  it('per address: closes the oldest pending sockets with a 503, and a new client still gets through', async () => {
    const t = await api({ connections: { maxPendingPerAddress: 5, headersTimeoutMs: 10_000 } });
    const sockets = Array.from({ length: 8 }, () => raw(portOf(t)));
    await until('five pending', () => t.api.connections.pendingCount === 5, 2000);
    for (const s of sockets.slice(0, 3)) {
      const r = await s.closed;
      expect(r.data).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(r.data).toContain('Retry-After: 1');
      expect(r.data).toContain('CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED');
    }
    const ok = await freshGet(portOf(t), '/healthz');
    expect(ok.status).toBe(200);
    expect(t.api.connections.pendingCount).toBeLessThanOrEqual(5);
  });

  it('overall: evicts pending sockets before busy ones, and refuses a new socket with 503 when every one is serving', async () => {
    const { logger, logs } = capture();
    const t = await api({ logger, heartbeatMs: 200, connections: { maxConnections: 2 } });
    const a = await openSse(t.url, '/api/v1/pods?watch=1', { token: t.tokens.agentA });
    const pending = raw(portOf(t));
    await until('a pending socket', () => t.api.connections.pendingCount === 1, 2000);
    const b = await openSse(t.url, '/api/v1/pods?watch=1', { token: t.tokens.agentB });
    expect(b.status).toBe(200);
    expect((await pending.closed).data).toMatch(/^HTTP\/1\.1 503/);
    const refused = await raw(portOf(t), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n').closed;
    expect(refused.data).toMatch(/^HTTP\/1\.1 503/);
    const beats = a.comments.length;
    await until('the first watch still streaming', () => a.comments.length > beats, 2000);
    expect(logs()).toContain('CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED');
    a.close();
    b.close();
  });

  it('logs EMFILE on accept once per burst, frees pending sockets and keeps serving', async () => {
    const { logger, logs } = capture();
    const t = await api({ logger });
    const pending = raw(portOf(t));
    await until('a pending socket', () => t.api.connections.pendingCount === 1, 2000);
    for (let i = 0; i < 50; i++) {
      t.api.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' }));
    }
    expect((await pending.closed).data).toMatch(/^HTTP\/1\.1 503/);
    const warnings = logs()
      .split('\n')
      .filter((l) => l.includes('could not accept'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"code":"CAPSTAN_ERR_SERVER_RESOURCE_EXHAUSTED"');
    expect(warnings[0]).toContain('"errno":"EMFILE"');
    expect((await call(t.url, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('limits', () => {
  it('derives the default cap from the open-files limit', () => {
    expect(openFilesSoftLimit(() => 'Limit  Soft Limit  Hard Limit  Units\nMax open files            20000                20000                files\n')).toBe(20000);
    expect(openFilesSoftLimit(() => 'Max open files            unlimited            unlimited            files\n')).toBeUndefined();
    expect(openFilesSoftLimit(() => { throw new Error('no /proc'); })).toBeUndefined();
    expect(maxConnectionsFor(20000)).toBe(16000);
    expect(maxConnectionsFor(1024)).toBe(768);
    expect(maxConnectionsFor(1_048_576)).toBe(16384);
    expect(maxConnectionsFor(undefined)).toBe(4096);
    expect(defaultMaxConnections()).toBe(maxConnectionsFor(openFilesSoftLimit()));
  });

  it('counts IPv6 clients by their /64', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});
