// The router against the embedded store and real backends on 127.0.0.1: errors and their
// metrics, connection failures, draining, keep-alive reuse, following the store, TCP.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { Router } from '../../src/router/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { backend, get, load, pod, putPod, putPolicy, putService, service, until, type Backend } from './fixtures.js';

let kv: KV;
let router: Router;
let registry: Registry;
let agent: http.Agent;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(async () => {
  kv = await openEmbeddedStore({});
  registry = new Registry();
  agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  router = new Router({ kv, logger: silentLogger(), registry, portFor: () => 0, drainMs: 2000, pool: { maxSockets: 4 } });
  await router.start();
});

afterEach(async () => {
  agent.destroy();
  await router.stop();
  for (const c of cleanup.splice(0)) await c();
  await kv.close();
});

async function start(name: string, handler?: Parameters<typeof backend>[1]): Promise<Backend> {
  const b = await backend(name, handler);
  cleanup.push(() => b.close());
  return b;
}

async function addressOf(name: string, endpoints: number): Promise<string> {
  await until(() => {
    const v = router.addresses().find((s) => s.name === name);
    return v !== undefined && v.endpoints.length === endpoints && typeof v.address === 'string';
  }, `${name} with ${endpoints} endpoints`);
  return router.addresses().find((s) => s.name === name)!.address as string;
}

