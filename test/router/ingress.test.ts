// The Ingress listener and node ports against the embedded store and real backends on
// 127.0.0.1: host and path rules, wildcard hosts, Exact vs Prefix, the default backend,
// exact canary weights through an Ingress, HTTPS with SNI from kubernetes.io/tls Secrets.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { allocateNodePorts, IngressTable, Router, type RouterEvent } from '../../src/router/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { haveOpenssl, selfSigned } from '../helpers/tls.js';
import { backend, get, pod, putPod, putPolicy, until, type Backend } from './fixtures.js';

let kv: KV;
let router: Router;
let agent: http.Agent;
let events: RouterEvent[];
const cleanup: (() => Promise<void>)[] = [];

beforeEach(async () => {
  kv = await openEmbeddedStore({});
  agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  events = [];
  router = new Router({
    kv,
    logger: silentLogger(),
    registry: new Registry(),
    portFor: () => 0,
    nodePortFor: () => 0,
    nodePortAddresses: ['127.0.0.1', '127.0.0.1'],
    ingress: { httpPort: 0, httpsPort: 0 },
    onEvent: (e) => events.push(e),
    drainMs: 100,
  });
  await router.start();
});

afterEach(async () => {
  agent.destroy();
  await router.stop();
  for (const c of cleanup.splice(0)) await c();
  await kv.close();
});

async function start(name: string): Promise<Backend> {
  const b = await backend(name);
  cleanup.push(() => b.close());
  return b;
}

async function put(kind: string, object: { metadata: { name: string; namespace?: string } } & Record<string, unknown>): Promise<void> {
  const ns = object.metadata.namespace ?? 'default';
  await kv.put(`${STORE_PREFIX.desired}${kind}/${ns}/${object.metadata.name}`, JSON.stringify({ object, source: { path: 'x.yaml' }, commit: 'abc' }));
}

/** A Service `name` selecting app=name, one port 80 named http, and one ready pod on `b`. */
async function serve(name: string, b: Backend, revision = 'r1', spec: Record<string, unknown> = {}): Promise<void> {
  await put('Service', { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec } });
  await putPod(kv, pod(`${name}-${revision}-${b.port}`, revision, b.port, { labels: { app: name } }));
}

const to = (service: string, port: number | string = 80) => ({ service: { name: service, port: typeof port === 'number' ? { number: port } : { name: port } } });

async function ingressAddress(): Promise<string> {
  await router.settled();
  await until(() => router.ingressAddresses().http !== undefined, 'the ingress listener');
  return router.ingressAddresses().http!;
}

describe('Ingress routing (pure table)', () => {
  const table = new IngressTable({
    ingresses: [
      {
        metadata: { name: 'a', namespace: 'default' },
        spec: {
          defaultBackend: to('fallback'),
          rules: [
            { host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: to('shop') }, { path: '/api/', pathType: 'Prefix', backend: to('api') }] } },
            { host: '*.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: to('wild') }] } },
            { http: { paths: [{ path: '/exact', pathType: 'Exact', backend: to('exact') }, { path: '/exact', pathType: 'Prefix', backend: to('prefix') }] } },
          ],
        },
      },
    ],
  });
  const svc = (host: string | undefined, url: string) => table.match(host, url)?.service;

  it('matches hosts exactly, then by a one-label wildcard, then rules without a host', () => {
    expect(svc('shop.example.com', '/x')).toBe('shop');
    expect(svc('SHOP.example.com:8080', '/x')).toBe('shop');
    expect(svc('blog.example.com', '/x')).toBe('wild');
    expect(svc('a.blog.example.com', '/exact')).toBe('exact'); // two labels: not the wildcard
    expect(svc('example.com', '/exact')).toBe('exact');
    expect(svc(undefined, '/nothing')).toBe('fallback');
  });

  it('matches Prefix element by element, longest first, Exact before Prefix of the same path', () => {
    expect(svc('shop.example.com', '/api')).toBe('api');
    expect(svc('shop.example.com', '/api/v1?x=1')).toBe('api');
    expect(svc('shop.example.com', '/apiv1')).toBe('shop');
    expect(svc('other', '/exact')).toBe('exact');
    expect(svc('other', '/exact/')).toBe('prefix');
    expect(svc('other', '/exact/more')).toBe('prefix');
    expect(svc('other', '/exactly')).toBe('fallback');
  });
});

