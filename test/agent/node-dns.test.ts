// The node agent's DNS server: a real API server with Services stored as the sync loop stores
// them, an agent running it on 127.0.0.1 (a free port), asked by node's own resolver over UDP;
// a port that cannot be bound leaves the agent running without DNS, with one warning.
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { localDnsSnapshot, upstreamNameservers } from '../../src/agent/node-dns.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { desiredKey, type DesiredRecord } from '../../src/sync/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

const NODE = 'node-a';
let t: TestApi;
let stateDir: string;
let agent: NodeAgent | undefined;

async function storeService(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const record: DesiredRecord = {
    object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec },
    source: { file: `apps/${name}.yaml`, index: 0, line: 1, column: 1 },
    commit: 'c0ffee',
    appliedAt: new Date().toISOString(),
  };
  await t.kv.put(desiredKey({ kind: 'Service', namespace, name }), JSON.stringify(record));
}

function capture(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

async function startAgent(dns: { port: number }, options: { serviceHost?: string; logger?: pino.Logger } = {}): Promise<NodeAgent> {
  // No nameserver on the host: names outside the cluster domain are refused, never sent out.
  const hostResolvConf = join(stateDir, 'host-resolv.conf');
  writeFileSync(hostResolvConf, '# no nameserver\n');
  agent = new NodeAgent({
    server: t.url,
    token: t.tokens.agentA,
    name: NODE,
    runtime: new ProcessRuntime({ stateDir, node: NODE, user: null }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 200, orphanGraceMs: 1000 },
    dns: { host: '127.0.0.1', port: dns.port, hostResolvConf },
    ...options,
  });
  await agent.start();
  return agent;
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

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-node-dns-'));
  await storeService('default', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }, { port: 9100 }] });
  await storeService('default', 'peers', { clusterIP: 'None', selector: { app: 'peer' }, ports: [{ name: 'gossip', port: 7946 }] });
});

afterEach(async () => {
  await agent?.stop({ stopPods: true });
  agent = undefined;
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('node DNS in the agent', () => {
  it('answers Service names over UDP with the service address, SRV for named ports, and follows new Services', async () => {
    const a = await startAgent({ port: 0 }, { serviceHost: '127.0.0.1' });
    const bound = a.dnsAddress;
    expect(bound?.host).toBe('127.0.0.1');
    expect(bound?.port).toBeGreaterThan(0);
    const r = resolverAt(bound!.port);
    await vi.waitFor(async () => expect(await r.resolve4('web.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 10_000, interval: 100 });
    expect(await r.resolve4('web.default')).toEqual(['127.0.0.1']);
    expect(await r.resolveSrv('_http._tcp.web.default.svc.cluster.local')).toEqual([{ name: 'web.default.svc.cluster.local', port: 8080, priority: 0, weight: 100 }]);
    expect(await errorCode(r.resolve4('nothing.default.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(await errorCode(r.resolve4('example.com'))).toBe('EREFUSED');

    await storeService('shop', 'cart', { ports: [{ port: 8181 }] });
    await vi.waitFor(async () => expect(await r.resolve4('cart.shop.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 10_000, interval: 100 });
  });

  it("answers a headless Service with this node's ready pods and their host ports", async () => {
    const a = await startAgent({ port: 0 });
    const r = resolverAt(a.dnsAddress!.port);
    const pod: Pod = makePod('peer-0', [{ name: 'main', image: 'sh', command: ['sh', '-c', 'exec sleep 3600'], ports: [{ name: 'gossip', containerPort: 7946 }] }], {
      nodeName: NODE,
      terminationGracePeriodSeconds: 1,
    });
    pod.metadata.labels = { app: 'peer' };
    // Known once the Services are listed, with no ready pod yet: no address, but not NXDOMAIN.
    await vi.waitFor(async () => expect(await errorCode(r.resolve4('peers.default.svc.cluster.local'))).toBe('ENODATA'), { timeout: 10_000, interval: 100 });
    await t.kv.put(`${STORE_PREFIX.pods}default/peer-0`, JSON.stringify(pod));
    await vi.waitFor(async () => expect(await r.resolve4('peers.default.svc.cluster.local')).toEqual(['127.0.0.1']), { timeout: 15_000, interval: 100 });
    const stored = JSON.parse(Buffer.from((await t.kv.get(`${STORE_PREFIX.pods}default/peer-0`))!.value).toString('utf8')) as Pod;
    const hostPort = stored.status.ports?.gossip;
    expect(hostPort).toBeGreaterThan(0);
    expect(await r.resolveSrv('_gossip._tcp.peers.default.svc.cluster.local')).toEqual([{ name: '127-0-0-1.peers.default.svc.cluster.local', port: hostPort, priority: 0, weight: 100 }]);
  });

  it('runs on without DNS when the port is taken, with one warning naming the flags', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    try {
      const { logger, lines } = capture();
      const a = await startAgent({ port: holder.address().port }, { logger });
      expect(a.state).toBe('RUNNING');
      expect(a.dnsAddress).toBeUndefined();
      const warnings = lines.filter((l) => l.level === 40 && /node DNS is off/.test(l.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0].msg).toContain('--dns-address/--dns-port');
      expect(warnings[0].msg).toContain(`127.0.0.1:${holder.address().port}`);
    } finally {
      holder.close();
    }
  });
});

describe('node DNS snapshot and upstream (pure)', () => {
  it("builds headless endpoints from this node's pods its selector picks", () => {
    const pod = (name: string, labels: Record<string, string>, ready: boolean, namespace = 'default') => {
      const p = makePod(name, [{ name: 'main', image: 'x' }], {}, namespace);
      p.metadata.labels = labels;
      return { pod: p, status: { phase: 'Running' as const, ready, ports: { gossip: 20001 } } };
    };
    const snap = localDnsSnapshot({
      services: [
        { namespace: 'default', name: 'peers', headless: true, ports: [{ name: 'gossip', port: 7946 }], selector: { app: 'peer' } },
        { namespace: 'default', name: 'web', headless: false, ports: [{ port: 80 }], selector: { app: 'web' } },
      ],
      pods: [pod('p0', { app: 'peer' }, true), pod('p1', { app: 'peer' }, false), pod('w0', { app: 'web' }, true), pod('o0', { app: 'peer' }, true, 'other')],
      routerAddress: '127.0.0.5',
      nodeAddress: '127.0.0.1',
    });
    expect(snap.routerAddress).toBe('127.0.0.5');
    expect(snap.endpoints).toEqual({
      'default/peers': [
        { ip: '127.0.0.1', ready: true, podName: 'p0', ports: { gossip: 20001 } },
        { ip: '127.0.0.1', ready: false, podName: 'p1', ports: { gossip: 20001 } },
      ],
    });
  });

  it('never forwards to itself', () => {
    const host = { nameservers: ['127.0.0.1', '127.0.0.53', '10.0.0.2'], searches: [], options: [] };
    expect(upstreamNameservers(host, { host: '127.0.0.1', port: 53 })).toEqual(['127.0.0.53', '10.0.0.2']);
    expect(upstreamNameservers(host, { host: '0.0.0.0', port: 53 })).toEqual(['10.0.0.2']);
    expect(upstreamNameservers(host, { host: '127.0.0.1', port: 5353 })).toEqual(host.nameservers);
  });
});
