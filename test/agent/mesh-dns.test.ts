// The node DNS fed by the node's Service router: a real API server and two in-process agents
// on 127.0.0.1. A headless Service whose only pod runs on node a answers on node b's DNS with
// that pod (its host port in SRV); node b without a router sees only its own pods (none).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { routerDnsSnapshot, type RouterDnsViews } from '../../src/agent/node-dns.js';
import { PodDnsNames } from '../../src/agent/pod-dns-names.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import type { PortTable, ServiceView } from '../../src/router/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

let t: TestApi;
const dirs: string[] = [];
const running: NodeAgent[] = [];

function agent(node: 'a' | 'b', token: string, withRouter: boolean): NodeAgent {
  const stateDir = mkdtempSync(join(tmpdir(), `capstan-mesh-dns-${node}-`));
  dirs.push(stateDir);
  const hostResolvConf = join(stateDir, 'host-resolv.conf');
  writeFileSync(hostResolvConf, '# no nameserver\n');
  const a = new NodeAgent({
    server: t.url,
    token,
    name: `node-${node}`,
    runtime: new ProcessRuntime({ stateDir, node: `node-${node}`, user: null }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 200 },
    dns: { host: '127.0.0.1', port: 0, hostResolvConf },
    ...(withRouter ? { serviceRouter: { portFor: () => 0, nodePortFor: () => 0, statsEveryMs: 0, drainMs: 100 } } : {}),
  });
  running.push(a);
  return a;
}

function resolverAt(port: number): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