describe('Ingress listener', () => {
  it('routes by host and path to real backends, falls back to the default backend, 404 without one', async () => {
    const [shop, api, wild, fallback] = await Promise.all(['shop', 'api', 'wild', 'fallback'].map(start));
    await serve('shop', shop);
    await serve('api', api);
    await serve('wild', wild);
    await serve('fallback', fallback);
    await put('Ingress', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web' },
      spec: {
        rules: [
          { host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: to('shop') }, { path: '/api', pathType: 'Prefix', backend: to('api', 'http') }] } },
          { host: '*.example.com', http: { paths: [{ path: '/only', pathType: 'Exact', backend: to('wild') }] } },
        ],
      },
    });
    const address = await ingressAddress();
    await until(async () => (await get(agent, address, '/', { host: 'shop.example.com' })).body === 'shop', 'the ingress rules');
    expect((await get(agent, address, '/api/v1', { host: 'shop.example.com' })).body).toBe('api');
    expect((await get(agent, address, '/apiary', { host: 'shop.example.com' })).body).toBe('shop');
    expect((await get(agent, address, '/only', { host: 'blog.example.com' })).body).toBe('wild');
    const miss = await get(agent, address, '/only/more', { host: 'blog.example.com' });
    expect(miss.status).toBe(404);

    await put('Ingress', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'zz-default' }, spec: { defaultBackend: to('fallback') } });
    await until(async () => (await get(agent, address, '/only/more', { host: 'blog.example.com' })).body === 'fallback', 'the default backend');
    // A backend Service that does not exist: 503, as ingress-nginx answers.
    await put('Ingress', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'ghost' }, spec: { rules: [{ host: 'ghost.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: to('nope') }] } }] } });
    await until(async () => (await get(agent, address, '/', { host: 'ghost.test' })).status === 503, 'a 503 for a missing Service');
  });

  it('keeps a canary exact through the Ingress and counts each revision under the Service', async () => {
    const stable = await start('stable');
    const canary = await start('canary');
    await serve('web', stable, 'stable1');
    await putPod(kv, pod('web-canary', 'canary1', canary.port, { labels: { app: 'web' } }));
    await putPolicy(kv, 'web', { weights: { stable1: 80, canary1: 20 } } as never);
    await put('Ingress', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' }, spec: { defaultBackend: to('web') } });
    const address = await ingressAddress();
    await until(() => router.tables('default', 'web')[0]?.backends.canary1 !== undefined, 'both revisions');
    await router.settled();
    const tally: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const r = await get(agent, address, '/');
      tally[r.body] = (tally[r.body] ?? 0) + 1;
    }
    expect(tally).toEqual({ stable: 80, canary: 20 });
    expect(router.stats('default', 'web', 'canary1').requests).toBe(20);
    expect(router.stats('default', 'web', 'stable1').requests).toBe(80);
  });
});

describe('NodePort and headless Services', () => {
  it('serves a NodePort Service on its node port too, and allocates one when unset', async () => {
    const b = await start('np');
    await serve('np', b, 'r1', { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30555 }] });
    await serve('auto', b, 'r1', { type: 'LoadBalancer' });
    await router.settled();
    await until(() => Object.keys(router.nodePortAddresses()).length === 2, 'two node port listeners');
    const nodes = router.nodePortAddresses()['default/np:80']!;
    // One listener per distinct node port address (tests stay on 127.0.0.1).
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    for (const node of nodes) await until(async () => (await get(agent, node, '/')).body === 'np', `the node port on ${node}`);
    const views = router.addresses();
    expect(views.find((v) => v.name === 'np')?.nodePorts).toEqual([30555]);
    const auto = views.find((v) => v.name === 'auto')?.nodePorts?.[0];
    expect(auto).toBeGreaterThanOrEqual(30000);
    expect(auto).toBeLessThanOrEqual(32767);
    // The same Service gets the same port every time; an explicit port is never taken.
    const svc = (name: string, nodePort?: number) => ({ metadata: { name, namespace: 'default' }, spec: { type: 'NodePort' as const, ports: [{ port: 80, nodePort }] } });
    const first = allocateNodePorts([svc('auto2')]).get('default/auto2:80')!;
    expect(allocateNodePorts([svc('auto2')]).get('default/auto2:80')).toBe(first);
    const both = allocateNodePorts([svc('auto2'), svc('fixed', first)]);
    expect(both.get('default/fixed:80')).toBe(first);
    expect(both.get('default/auto2:80')).not.toBe(first);
  });

  it('opens no listener for a headless Service and publishes its ready pod endpoints', async () => {
    const b = await start('h');
    await serve('headless', b, 'r1', { clusterIP: 'None' });
    await router.settled();
    await until(() => router.addresses().some((v) => v.name === 'headless' && v.endpoints.length === 1), 'the headless endpoints');
    const view = router.addresses().find((v) => v.name === 'headless')!;
    expect(view).toMatchObject({ clusterIP: 'None', address: [], endpoints: [`127.0.0.1:${b.port}`] });
  });
});

