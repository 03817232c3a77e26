// Docker pods get the node's DNS as their resolver: a real API server, an agent running its DNS
// on 127.0.0.1 (a free port) and Docker containers (host networking) printing /etc/resolv.conf.
// Skipped when no Docker daemon answers.
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DockerRuntime, NodeAgent } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { TEST_IMAGE, dockerSkipReason, ensureTestImage, removeTestContainers, testDocker } from '../helpers/docker.js';
import { desiredKey, type DesiredRecord } from '../../src/sync/index.js';
import { makePod } from './pods.js';

const NODE = 'node-a';
let t: TestApi;
let stateDir: string;
let agent: NodeAgent | undefined;

/** Whether this process can bind UDP 127.0.0.1:53 now (root, and no resolver there). */
async function port53Free(): Promise<boolean> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    sock.once('error', () => resolve(false));
    sock.bind(53, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

function catPod(name: string, spec: Record<string, unknown> = {}, script = 'cat /etc/resolv.conf'): Pod {
  const pod = makePod(
    name,
    [{ name: 'main', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', `${script}; echo END-OF-FILE; exec sleep 3600`] }],
    { nodeName: NODE, terminationGracePeriodSeconds: 1 },
  );
  Object.assign(pod.spec, spec);
  return pod;
}

async function printed(pod: string): Promise<string> {
  let text = '';
  await vi.waitFor(
    async () => {
      text = (await call(t.url, 'GET', `/api/v1/namespaces/default/pods/${pod}/log`, { token: t.tokens.viewer })).text;
      expect(text).toContain('END-OF-FILE');
    },
    { timeout: 30_000, interval: 200 },
  );
  return text.slice(0, text.indexOf('END-OF-FILE'));
}

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-dns-docker-'));
});

afterEach(async () => {
  await agent?.stop({ stopPods: true });
  agent = undefined;
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function newAgent(docker: ReturnType<typeof testDocker>, dns: { port: number; hostResolvConf: string; podResolvConf?: boolean }, serviceHost?: string): NodeAgent {
  return new NodeAgent({
    server: t.url,
    token: t.tokens.agentA,
    name: NODE,
    runtime: new DockerRuntime({ node: NODE, docker }),
    capacity: { cpu: 2000, memory: 2 ** 31 },
    stateDir,
    heartbeatMs: 300,
    retryBaseMs: 50,
    manager: { resyncMs: 200, orphanGraceMs: 1000 },
    dns: { host: '127.0.0.1', ...dns, podResolvConf: 'podResolvConf' in dns ? dns.podResolvConf : true },
    ...(serviceHost !== undefined ? { serviceHost } : {}),
  });
}

const canBind53 = dockerSkipReason === undefined && (await port53Free());

describe.skipIf(dockerSkipReason !== undefined)('node DNS as the resolver of Docker pods', () => {
  it.skipIf(!canBind53)('lets a container reach a Service by its bare name through the search path (node DNS on 127.0.0.1:53)', async () => {
    const docker = testDocker();
    await ensureTestImage(docker);
    await removeTestContainers(NODE, docker);
    // Where the Service answers: a server on 127.0.0.1 standing in for the node's router.
    const router: Server = createServer((_req, res) => res.end('answered by the service\n'));
    await new Promise<void>((resolve) => router.listen(0, '127.0.0.1', resolve));
    const port = (router.address() as AddressInfo).port;
    const record: DesiredRecord = {
      object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port }] } },
      source: { file: 'apps/web.yaml', index: 0, line: 1, column: 1 },
      commit: 'c0ffee',
      appliedAt: new Date().toISOString(),
    };
    await t.kv.put(desiredKey({ kind: 'Service', namespace: 'default', name: 'web' }), JSON.stringify(record));
    const hostResolvConf = join(stateDir, 'host-resolv.conf');
    writeFileSync(hostResolvConf, '# no nameserver\n');
    try {
      agent = newAgent(docker, { port: 53, hostResolvConf }, '127.0.0.1');
      await agent.start();
      expect(agent.dnsAddress).toEqual({ host: '127.0.0.1', port: 53 });
      await t.kv.put(`${STORE_PREFIX.pods}default/client`, JSON.stringify(catPod('client', {}, `wget -q -O- http://web:${port}/ || echo FAILED`)));
      expect(await printed('client')).toBe('answered by the service\n');
    } finally {
      await agent?.stop({ stopPods: true });
      agent = undefined;
      await new Promise((resolve) => router.close(resolve));
      await removeTestContainers(NODE, docker).catch(() => undefined);
    }
  }, 90_000);

  it('binds a resolv.conf naming the node DNS and the namespace search path; dnsPolicy Default keeps the host file, None takes dnsConfig', async () => {
    const docker = testDocker();
    await ensureTestImage(docker);
    await removeTestContainers(NODE, docker);
    const hostResolvConf = join(stateDir, 'host-resolv.conf');
    writeFileSync(hostResolvConf, '# no nameserver\n');
    try {
      agent = newAgent(docker, { port: 0, hostResolvConf });
      await agent.start();
      expect(agent.dnsAddress).toBeDefined();
      await t.kv.put(`${STORE_PREFIX.pods}default/cluster-first`, JSON.stringify(catPod('cluster-first')));
      await t.kv.put(`${STORE_PREFIX.pods}default/host-dns`, JSON.stringify(catPod('host-dns', { dnsPolicy: 'Default' })));
      await t.kv.put(
        `${STORE_PREFIX.pods}default/own-dns`,
        JSON.stringify(catPod('own-dns', { dnsPolicy: 'None', dnsConfig: { nameservers: ['127.0.0.1'], searches: ['corp.example'], options: [{ name: 'ndots', value: '1' }] } })),
      );

      expect(await printed('cluster-first')).toBe('nameserver 127.0.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
      expect(await printed('own-dns')).toBe('nameserver 127.0.0.1\nsearch corp.example\noptions ndots:1\n');
      // The host's own file, as Docker gives a host-network container.
      expect(await printed('host-dns')).toBe(readFileSync('/etc/resolv.conf', 'utf8'));

      const file = join(stateDir, 'pods', 'default', 'cluster-first', 'resolv.conf');
      expect(existsSync(file)).toBe(true);
      expect(existsSync(join(stateDir, 'pods', 'default', 'host-dns', 'resolv.conf'))).toBe(false);
      // Deleting the pod removes its file.
      await t.kv.delete(`${STORE_PREFIX.pods}default/cluster-first`);
      await vi.waitFor(() => expect(existsSync(file)).toBe(false), { timeout: 20_000, interval: 200 });
    } finally {
      await agent?.stop({ stopPods: true });
      agent = undefined;
      await removeTestContainers(NODE, docker).catch(() => undefined);
    }
  }, 90_000);

  it("leaves the host's resolver to containers while the node DNS is on a port other than 53", async () => {
    const docker = testDocker();
    await ensureTestImage(docker);
    await removeTestContainers(NODE, docker);
    const hostResolvConf = join(stateDir, 'host-resolv.conf');
    writeFileSync(hostResolvConf, '# no nameserver\n');
    try {
      agent = newAgent(docker, { port: 0, hostResolvConf, podResolvConf: undefined });
      await agent.start();
      expect(agent.dnsAddress?.port).not.toBe(53);
      await t.kv.put(`${STORE_PREFIX.pods}default/plain`, JSON.stringify(catPod('plain')));
      expect(await printed('plain')).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
      expect(existsSync(join(stateDir, 'pods', 'default', 'plain', 'resolv.conf'))).toBe(false);
    } finally {
      await agent?.stop({ stopPods: true });
      agent = undefined;
      await removeTestContainers(NODE, docker).catch(() => undefined);
    }
  }, 90_000);
});