describe('router', () => {
  it('counts 5xx answers as errors of their revision, in Prometheus and in the window', async () => {
    const good = await start('stable');
    const bad = await start('canary', (req, res) => {
      req.resume();
      res.writeHead(500);
      res.end('boom');
      return true;
    });
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'stable', good.port));
    await putPod(kv, pod('web-b', 'canary', bad.port));
    await putPolicy(kv, 'web', { weights: { stable: 80, canary: 20 } });
    await until(() => router.tables('default', 'web')[0]?.weights.canary === 20, 'the policy');
    const address = await addressOf('web', 2);
    expect(await load(agent, address, 100, 4)).toEqual({ stable: 80, '500': 20 });

    const canary = router.stats('default', 'web', 'canary', 60);
    expect(canary).toMatchObject({ requests: 20, errors: 20, successRate: 0 });
    expect(canary.p99).toBeGreaterThan(0);
    expect(router.stats('default', 'web', 'stable', 60)).toMatchObject({ requests: 80, errors: 0, successRate: 1 });
    expect(router.stats('default', 'web', 'missing', 60).successRate).toBeNaN();
    expect(router.statsFor('web', 'canary', 60)).toMatchObject({ requests: 20, errors: 20 });
    expect(router.statsFor('default/web', 'missing', 60)).toBeUndefined();
    const text = await registry.metrics();
    expect(text).toContain('capstan_router_requests_total{service="default/web",revision="canary",code="500"} 20');
    expect(text).toContain('capstan_router_request_errors_total{service="default/web",revision="canary"} 20');
    expect(text).toMatch(/capstan_router_request_duration_seconds_count\{service="default\/web",revision="stable"\} 80/);
    expect(router.addresses()).toEqual([
      { namespace: 'default', name: 'web', address, endpoints: [`127.0.0.1:${good.port}`, `127.0.0.1:${bad.port}`].sort(), weights: { stable: 80, canary: 20 } },
    ]);
  });

  it('answers 502 for a dead backend and counts it as an error', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-dead', 'r1', port));
    const address = await addressOf('web', 1);
    const r = await get(agent, address);
    expect(r.status).toBe(502);
    expect(router.stats('default', 'web', 'r1', 60)).toMatchObject({ requests: 1, errors: 1 });
    expect(await registry.metrics()).toContain('capstan_router_requests_total{service="default/web",revision="r1",code="502"} 1');
  });

  it('lets an in-flight request to a removed endpoint finish, and sends it nothing new', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let slowStarted = false;
    const slow = await start('old', (req, res) => {
      if (req.url !== '/slow') return false;
      slowStarted = true;
      req.resume();
      void gate.then(() => {
        res.writeHead(200);
        res.end('old-slow');
      });
      return true;
    });
    const fresh = await start('new');
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-old', 'r1', slow.port));
    const address = await addressOf('web', 1);
    const inFlight = get(agent, address, '/slow');
    await until(() => slowStarted, 'the slow request to reach the backend');

    // The old pod goes away (not ready), a new one comes: the table changes mid-request.
    await putPod(kv, pod('web-old', 'r1', slow.port, { ready: false }));
    await putPod(kv, pod('web-new', 'r2', fresh.port));
    await until(() => router.tables('default', 'web')[0]?.backends.r1 === undefined && router.tables('default', 'web')[0]?.backends.r2 !== undefined, 'the new table');
    const before = slow.requests;
    expect(await load(agent, address, 20, 2)).toEqual({ new: 20 });
    expect(slow.requests).toBe(before);
    expect(router.inFlight()[`127.0.0.1:${slow.port}`]).toBe(1);

    release();
    expect(await inFlight).toMatchObject({ status: 200, body: 'old-slow' });
    // Drained: the old backend's pool is closed once its last request ended.
    await until(() => router.inFlight()[`127.0.0.1:${slow.port}`] === undefined, 'the old pool to close');
  });

  it('reuses keep-alive connections to backends', async () => {
    const b = await start('one');
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', b.port));
    const address = await addressOf('web', 1);
    expect(await load(agent, address, 400, 4)).toEqual({ one: 400 });
    expect(b.requests).toBe(400);
    // About the pool's maxSockets (4; slack for a socket closed while idle), not one per request.
    expect(b.connections).toBeGreaterThan(0);
    expect(b.connections).toBeLessThanOrEqual(8);
  });

  it('follows the store: a pod that becomes ready gets traffic, a deleted Service stops listening', async () => {
    const a = await start('a');
    const b = await start('b');
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', a.port));
    await putPod(kv, pod('web-b', 'r1', b.port, { ready: false }));
    const address = await addressOf('web', 1);
    expect(await load(agent, address, 10, 1)).toEqual({ a: 10 });
    await putPod(kv, pod('web-b', 'r1', b.port));
    await addressOf('web', 2);
    expect(await load(agent, address, 10, 1)).toEqual({ a: 5, b: 5 });

    await kv.delete(`${STORE_PREFIX.desired}Service/default/web`);
    await until(() => router.addresses().length === 0, 'the service to go');
    await router.settled();
    agent.destroy();
    agent = new http.Agent({ keepAlive: true });
    await until(async () => {
      try {
        await get(agent, address);
        return false;
      } catch {
        return true;
      }
    }, 'the listener to close');
  });

  it('answers 503 while a Service has no ready endpoint', async () => {
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await until(() => typeof router.addresses()[0]?.address === 'string', 'the listener');
    const address = router.addresses()[0].address as string;
    expect((await get(agent, address)).status).toBe(503);
  });

  it('answers 504 when a backend sends nothing within the timeout, and counts it', async () => {
    const silent = await start('silent', (req) => {
      req.resume();
      return true; // never answers
    });
    const quick = new Router({ kv, logger: silentLogger(), registry: new Registry(), portFor: () => 0, timeoutMs: 200, drainMs: 100 });
    cleanup.push(() => quick.stop());
    await quick.start();
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', silent.port));
    await until(() => quick.addresses()[0]?.endpoints.length === 1 && typeof quick.addresses()[0]?.address === 'string', 'the listener');
    const r = await get(agent, quick.addresses()[0].address as string);
    expect(r.status).toBe(504);
    expect(quick.stats('default', 'web', 'r1', 60)).toMatchObject({ requests: 1, errors: 1 });
  });

  it('streams request bodies through and drops hop-by-hop headers', async () => {
    const echo = await start('echo', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'x-saw': JSON.stringify({ secret: req.headers['x-secret'] ?? null, te: req.headers.te ?? null, keep: req.headers['x-keep'] }) });
        res.end(Buffer.concat(chunks));
      });
      return true;
    });
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    await putPod(kv, pod('web-a', 'r1', echo.port));
    const [host, port] = (await addressOf('web', 1)).split(':');
    const body = 'y'.repeat(200_000);
    const reply = await new Promise<{ status: number; body: string; saw: string }>((resolve, reject) => {
      const req = http.request(
        { agent, host, port: Number(port), method: 'POST', path: '/upload', headers: { connection: 'keep-alive, x-secret', 'x-secret': 's', te: 'trailers', 'x-keep': 'k' } },
        (res) => {
          let got = '';
          res.on('data', (d: Buffer) => (got += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: got, saw: String(res.headers['x-saw']) }));
        },
      );
      req.on('error', reject);
      // Chunked, in pieces: the router must stream it, not wait for a length.
      for (let i = 0; i < body.length; i += 50_000) req.write(body.slice(i, i + 50_000));
      req.end();
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(body);
    expect(JSON.parse(reply.saw)).toEqual({ secret: null, te: null, keep: 'k' });
  });

  it('relays plain TCP for ports marked tcp', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => echo.close(() => r())));
    const port = (echo.address() as AddressInfo).port;
    await putService(kv, service('db', [{ name: 'tcp-db', port: 5432, targetPort: 'http' }]));
    await putPod(kv, pod('db-0', 'r1', port));
    const [host, listen] = (await addressOf('db', 1)).split(':');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(listen), host, () => s.end('ping'));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    expect(reply).toBe('ping');
    await until(() => router.stats('default', 'db', 'r1', 60).requests === 1, 'the connection to be counted');
    expect(router.stats('default', 'db', 'r1', 60).errors).toBe(0);
  });
});
