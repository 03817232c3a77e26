// Failover on lost endpoints against real sockets on 127.0.0.1: a port that refuses, and a
// listener whose accept queue is full (its connects are never answered, as with a host that
// vanished). The caller gets the good endpoint's answer, the revision split stays exact, the
// dead endpoint is ejected and skipped until its ejection ends.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Router, type RouterOptions } from '../../src/router/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { backend, get, pod, putPod, putPolicy, putService, service, until, type Backend } from './fixtures.js';

let kv: KV;
let agent: http.Agent;
let clock: number;
/** Backends each failed attempt named, from the router's debug log. */
let failures: string[];
const cleanup: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  kv = await openEmbeddedStore({});
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  clock = 1_000_000;
  failures = [];
});

afterEach(async () => {
  agent.destroy();
  for (const c of cleanup.splice(0).reverse()) await c();
  await kv.close();
});

function logger(): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as { msg?: string; backend?: string };
        if ((entry.msg === 'proxied request failed' || entry.msg === 'backend connection failed') && entry.backend) failures.push(entry.backend);
      }
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

async function router(extra: Partial<RouterOptions> = {}): Promise<Router> {
  const r = new Router({
    kv,
    logger: logger(),
    registry: new Registry(),
    portFor: () => 0,
    drainMs: 200,
    timeoutMs: 30_000,
    ejection: { baseMs: 10_000, maxMs: 40_000, now: () => clock },
    ...extra,
  });
  await r.start();
  cleanup.push(() => r.stop());
  return r;
}

async function start(name: string): Promise<Backend> {
  const b = await backend(name);
  cleanup.push(() => b.close());
  return b;
}

/** A port on 127.0.0.1 nothing listens on: connects are refused. */
async function refusingPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A port whose connects hang: a listener (backlog 0) that never accepts, its queue filled by
 * one connection of ours, so the kernel drops further SYNs.
 */
