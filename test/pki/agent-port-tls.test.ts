// The agent port over TLS: an API server on 127.0.0.1 with the cluster CA proxies pod logs to
// a node agent serving its port with the node's certificate, and refuses an agent whose
// certificate names another node (a machine pretending to be it).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { ensureClusterPki, issueCertificate, trustingFetch, type ClusterPki } from '../../src/pki/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from '../agent/pods.js';

const PRINTER = `console.log('hello over tls'); setInterval(() => {}, 1 << 30); process.on('SIGTERM', () => process.exit(0));`;

let dir: string;
let pki: ClusterPki;
let t: TestApi;
const agents: NodeAgent[] = [];

async function startAgent(node: string, token: string, certFor: string): Promise<NodeAgent> {
  const cert = await issueCertificate(pki.ca, { commonName: certFor, hosts: [certFor, '127.0.0.1'], usage: 'both' });
  const stateDir = join(dir, node);
  const agent = new NodeAgent({
    server: t.url,
    token,
    name: node,
    runtime: new ProcessRuntime({ stateDir, node, user: null }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    tls: { ca: pki.ca.cert, cert: cert.cert, key: cert.key },
    manager: { resyncMs: 100, orphanGraceMs: 1000 },
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

async function runPod(name: string, node: string): Promise<void> {
  const pod: Pod = makePod(name, [{ name: 'main', image: 'node', command: [process.execPath, '-e', PRINTER] }], { nodeName: node, terminationGracePeriodSeconds: 2 });
  await t.kv.put(`${STORE_PREFIX.pods}default/${name}`, JSON.stringify(pod));
  await vi.waitFor(
    async () => {
      const kv = await t.kv.get(`${STORE_PREFIX.pods}default/${name}`);
      expect((JSON.parse(Buffer.from(kv!.value).toString('utf8')) as Pod).status.phase).toBe('Running');
    },
    { timeout: 10_000, interval: 50 },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'capstan-agent-tls-'));
  pki = await ensureClusterPki({ dataDir: join(dir, 'server') });
  t = await startApi({ tls: { cert: pki.server.cert, key: pki.server.key }, pki: { ca: pki.ca, caFingerprint: pki.caFingerprint } });
}, 20_000);

afterAll(async () => {
  for (const a of agents) await a.stop({ stopPods: true });
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const logs = (pod: string) => trustingFetch({ ca: pki.ca.cert })(`${t.url}/api/v1/namespaces/default/pods/${pod}/log`, { headers: { authorization: `Bearer ${t.tokens.viewer}` } });

describe('the agent port over TLS', () => {
  it("serves logs to the API server when its certificate is the node's", async () => {
    await startAgent('node-a', t.tokens.agentA, 'node-a');
    await runPod('printer', 'node-a');
    await vi.waitFor(async () => expect(await (await logs('printer')).text()).toBe('hello over tls\n'), { timeout: 5000, interval: 100 });
  }, 20_000);

  it('is refused by the API server when its certificate names another node', async () => {
    await startAgent('node-b', t.tokens.agentB, 'node-x');
    await runPod('impostor', 'node-b');
    const res = await logs('impostor');
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('not node node-b');
  }, 20_000);
});
