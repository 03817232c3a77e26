// Mirror routes (`setMirrorRoute`) against the embedded store and real backends on 127.0.0.1:
// the stable backend answers, the canary sees a copy whose answer is dropped, and a canary
// that never answers does not slow the client down.
import http from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrafficPolicy } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { Router } from '../../src/router/index.js';
import { buildTables, Picker } from '../../src/router/table.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { backend, get, pod, putPod, putPolicy, putService, service, until, type Backend } from './fixtures.js';

let kv: KV;
let router: Router;
let agent: http.Agent;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(async () => {
  kv = await openEmbeddedStore({});
  agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  router = new Router({ kv, logger: silentLogger(), registry: new Registry(), portFor: () => 0, drainMs: 500, pool: { maxSockets: 4 } });
  await router.start();
});

afterEach(async () => {
  agent.destroy();
  await router.stop();
  for (const c of cleanup.splice(0)) await c();
  await kv.close();
});

interface Seen {
  method: string;
  url: string;
  body: string;
  mirror: string | undefined;
}

/** A backend that records each request (with its body) and answers `name`, or never answers when `hang`. */
async function recording(name: string, seen: Seen[], hang = false): Promise<Backend> {
  const b = await backend(name, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), mirror: req.headers['x-capstan-mirror'] as string | undefined });
      if (hang) return;
      res.writeHead(500, { 'x-backend': name });
      res.end(`${name} answer`);
    });
    return true;
  });
  cleanup.push(() => b.close());
  return b;
}

const MIRROR: TrafficPolicy = {
  weights: { stable: 100 },
  stableRevision: 'stable',
  canaryRevision: 'canary',
  mirrorRoutes: [{ name: 'shadow', match: [{ method: { exact: 'POST' }, path: { prefix: '/api' } }, { headers: { 'X-Shadow': { regex: 'y.s' } } }], revision: 'canary' }],
};

async function setup(policy: TrafficPolicy, canarySeen: Seen[], hang = false): Promise<{ address: string; stableSeen: Seen[] }> {
  const stableSeen: Seen[] = [];
  const stable = await backend('stable', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stableSeen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), mirror: req.headers['x-capstan-mirror'] as string | undefined });
      res.writeHead(200, { 'x-backend': 'stable' });
      res.end('stable');
    });
    return true;
  });
  cleanup.push(() => stable.close());
  const canary = await recording('canary', canarySeen, hang);
  await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
  await putPod(kv, pod('web-a', 'stable', stable.port));
  await putPod(kv, pod('web-b', 'canary', canary.port));
  await putPolicy(kv, 'web', policy);
  await until(() => (router.tables('default', 'web')[0]?.mirrors.length ?? 0) > 0 && Object.keys(router.tables('default', 'web')[0]!.backends).length === 2, 'the mirror table');
  await until(() => typeof router.addresses().find((s) => s.name === 'web')?.address === 'string', 'the listener');
  return { address: router.addresses().find((s) => s.name === 'web')!.address as string, stableSeen };
}

function post(address: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host, port: Number(port), path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('mirror routes', () => {
  it('copies matching requests (with their body) to the canary; the client gets the stable answer only', async () => {
    const canarySeen: Seen[] = [];
    const { address, stableSeen } = await setup(MIRROR, canarySeen);
    // Matches the first entry: POST under /api (query string not part of the path).
    const r = await post(address, '/api/orders?x=1', '{"id":7}', { 'content-type': 'application/json' });
    expect(r).toEqual({ status: 200, body: 'stable' });
    // Matches the second entry by header (anchored regex); a GET elsewhere without it does not.
    expect((await get(agent, address, '/other', { 'x-shadow': 'yes' })).body).toBe('stable');
    expect((await get(agent, address, '/api/orders')).body).toBe('stable');
    expect((await get(agent, address, '/other', { 'x-shadow': 'yess' })).body).toBe('stable');
    await until(() => canarySeen.length >= 2, 'the mirrored copies');
    await new Promise((r) => setTimeout(r, 100));
    expect(canarySeen).toEqual([
      { method: 'POST', url: '/api/orders?x=1', body: '{"id":7}', mirror: 'true' },
      { method: 'GET', url: '/other', body: '', mirror: 'true' },
    ]);
    expect(stableSeen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /api/orders?x=1', 'GET /other', 'GET /api/orders', 'GET /other']);
    expect(stableSeen.every((s) => s.mirror === undefined)).toBe(true);
  });

  it('a canary that never answers does not delay the client', async () => {
    const canarySeen: Seen[] = [];
    const { address } = await setup(MIRROR, canarySeen, true);
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) expect(await post(address, '/api/x', 'payload')).toEqual({ status: 200, body: 'stable' });
    expect(Date.now() - t0).toBeLessThan(1000);
    await until(() => canarySeen.length === 5, 'the copies reaching the hanging canary');
  });

  it('does not mirror a body over the limit, and stops once the policy has no mirror route', async () => {
    const canarySeen: Seen[] = [];
    const { address } = await setup(MIRROR, canarySeen);
    const big = Buffer.alloc(1024 * 1024 + 10, 97);
    const r = await post(address, '/api/big', big);
    expect(r.status).toBe(200);
    await post(address, '/api/small', 'x');
    await until(() => canarySeen.length >= 1, 'the small copy');
    await new Promise((r) => setTimeout(r, 100));
    expect(canarySeen.map((s) => s.url)).toEqual(['/api/small']);
    await putPolicy(kv, 'web', { weights: { stable: 100 } });
    await until(() => router.tables('default', 'web')[0]?.mirrors.length === 0, 'the route removed');
    await post(address, '/api/after', 'x');
    await new Promise((r) => setTimeout(r, 150));
    expect(canarySeen.map((s) => s.url)).toEqual(['/api/small']);
  });
});

describe('Picker.mirrorFor', () => {
  const table = (percentage?: number) =>
    buildTables(service('web', [{ port: 80, targetPort: 'http' }]), [pod('a', 'stable', 1001), pod('b', 'canary', 1002)], {
      weights: { stable: 100 },
      mirrorRoutes: [{ name: 'm', ...(percentage === undefined ? {} : { percentage }), match: [{ path: { exact: '/x' } }], revision: 'canary' }],
    })[0]!;

  it('samples matching requests to the percentage, evenly', () => {
    const p = new Picker(table(25));
    const hits = Array.from({ length: 8 }, () => p.mirrorFor('GET', '/x', {})?.revision);
    expect(hits).toEqual([undefined, undefined, undefined, 'canary', undefined, undefined, undefined, 'canary']);
    expect(new Picker(table(0)).mirrorFor('GET', '/x', {})).toBeUndefined();
    expect(new Picker(table()).mirrorFor('GET', '/x?q', {})?.pod).toBe('b');
    expect(new Picker(table()).mirrorFor('GET', '/xy', {})).toBeUndefined();
  });
});