async function hangingPort(): Promise<number> {
  const child: ChildProcess = spawn(
    'python3',
    ['-c', "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => undefined);
  await new Promise<void>((r) => filler.once('connect', () => r()));
  cleanup.push(() => {
    filler.destroy();
    child.kill();
  });
  return port;
}

async function addressOf(r: Router, name: string, endpoints: number): Promise<string> {
  await until(() => {
    const v = r.addresses().find((s) => s.name === name);
    return v !== undefined && v.endpoints.length === endpoints && typeof v.address === 'string';
  }, `${name} with ${endpoints} endpoints`);
  return r.addresses().find((s) => s.name === name)!.address as string;
}

function post(address: string, body: string): Promise<{ status: number; body: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host, port: Number(port), method: 'POST', path: '/echo', headers: { 'content-type': 'text/plain' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    // Chunked, in two writes: streamed, not sent with the headers.
    req.write(body.slice(0, 3));
    setTimeout(() => req.end(body.slice(3)), 20);
  });
}

describe('router failover', () => {
  it('answers from the good endpoint when another refuses, ejects the dead one and skips it until the ejection ends', async () => {
    const r = await router();
    const good = await start('r1-good');
    const dead = await refusingPort();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    // web-a sorts first: the round-robin starts with the dead endpoint.
    await putPod(kv, pod('web-a', 'r1', dead));
    await putPod(kv, pod('web-b', 'r1', good.port));
    const address = await addressOf(r, 'web', 2);

    for (let i = 0; i < 20; i++) {
      const reply = await get(agent, address);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('r1-good');
    }
    const deadId = `127.0.0.1:${dead}`;
    // Tried once, then skipped for the ejection.
    expect(failures).toEqual([deadId]);
    expect(r.ejected()).toEqual({ [deadId]: clock + 10_000 });
    expect(r.stats('default', 'web', 'r1', 60)).toMatchObject({ requests: 20, errors: 0 });

    // Past the ejection it is tried again (and fails over again); the next one lasts twice as long.
    clock += 10_001;
    for (let i = 0; i < 4; i++) expect((await get(agent, address)).status).toBe(200);
    expect(failures).toEqual([deadId, deadId]);
    expect(r.ejected()).toEqual({ [deadId]: clock + 20_000 });
  });

  it('keeps the revision split exact while one endpoint of the stable revision is dead', async () => {
    const r = await router();
    const stable = await start('stable');
    const canary = await start('canary');
    const dead = await refusingPort();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'stable', dead));
    await putPod(kv, pod('web-b', 'stable', stable.port));
    await putPod(kv, pod('web-c', 'canary', canary.port));
    await putPolicy(kv, 'web', { weights: { stable: 90, canary: 10 } });
    await until(() => r.tables('default', 'web')[0]?.weights.canary === 10, 'the policy');
    const address = await addressOf(r, 'web', 3);

    const tally: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const reply = await get(agent, address);
      const key = reply.status === 200 ? reply.body : String(reply.status);
      tally[key] = (tally[key] ?? 0) + 1;
    }
    expect(tally).toEqual({ stable: 180, canary: 20 });
    expect(r.stats('default', 'web', 'stable', 60)).toMatchObject({ requests: 180, errors: 0 });
    expect(r.stats('default', 'web', 'canary', 60)).toMatchObject({ requests: 20, errors: 0 });
    expect(canary.requests).toBe(20);
  });

  it('fails over a connect that is never answered within the connect timeout, well before the request timeout', async () => {
    const r = await router({ connectTimeoutMs: 300 });
    const good = await start('good');
    const hang = await hangingPort();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', hang));
    await putPod(kv, pod('web-b', 'r1', good.port));
    const address = await addressOf(r, 'web', 2);

    const began = Date.now();
    const reply = await get(agent, address);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('good');
    // The request timeout is 30 s; the answer came after one connect timeout.
    expect(Date.now() - began).toBeLessThan(15_000);
    expect(Object.keys(r.ejected())).toEqual([`127.0.0.1:${hang}`]);
    expect((await get(agent, address)).body).toBe('good');
  });

  it('sends a streamed request body whole to the endpoint it fails over to', async () => {
    const r = await router();
    const echo = await backend('echo');
    echo.server.removeAllListeners('request');
    echo.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`got ${Buffer.concat(chunks).toString()}`));
    });
    cleanup.push(() => echo.close());
    const dead = await refusingPort();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', dead));
    await putPod(kv, pod('web-b', 'r1', echo.port));
    const address = await addressOf(r, 'web', 2);
    expect(await post(address, 'hello body')).toEqual({ status: 200, body: 'got hello body' });
    expect(failures).toEqual([`127.0.0.1:${dead}`]);
  });

  it('answers 502 naming the revision when none of its endpoints can be reached, and counts it as its error', async () => {
    const r = await router({ retries: 1 });
    const stable = await start('stable');
    const deadA = await refusingPort();
    const deadB = await refusingPort();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'canary', deadA));
    await putPod(kv, pod('web-b', 'canary', deadB));
    await putPod(kv, pod('web-c', 'stable', stable.port));
    await putPolicy(kv, 'web', { weights: { stable: 50, canary: 50 } });
    await until(() => r.tables('default', 'web')[0]?.weights.canary === 50, 'the policy');
    const address = await addressOf(r, 'web', 3);

    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await get(agent, address));
    const failed = replies.filter((x) => x.status === 502);
    expect(failed).toHaveLength(2);
    expect(replies.filter((x) => x.status === 200 && x.body === 'stable')).toHaveLength(2);
    expect(failed[0].body).toContain('no endpoint of revision canary of service default/web');
    expect(failed[0].body).toContain(`127.0.0.1:${deadA}`);
    expect(failed[0].body).toContain(`127.0.0.1:${deadB}`);
    expect(r.stats('default', 'web', 'canary', 60)).toMatchObject({ requests: 2, errors: 2 });
    // Every canary endpoint ejected: they are still tried (not refused unseen).
    expect(Object.keys(r.ejected()).sort()).toEqual([`127.0.0.1:${deadA}`, `127.0.0.1:${deadB}`].sort());
    expect(failures.length).toBe(4);
  });

  it('relays a TCP connection to another endpoint when the first refuses', async () => {
    const r = await router();
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((res) => echo.listen(0, '127.0.0.1', res));
    cleanup.push(() => new Promise<void>((res) => echo.close(() => res())));
    const dead = await refusingPort();
    await putService(kv, service('db', [{ name: 'tcp', port: 5432, targetPort: 'http' }], { app: 'web' }));
    await putPod(kv, pod('web-a', 'r1', dead));
    await putPod(kv, pod('web-b', 'r1', (echo.address() as AddressInfo).port));
    const [host, port] = (await addressOf(r, 'db', 2)).split(':');
    const said = await new Promise<string>((resolve, reject) => {
      const c = net.connect(Number(port), host, () => c.end('ping'));
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    expect(said).toBe('ping');
    expect(failures).toEqual([`127.0.0.1:${dead}`]);
  });
});
