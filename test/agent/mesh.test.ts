// The routing mesh: a real API server and two in-process node agents on 127.0.0.1, each
// running its own Service router from the API's router feed. A request to the Service on node
// b reaches the ready pod on node a; weights are exact on each node; the nodes' figures sent to
// the server merge into the sum the analysis provider and the Service status read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { startServiceTraffic, type ServiceTraffic } from '../../src/compose/services.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod, probe } from './pods.js';

const SERVER = `
const http = require('http');
http.createServer((req, res) => res.end(process.env.REV + ' ' + process.env.POD)).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

// The control plane's own router serves the Service port too; the agents' use free ports.
const SERVICE_PORT = 20_000 + Math.floor(Math.random() * 9000);

let t: TestApi;
const dirs: string[] = [];
const agents: Record<'a' | 'b', NodeAgent> = {} as Record<'a' | 'b', NodeAgent>;
let traffic: ServiceTraffic;
/** How often each node's router said it applied a change (the node's DNS follows these). */
const changes: Record<string, number> = {};

function webPod(name: string, revision: string, node: string): Pod {
  const pod = makePod(
    name,
    [
      {
        name: 'web',
        image: 'node',
        command: [process.execPath, '-e', SERVER],
        ports: [{ containerPort: 8080, name: 'http' }],
        env: [
          { name: 'REV', value: revision },
          { name: 'POD', value: name },
        ],
        readinessProbe: probe({ httpGet: { path: '/', port: 'http' } }, { periodSeconds: 1 }),
      },
    ],
    { nodeName: node, terminationGracePeriodSeconds: 2 },
  );
  pod.metadata.labels = { app: 'web' };
  pod.metadata.owner = { kind: 'Deployment', name: 'web', revision };
  return pod;
}

function agent(node: 'a' | 'b', token: string): NodeAgent {
  const stateDir = mkdtempSync(join(tmpdir(), `capstan-mesh-${node}-`));
  dirs.push(stateDir);
  return new NodeAgent({
    server: t.url,
    token,
    name: `node-${node}`,
    runtime: new ProcessRuntime({ stateDir, node: `node-${node}` }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 500,
    retryBaseMs: 50,
    manager: { resyncMs: 200 },
    // Both nodes are 127.0.0.1: each router takes free ports for Service and node ports.
    serviceRouter: { portFor: () => 0, nodePortFor: () => 0, statsEveryMs: 0, drainMs: 100, onChange: () => (changes[node] = (changes[node] ?? 0) + 1) },
  });
}

async function get(address: string): Promise<string> {
  const res = await fetch(`http://${address}/`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return res.text();
}

async function countOf(address: string, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const body = await get(address);
    out[body] = (out[body] ?? 0) + 1;
  }
  return out;
}

function webAddress(a: NodeAgent): string {
  const view = a.serviceRouter?.addresses().find((v) => v.name === 'web');
  expect(view).toBeDefined();
  return view!.address as string;
}

beforeAll(async () => {
  t = await startApi();
  const sourced = (object: unknown) => JSON.stringify({ object, source: { file: 'web.yaml', index: 0, line: 1, column: 1 } });
  await t.kv.put(
    `${STORE_PREFIX.desired}Service/default/web`,
    sourced({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http' }] } }),
  );
  await t.kv.put(`${STORE_PREFIX.traffic}default/web`, JSON.stringify({ weights: { stable: 80, canary: 20 }, stableRevision: 'stable', canaryRevision: 'canary' }));
  // The stable pod runs on node a, the canary on node b.
  await t.kv.put(`${STORE_PREFIX.pods}default/web-a`, JSON.stringify(webPod('web-a', 'stable', 'node-a')));
  await t.kv.put(`${STORE_PREFIX.pods}default/web-b`, JSON.stringify(webPod('web-b', 'canary', 'node-b')));
  agents.a = agent('a', t.tokens.agentA);
  agents.b = agent('b', t.tokens.agentB);
  await agents.a.start();
  await agents.b.start();
  traffic = await startServiceTraffic({ kv: t.kv, logger: silentLogger(), registry: new Registry(), statusEveryMs: 100, statsEveryMs: 0 });
}, 30_000);

afterAll(async () => {
  await traffic?.stop();
  for (const a of Object.values(agents)) await a.stop({ stopPods: true });
  await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('routing mesh', () => {
  it('serves every Service on every node, reaching ready pods on other nodes with exact weights', async () => {
    for (const a of Object.values(agents)) await a.mesh!.ready();
    // Both pods ready, as each node's router sees them through the feed.
    await vi.waitFor(
      () => {
        for (const a of Object.values(agents)) {
          const view = a.serviceRouter!.addresses().find((v) => v.name === 'web');
          expect(view?.endpoints).toHaveLength(2);
          expect(view?.weights).toEqual({ stable: 80, canary: 20 });
        }
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(changes.a).toBeGreaterThan(0);
    expect(changes.b).toBeGreaterThan(0);
    const onA = webAddress(agents.a);
    const onB = webAddress(agents.b);
    expect(onA).not.toBe(onB);
    // Node b's router sends the stable share to the pod on node a, and the canary share to its own.
    expect(await countOf(onB, 100)).toEqual({ 'stable web-a': 80, 'canary web-b': 20 });
    expect(await countOf(onA, 100)).toEqual({ 'stable web-a': 80, 'canary web-b': 20 });
    // NodePort on every node too, sharing the Service port's weighted sequence.
    for (const a of Object.values(agents)) {
      const [nodePort] = Object.values(a.serviceRouter!.nodePortAddresses());
      expect(nodePort).toHaveLength(1);
      expect(await get(nodePort![0]!)).toMatch(/^(stable web-a|canary web-b)$/);
    }
  }, 40_000);

  it('merges the nodes’ figures into the sum analysis and the Service status read', async () => {
    const local = (a: NodeAgent, revision: string) => a.serviceRouter!.stats('default', 'web', revision, 60);
    const want: Record<string, number> = {};
    for (const revision of ['stable', 'canary']) want[revision] = local(agents.a, revision).requests + local(agents.b, revision).requests;
    // 100 requests per node through the Service port, 80/20, plus one through each node port.
    expect(want.stable + want.canary).toBe(202);
    expect(want.stable).toBeGreaterThanOrEqual(160);
    await agents.a.mesh!.sendStats();
    await agents.b.mesh!.sendStats();
    await traffic.refreshNodeStats();
    for (const revision of ['stable', 'canary']) {
      const merged = traffic.statsFor('default/web', revision, 60);
      expect(merged?.requests, revision).toBe(want[revision]);
      expect(merged?.errors, revision).toBe(0);
      // A percentile of the merge lies between the nodes' own.
      const p99s = [local(agents.a, revision).p99, local(agents.b, revision).p99];
      expect(merged!.p99).toBeGreaterThanOrEqual(Math.min(...p99s));
      expect(merged!.p99).toBeLessThanOrEqual(Math.max(...p99s));
    }
    // A bare name means the default namespace, as analysis templates write it.
    expect(traffic.statsFor('web', 'stable', 60)?.requests).toBe(want.stable);
    // The Service status the control plane writes carries the same sums.
    await vi.waitFor(
      async () => {
        const kv = await t.kv.get(`${STORE_PREFIX.status}Service/default/web`);
        const status = kv ? JSON.parse(Buffer.from(kv.value).toString('utf8')) : undefined;
        expect(status?.traffic?.revisions?.stable?.requests).toBe(want.stable);
        expect(status?.traffic?.revisions?.canary?.requests).toBe(want.canary);
      },
      { timeout: 10_000, interval: 100 },
    );
  }, 30_000);
});