async function storedPod(name: string): Promise<Pod> {
  return JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.pods}default/${name}`))!.value).toString('utf8')) as Pod;
}

beforeAll(async () => {
  t = await startApi();
  const sourced = (object: unknown) => JSON.stringify({ object, source: { file: 'peers.yaml', index: 0, line: 1, column: 1 } });
  await t.kv.put(
    `${STORE_PREFIX.desired}Service/default/peers`,
    sourced({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'peers', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'peer' }, ports: [{ name: 'gossip', port: 7946 }] } }),
  );
  await t.kv.put(
    `${STORE_PREFIX.desired}Service/default/web`,
    sourced({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] } }),
  );
  const pod = makePod('peer-0', [{ name: 'main', image: 'sh', command: ['sh', '-c', 'exec sleep 3600'], ports: [{ name: 'gossip', containerPort: 7946 }] }], {
    nodeName: 'node-a',
    terminationGracePeriodSeconds: 1,
  });
  pod.metadata.labels = { app: 'peer' };
  await t.kv.put(`${STORE_PREFIX.pods}default/peer-0`, JSON.stringify(pod));
}, 30_000);

afterAll(async () => {
  for (const a of running) await a.stop({ stopPods: true });
  await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('node DNS over the routing mesh', () => {
  it("answers a headless Service on node b with the ready pod of node a; without a router node b sees none", async () => {
    const a = agent('a', t.tokens.agentA, true);
    await a.start();
    await vi.waitFor(async () => expect((await storedPod('peer-0')).status.ready).toBe(true), { timeout: 15_000, interval: 100 });
    const hostPort = (await storedPod('peer-0')).status.ports?.gossip;
    expect(hostPort).toBeGreaterThan(0);

    // Node b without a router: its DNS knows the Service but only its own pods, of which it has none.
    const lone = agent('b', t.tokens.agentB, false);
    await lone.start();
    const r0 = resolverAt(lone.dnsAddress!.port);
    await vi.waitFor(async () => expect(await r0.resolve4('web.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 10_000, interval: 100 });
    expect(await errorCode(r0.resolve4('peers.default.svc.cluster.local'))).toBe('ENODATA');
    await lone.stop();
    running.splice(running.indexOf(lone), 1);

    // Node b with its router: the pod on node a, at its host IP and host port.
    const b = agent('b', t.tokens.agentB, true);
    await b.start();
    await b.mesh!.ready();
    const r = resolverAt(b.dnsAddress!.port);
    await vi.waitFor(async () => expect(await r.resolve4('peers.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 15_000, interval: 100 });
    expect(await r.resolveSrv('_gossip._tcp.peers.default.svc.cluster.local')).toEqual([{ name: '127-0-0-1.peers.default.svc.cluster.local', port: hostPort, priority: 0, weight: 100 }]);
    expect(await r.resolve4('127-0-0-1.peers.default.svc.cluster.local')).toEqual(['127.0.0.1']);
    // A Service with a cluster address still answers the service address, not its pods.
    expect(await r.resolve4('web.default.svc.cluster.local')).toEqual(['127.0.0.1']);
    expect(await r.resolveSrv('_http._tcp.web.default.svc.cluster.local')).toEqual([{ name: 'web.default.svc.cluster.local', port: 8080, priority: 0, weight: 100 }]);

    // The pod goes: node b's answers follow the router.
    await t.kv.delete(`${STORE_PREFIX.pods}default/peer-0`);
    await vi.waitFor(async () => expect(await errorCode(r.resolve4('peers.default.svc.cluster.local'))).toBe('ENODATA'), { timeout: 15_000, interval: 100 });
  }, 60_000);
});

describe('routerDnsSnapshot (pure)', () => {
  const endpoint = (host: string, port: number, pod: string) => ({ id: `${host}:${port}`, host, port, pod, revision: 'r1' });
  const table = (namespace: string, service: string, port: number, portName: string | undefined, backends: PortTable['backends']): PortTable =>
    ({ namespace, service, port, ...(portName !== undefined ? { portName } : {}), protocol: 'tcp', backends, weights: {}, pickWeights: {}, routes: [], mirrors: [], signature: '' }) as PortTable;
  const views: ServiceView[] = [
    { namespace: 'db', name: 'pg', address: '', endpoints: [], weights: {}, clusterIP: 'None' },
    { namespace: 'db', name: 'api', address: '10.0.0.9:80', endpoints: ['10.0.0.2:31000'], weights: {} },
  ];
  const tables: Record<string, PortTable[]> = {
    'db/pg': [
      table('db', 'pg', 5432, 'sql', { r1: [endpoint('10.0.0.2', 25432, 'pg-1'), endpoint('10.0.0.1', 5432, 'pg-0')] }),
      table('db', 'pg', 9187, 'metrics', { r1: [endpoint('10.0.0.1', 29187, 'pg-0')] }),
    ],
    'db/api': [table('db', 'api', 80, 'http', { r1: [endpoint('10.0.0.2', 31000, 'api-x')] })],
  };
  const router: RouterDnsViews = { addresses: () => views, tables: (ns, name) => tables[`${ns}/${name}`] ?? [] };
  const localPod = makePod('pg-0', [{ name: 'pg', image: 'postgres' }], { hostname: 'primary', subdomain: 'pg' }, 'db');

  it("takes a headless Service's endpoints from the router's tables, with host ports per port name and this node's hostnames", () => {
    const snap = routerDnsSnapshot(router, {
      services: [{ namespace: 'db', name: 'pg', headless: true, selector: { app: 'pg' }, ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }, { name: 'metrics', port: 9187, protocol: 'TCP' }] }],
      pods: [{ pod: localPod }],
      routerAddress: '10.0.0.9',
      nodeAddress: '10.0.0.1',
    });
    expect(snap.endpoints['db/pg']).toEqual([
      { ip: '10.0.0.1', ready: true, podName: 'pg-0', hostname: 'primary', ports: { sql: 5432, metrics: 29187 } },
      { ip: '10.0.0.2', ready: true, podName: 'pg-1', ports: { sql: 25432 } },
    ]);
    // A Service the cache does not know yet comes from the router's tables; not headless, so no endpoints.
    expect(snap.services.find((s) => s.name === 'api')).toEqual({ namespace: 'db', name: 'api', headless: false, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    expect(snap.endpoints['db/api']).toBeUndefined();
    expect(snap.routerAddress).toBe('10.0.0.9');
  });

  it("names another node's pod by the hostname the feed carried, only when its subdomain is the Service's name", () => {
    const names = new PodDnsNames();
    names.reset([
      { key: 'db/pg-1', value: { spec: { hostname: 'replica', subdomain: 'pg' } } },
      { key: 'db/pg-0', value: { spec: { hostname: 'primary', subdomain: 'elsewhere' } } },
    ]);
    const snap = routerDnsSnapshot(router, { services: [], pods: [{ pod: localPod }], routerAddress: '10.0.0.9', nodeAddress: '10.0.0.1' }, names);
    // The feed's view wins over this node's copy of the spec.
    expect(snap.endpoints['db/pg']!.map((e) => [e.podName, e.hostname])).toEqual([
      ['pg-0', undefined],
      ['pg-1', 'replica'],
    ]);
  });
});
