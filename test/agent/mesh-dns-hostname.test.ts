// Pod hostname records across the cluster: a real API server and two in-process agents on
// 127.0.0.1. Node a runs the pods of a headless Service `db`; node b's DNS, fed by its
// Service router, answers `<hostname>.db.default.svc.cluster.local` for the pod whose
// subdomain is `db` (as a StatefulSet with serviceName db makes them), and not for one whose
// subdomain names another Service. Node a, with no router, answers the same from its own pods.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { PodDnsNames, endpointHostname, podDnsName } from '../../src/agent/pod-dns-names.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

let t: TestApi;
const dirs: string[] = [];
const running: NodeAgent[] = [];

function agent(node: 'a' | 'b', token: string, withRouter: boolean): NodeAgent {
  const stateDir = mkdtempSync(join(tmpdir(), `capstan-mesh-host-${node}-`));
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

function dbPod(name: string, dns: { hostname?: string; subdomain?: string }): Pod {
  const pod = makePod(name, [{ name: 'main', image: 'sh', command: ['sh', '-c', 'exec sleep 3600'], ports: [{ name: 'sql', containerPort: 5432 }] }], {
    nodeName: 'node-a',
    terminationGracePeriodSeconds: 1,
    ...dns,
  });
  pod.metadata.labels = { app: 'db' };
  return pod;
}

beforeAll(async () => {
  t = await startApi();
  const sourced = (object: unknown) => JSON.stringify({ object, source: { file: 'db.yaml', index: 0, line: 1, column: 1 } });
  await t.kv.put(
    `${STORE_PREFIX.desired}Service/default/db`,
    sourced({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'sql', port: 5432 }] } }),
  );
  // What the StatefulSet controller makes for `db` with serviceName db, and a pod of the same
  // selector whose subdomain names another Service.
  await t.kv.put(`${STORE_PREFIX.pods}default/db-0`, JSON.stringify(dbPod('db-0', { hostname: 'db-0', subdomain: 'db' })));
  await t.kv.put(`${STORE_PREFIX.pods}default/stray`, JSON.stringify(dbPod('stray', { hostname: 'stray', subdomain: 'other' })));
}, 30_000);

afterAll(async () => {
  for (const a of running) await a.stop({ stopPods: true });
  await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('pod hostname records over the routing mesh', () => {
  it("answers <hostname>.<subdomain> on another node for a pod whose subdomain is the headless Service's name", async () => {
    const a = agent('a', t.tokens.agentA, false);
    await a.start();
    await vi.waitFor(async () => {
      expect((await storedPod('db-0')).status.ready).toBe(true);
      expect((await storedPod('stray')).status.ready).toBe(true);
    }, { timeout: 15_000, interval: 100 });
    const port = (await storedPod('db-0')).status.ports?.sql;
    expect(port).toBeGreaterThan(0);

    const b = agent('b', t.tokens.agentB, true);
    await b.start();
    await b.mesh!.ready();
    const r = resolverAt(b.dnsAddress!.port);
    await vi.waitFor(async () => expect(await r.resolve4('db-0.db.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 15_000, interval: 100 });
    // Its SRV target is the hostname name; the other pod's is its address label.
    const srv = await r.resolveSrv('_sql._tcp.db.default.svc.cluster.local');
    expect(srv.map((s) => s.name).sort()).toEqual(['127-0-0-1.db.default.svc.cluster.local', 'db-0.db.default.svc.cluster.local']);
    expect(srv.find((s) => s.name.startsWith('db-0.'))!.port).toBe(port);
    // A hostname whose subdomain is another Service's name is not a name below this one.
    expect(await errorCode(r.resolve4('stray.db.default.svc.cluster.local'))).toBe('ENOTFOUND');
    // Names in a search domain, as a pod's resolv.conf expands them.
    expect(await r.resolve4('db-0.db.default.svc')).toEqual(['127.0.0.1']);

    // Node a, without a router, from its own pods.
    const ra = resolverAt(a.dnsAddress!.port);
    await vi.waitFor(async () => expect(await ra.resolve4('db-0.db.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 10_000, interval: 100 });
    expect(await errorCode(ra.resolve4('stray.db.default.svc.cluster.local'))).toBe('ENOTFOUND');

    // The pod goes: its name goes with it on node b.
    await t.kv.delete(`${STORE_PREFIX.pods}default/db-0`);
    await vi.waitFor(async () => expect(await errorCode(r.resolve4('db-0.db.default.svc.cluster.local'))).toBe('ENOTFOUND'), { timeout: 15_000, interval: 100 });
  }, 60_000);
});

describe('pod DNS names (pure)', () => {
  it('reads hostname and subdomain from a projected pod, and names an endpoint only below the Service its subdomain names', () => {
    expect(podDnsName({ spec: { hostname: 'h', subdomain: 's', nodeName: 'n' } })).toEqual({ hostname: 'h', subdomain: 's' });
    expect(podDnsName({ spec: { nodeName: 'n' } })).toBeUndefined();
    expect(podDnsName({ spec: { hostname: 7, subdomain: '' } })).toBeUndefined();
    expect(endpointHostname({ hostname: 'h', subdomain: 's' }, 's')).toBe('h');
    expect(endpointHostname({ hostname: 'h', subdomain: 's' }, 't')).toBeUndefined();
    expect(endpointHostname({ hostname: 'h' }, 's')).toBeUndefined();
    expect(endpointHostname({ subdomain: 's' }, 's')).toBeUndefined();
  });

  it('a list replaces the table, an event changes or removes one pod', () => {
    const names = new PodDnsNames();
    names.reset([
      { key: 'db/pg-0', value: { spec: { hostname: 'pg-0', subdomain: 'pg' } } },
      { key: 'db/api-x', value: { spec: {} } },
    ]);
    expect(names.get('db', 'pg-0')).toEqual({ hostname: 'pg-0', subdomain: 'pg' });
    expect(names.size).toBe(1);
    names.put('db/pg-1', { spec: { hostname: 'pg-1', subdomain: 'pg' } });
    names.put('db/pg-0', null);
    expect(names.get('db', 'pg-0')).toBeUndefined();
    names.reset([{ key: 'web/w', value: { spec: { hostname: 'w' } } }]);
    expect(names.get('db', 'pg-1')).toBeUndefined();
    expect(names.get('web', 'w')).toEqual({ hostname: 'w' });
  });
});