function tlsSecret(name: string, pair: { crt: string; key: string }) {
  return { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name }, data: { 'tls.crt': Buffer.from(pair.crt).toString('base64'), 'tls.key': Buffer.from(pair.key).toString('base64') } };
}

/** The peer certificate's CN for an HTTPS GET with SNI `host`, and the body. */
function httpsGet(address: string, host: string, ca: string): Promise<{ cn: string; body: string; proto: string }> {
  const [h, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = https.request({ host: h, port: Number(port), servername: host, headers: { host }, ca, path: '/', agent: false }, (res) => {
      const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject.CN);
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ cn, body, proto: String(res.headers['x-proto'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!haveOpenssl)('Ingress TLS', () => {
  it('serves HTTPS with the certificate SNI picks, follows a changed Secret, refuses a host whose Secret is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-ingress-tls-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const a = selfSigned(dir, 'a.example.com');
    const b = selfSigned(dir, 'b.example.com');
    const web = await start('web');
    await serve('web', web);
    await put('Secret', tlsSecret('a-tls', a));
    await put('Secret', tlsSecret('b-tls', b));
    await put('Ingress', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web' },
      spec: {
        tls: [
          { hosts: ['a.example.com'], secretName: 'a-tls' },
          { hosts: ['b.example.com'], secretName: 'b-tls' },
          { hosts: ['c.example.com'], secretName: 'missing' },
        ],
        defaultBackend: to('web'),
      },
    });
    await router.settled();
    await until(() => router.ingressAddresses().https !== undefined, 'the HTTPS listener');
    const address = router.ingressAddresses().https!;
    expect(await httpsGet(address, 'a.example.com', a.crt)).toMatchObject({ cn: 'a.example.com', body: 'web' });
    expect(await httpsGet(address, 'b.example.com', b.crt)).toMatchObject({ cn: 'b.example.com', body: 'web' });
    await expect(httpsGet(address, 'c.example.com', a.crt)).rejects.toThrow();
    const missing = events.filter((e) => e.reason === 'TLSSecretMissing');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ type: 'Warning', object: 'Ingress/web', namespace: 'default' });
    expect(missing[0]!.message).toContain('c.example.com');

    // A new certificate in the Secret applies to the next handshake, with no restart.
    const a2 = selfSigned(dir, 'a.example.com');
    await put('Secret', tlsSecret('a-tls', a2));
    await router.settled();
    await until(async () => (await httpsGet(address, 'a.example.com', a2.crt).catch(() => undefined))?.body === 'web', 'the new certificate');

    // An invalid Secret: an event, never the key text.
    await put('Secret', { ...tlsSecret('b-tls', b), data: { 'tls.crt': Buffer.from(b.crt).toString('base64'), 'tls.key': Buffer.from(a.key).toString('base64') } });
    await router.settled();
    await until(() => events.some((e) => e.reason === 'TLSSecretInvalid'), 'an invalid-Secret event');
    const invalid = events.find((e) => e.reason === 'TLSSecretInvalid')!;
    expect(invalid.message).not.toContain('PRIVATE KEY');
    expect(invalid.message).not.toContain(a.key.split('\n')[1]!);
    await expect(httpsGet(address, 'b.example.com', b.crt)).rejects.toThrow();
  });
});
