// Three hosts in network namespaces (netns-harness.ts): each runs one member of a 3-member
// control plane (https:// peers, mutual TLS with the CA the first member made, copied to the
// others) and an agent joined with `capstan join` over TLS (process runtime). A two-tier app
// comes from Git: a backend canary Rollout and a frontend that calls it by its Service name.
// Checked: one leader over TLS, the join token's CA fingerprint, the API and node
// certificates, a node's token refused for another node, Service names through each node's
// DNS, pods spread over the hosts, the frontend on every host reaching backends on several
// nodes (the routing mesh); then a new backend revision is pushed and, at the canary's pause
// (setWeight 20, exact per node's router), one host is killed (kill -9 of everything in its
// namespace, its veth down): the frontend on a survivor keeps answering, the node goes
// NotReady, its pods move to the survivors, the weights stay exact and the rollout stays at
// its step. Last, a peer connection without a member certificate is refused and the member
// must keep running.
//
// Skipped, with the reason printed, when not root, without `ip netns`, or without dist/.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPSTAN_BIN } from '../helpers/cli.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';
import { BUILT } from '../helpers/spawn.js';
import { NEVER, tempDataDir, waitFor } from '../helpers/cluster.js';
import {
  createFleet,
  execIn,
  fleetPlan,
  hostResolvConf,
  killNamespace,
  netnsUnavailable,
  NsProcesses,
  probeTls,
  relayRequest,
  removeStale,
  runDirPrefix,
  runIdOf,
  staleNamespaces,
  startRelay,
  type Fleet,
  type HttpAnswer,
  type NetnsHost,
  type Relay,
} from './netns-harness.js';

const unavailable = BUILT ? netnsUnavailable() : 'dist/ is missing: run `npm run build` (npm test does)';
if (unavailable) console.warn(`[fleet-netns e2e skipped] ${unavailable}`);

const API_PORT = 7480;
const PEER_PORT = 7481;
const AGENT_PORT = 10250;
const BACKEND_PORT = 9000;
const FRONTEND_PORT = 9001;
const BACKEND_REPLICAS = 5;
const FRONTEND_REPLICAS = 3;
const FIXTURES = fileURLToPath(new URL('./fixtures/fleet/', import.meta.url));

interface Host extends NetnsHost {
  member: string;
  node: string;
  dataDir: string;
  stateDir: string;
  api: string;
  relay?: Relay;
  joinToken?: string;
  killed?: boolean;
}

interface PodItem {
  metadata: { name: string; namespace: string; labels: Record<string, string>; owner: { name: string; revision: string }; deletionRequestedAt?: string };
  spec: { nodeName?: string };
  status: { phase: string; ready: boolean; terminatedAt?: string };
}

interface NodeItem {
  name: string;
  status: { ready: boolean; address: string };
}

interface WorkloadView {
  phase: string;
  step?: number;
  stepCount?: number;
  weight?: number;
  revision: number;
  readyReplicas: number;
  message: string;
}

let dir: string;
let fleet: Fleet | undefined;
let procs: NsProcesses;
let bridge: Relay;
let repo: string;
let ca = '';
let adminToken = '';
const hosts: Host[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const live = (): Host[] => hosts.filter((h) => !h.killed);

function backendRollout(revision: string): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'backend' },
    spec: {
      replicas: BACKEND_REPLICAS,
      selector: { matchLabels: { app: 'backend' } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }] } },
      template: {
        metadata: { labels: { app: 'backend' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'main',
              image: 'node:20',
              command: [process.execPath, join(FIXTURES, 'backend.cjs')],
              env: [{ name: 'REVISION', value: revision }],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
}

function frontendDeployment(): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'frontend' },
    spec: {
      replicas: FRONTEND_REPLICAS,
      selector: { matchLabels: { app: 'frontend' } },
      template: {
        metadata: { labels: { app: 'frontend' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'main',
              image: 'node:20',
              command: [process.execPath, join(FIXTURES, 'frontend.cjs')],
              // By the Service's name: the node's DNS answers it (resolv.conf of the host namespace).
              env: [{ name: 'BACKEND_URL', value: `http://backend:${BACKEND_PORT}/` }],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
}

function service(name: string, port: number): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http' }] } });
}

const KEEP = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { why: 'the repository is never empty' } });

function serverArgs(h: Host, peers: string): string[] {
  return [
    CAPSTAN_BIN,
    'server',
    '--name', h.member,
    '--peers', peers,
    '--cluster-token-file', join(dir, 'cluster.token'),
    '--host', h.address,
    '--port', String(API_PORT),
    '--data-dir', h.dataDir,
    '--source', repo,
    '--branch', 'main',
    '--no-status-write',
    '--sync-schedule', NEVER,
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
    '--eviction-timeout', '3',
    '--node-lease', '3',
  ];
}

/** An API call from the bridge namespace to a host's API, trusting only the cluster CA. */
async function api(h: Host, path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<HttpAnswer> {
  return relayRequest(bridge, `${h.api}${path}`, {
    method: init.method ?? 'GET',
    ca,
    headers: { authorization: `Bearer ${init.token ?? adminToken}` },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

async function apiJson<T>(path: string, from: Host[] = live()): Promise<T> {
  let last: unknown;
  for (const h of from) {
    try {
      const r = await api(h, path);
      if (r.status === 200) return JSON.parse(r.body) as T;
      last = new Error(`${path} on ${h.member}: ${r.status} ${r.body}`);
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

async function pods(app: string): Promise<PodItem[]> {
  const list = await apiJson<{ items: PodItem[] }>('/api/v1/pods');
  return list.items.filter((p) => p.metadata.labels.app === app && !p.status?.terminatedAt);
}

async function nodes(): Promise<NodeItem[]> {
  return (await apiJson<{ items: NodeItem[] }>('/api/v1/nodes')).items;
}

async function sync(): Promise<void> {
  // Any member takes it; the lease holder's sync loop runs it.
  const r = await waitFor(async () => {
    for (const h of live()) {
      const a = await api(h, '/api/v1/sync', { method: 'POST', body: {} }).catch(() => undefined);
      if (a?.status === 200) return a;
    }
    return undefined;
  }, 30_000, 'a sync');
  const state = JSON.parse(r.body) as { phase?: string; message?: string };
  expect(state.phase, state.message).toBe('Synced');
}

function cli(h: Host, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execIn(h.ns, [process.execPath, CAPSTAN_BIN, ...args], 60_000, dir);
}

/** dns.lookup (getaddrinfo, so /etc/resolv.conf as `ip netns exec` binds it) of each name, from inside the host. */
async function resolveIn(h: Host, names: string[]): Promise<Record<string, { ok: boolean; address?: string; error?: string }>> {
  const script = [
    "const dns=require('node:dns');",
    'Promise.all(JSON.parse(process.argv[1]).map((n)=>dns.promises.lookup(n,{family:4}).then((a)=>[n,{ok:true,address:a.address}],(e)=>[n,{ok:false,error:e.code}])))',
    '.then((r)=>console.log(JSON.stringify(Object.fromEntries(r))));',
  ].join('');
  const r = await execIn(h.ns, [process.execPath, '-e', script, JSON.stringify(names)], 20_000, dir);
  if (r.code !== 0) throw new Error(`lookup in ${h.name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, { ok: boolean; address?: string; error?: string }>;
}

function countBy<T>(list: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of list) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

interface Hit {
  status: number;
  body: string;
}

/** `n` requests, one after another, to a host's address at `port` (a Service port), from the bridge namespace. */
async function hit(h: Host, port: number, n: number): Promise<Hit[]> {
  const out: Hit[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await relayRequest(bridge, `http://${h.address}:${port}/`, { timeoutMs: 5000 }).catch((err: Error) => ({ status: 0, body: err.message })));
  }
  return out;
}

/** Requests to the backend Service port on `h` that the canary (r2) answered, of `n`; every one must answer. */
async function canaryShare(h: Host, n: number): Promise<number> {
  const answers = await hit(h, BACKEND_PORT, n);
  const failed = answers.filter((a) => a.status !== 200);
  expect(failed, `backend on ${h.address}:${BACKEND_PORT}`).toEqual([]);
  return answers.filter((a) => (JSON.parse(a.body) as { revision: string }).revision === 'r2').length;
}

const ready = (p: PodItem): boolean => p.status?.ready === true && !p.metadata.deletionRequestedAt;

describe('the netns harness plan (no root needed)', () => {
  it('names every namespace after the run and makes links and addresses only inside them', () => {
    const plan = fleetPlan('4242', 3);
    expect(plan.bridgeNs).toBe('capstan-e2e-4242-br');
    expect(plan.hosts.map((h) => [h.ns, h.address])).toEqual([
      ['capstan-e2e-4242-h1', '10.231.7.1'],
      ['capstan-e2e-4242-h2', '10.231.7.2'],
      ['capstan-e2e-4242-h3', '10.231.7.3'],
    ]);
    const ours = new Set([plan.bridgeNs, ...plan.hosts.map((h) => h.ns)]);
    for (const args of plan.setup) {
      if (args[0] === 'netns') expect(ours.has(args[2]!)).toBe(true);
      else {
        // `ip -n <ours> ...`: never the root namespace.
        expect(args[0]).toBe('-n');
        expect(ours.has(args[1]!)).toBe(true);
      }
      const addr = args.indexOf('addr');
      if (addr >= 0) expect(args[addr + 2]).toMatch(/^10\.231\.7\.\d+\/24$/);
    }
    // A veth's far end goes straight into its host.
    expect(plan.setup).toContainEqual(['-n', plan.bridgeNs, 'link', 'add', 'p2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'capstan-e2e-4242-h2']);
  });

  it('finds what a dead run left, never a live run\'s or someone else\'s namespace', () => {
    const names = ['capstan-e2e-100-h1', 'capstan-e2e-100-br', 'capstan-e2e-200-h1', 'capstan-e2e-probe', 'other-ns', 'capstan-e2e-300-probe'];
    const alive = (pid: number) => pid === 200;
    expect(staleNamespaces(names, alive)).toEqual(['capstan-e2e-100-h1', 'capstan-e2e-100-br', 'capstan-e2e-300-probe']);
    expect(staleNamespaces(names, alive, '200')).toEqual(['capstan-e2e-100-h1', 'capstan-e2e-100-br', 'capstan-e2e-200-h1', 'capstan-e2e-300-probe']);
    expect(runIdOf('capstan-e2e-100-h1')).toBe('100');
    expect(runIdOf('capstan-e2e-x-h1')).toBeUndefined();
  });

  it('points a host\'s resolver at its node with the Kubernetes search list', () => {
    expect(hostResolvConf('10.231.7.2')).toBe('nameserver 10.231.7.2\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:2\n');
  });
});

describe.skipIf(unavailable !== undefined)('three hosts in network namespaces: control plane, agents, canary and a lost host', () => {
  beforeAll(async () => {
    removeStale();
    dir = tempDataDir(runDirPrefix());
    procs = new NsProcesses(dir);
    fleet = createFleet(String(process.pid), 3);
    for (const h of fleet.hosts) {
      const i = h.name.slice(1);
      hosts.push({ ...h, member: `m${i}`, node: `node-${i}`, dataDir: join(dir, `m${i}`), stateDir: join(dir, `node-${i}`), api: `https://${h.address}:${API_PORT}` });
      // Processes in the host resolve through the node's Capstan DNS.
      fleet.setResolvConf(h, hostResolvConf(h.address));
    }
    bridge = await startRelay(procs, dir, 'br', fleet.bridgeNs);
    for (const h of hosts) h.relay = await startRelay(procs, dir, h.name, h.ns);

    repo = initWorkTree({}, join(dir, 'repo'));
    commitFiles(repo, { 'config/keep.json': KEEP }, 'start');
    writeFileSync(join(dir, 'cluster.token'), 'netns-e2e-cluster-token-0123456789abcdef\n', { mode: 0o600 });
    const peers = hosts.map((h) => `${h.member}=https://${h.address}:${PEER_PORT}`).join(',');

    // The first member makes the CA; the others get a copy of it before their first start.
    const first = hosts[0]!;
    procs.start(first.member, first.ns, [process.execPath, ...serverArgs(first, peers)]);
    await waitFor(() => {
      const c = procs.child(first.member);
      if (c && c.exitCode !== null) throw new Error(`${first.member} exited: ${procs.output(first.member)}`);
      try {
        return readFileSync(join(first.dataDir, 'pki', 'ca.key'), 'utf8').length > 0 && readFileSync(join(first.dataDir, 'pki', 'ca.crt'), 'utf8').length > 0;
      } catch {
        return false;
      }
    }, 30_000, `${first.member} to make the cluster CA`);
    for (const h of hosts.slice(1)) {
      mkdirSync(join(h.dataDir, 'pki'), { recursive: true, mode: 0o700 });
      copyFileSync(join(first.dataDir, 'pki', 'ca.crt'), join(h.dataDir, 'pki', 'ca.crt'));
      copyFileSync(join(first.dataDir, 'pki', 'ca.key'), join(h.dataDir, 'pki', 'ca.key'));
      procs.start(h.member, h.ns, [process.execPath, ...serverArgs(h, peers)]);
    }
    await Promise.all(hosts.map((h) => procs.waitOutput(h.member, /Capstan server:/, 60_000)));
    ca = readFileSync(join(first.dataDir, 'pki', 'ca.crt'), 'utf8');
    adminToken = readFileSync(join(first.dataDir, 'admin.token'), 'utf8').trim();

    // On each host: a join token for its node, then `capstan join` against every member.
    const urls = [...hosts].map((h) => h.api);
    for (const h of hosts) {
      const own = readFileSync(join(h.dataDir, 'admin.token'), 'utf8').trim();
      const made = await cli(h, ['token', 'create', '--role', 'agent', '--node', h.node, '--server', h.api, '--ca', join(h.dataDir, 'pki', 'ca.crt'), '--token', own, '-o', 'json']);
      if (made.code !== 0) throw new Error(`token create on ${h.name}: ${made.stderr}`);
      h.joinToken = (JSON.parse(made.stdout) as { joinToken: string }).joinToken;
      // Its own member first, then the others.
      const order = [h.api, ...urls.filter((u) => u !== h.api)].join(',');
      procs.start(h.node, h.ns, [
        process.execPath, CAPSTAN_BIN, 'join', order,
        '--token', h.joinToken,
        '--runtime', 'process',
        '--state-dir', h.stateDir,
        '--listen', `${h.address}:${AGENT_PORT}`,
        // Its pods' hostIP and its Service router's address: the other nodes reach them there.
        '--address', h.address,
        // The node's DNS on the host's address, port 53: what the host's resolv.conf names.
        '--dns-address', h.address,
        '--heartbeat', '1',
        '--capacity', 'cpu=4,memory=8Gi',
        '--allow-overcommit',
      ]);
    }
    await Promise.all(hosts.map((h) => procs.waitOutput(h.node, new RegExp(`node ${h.node} registered`), 60_000)));
  }, 180_000);

  afterAll(async () => {
    await procs?.stopAll(5000);
    fleet?.teardown();
    if (dir && process.env.CAPSTAN_KEEP_E2E !== '1') rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('elects one leader among the three members, which talk over mutual TLS', async () => {
    const views = await Promise.all(hosts.map((h) => apiJson<{ members: { name: string; role: string; leader: boolean }[] }>('/api/v1/members', [h])));
    for (const v of views) {
      expect(v.members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
      expect(v.members.every((m) => m.role === 'voter')).toBe(true);
    }
    const leaders = views.map((v) => v.members.filter((m) => m.leader).map((m) => m.name));
    expect(leaders[0]).toHaveLength(1);
    expect(new Set(leaders.map((l) => l.join()))).toEqual(new Set([leaders[0]!.join()]));
  });

  it('verifies TLS: the join token carries the CA fingerprint, the API and node certificates come from the CA', async () => {
    const caCert = new X509Certificate(ca);
    const fingerprint = caCert.fingerprint256.replace(/:/g, '').toLowerCase();
    for (const h of hosts) {
      expect(h.joinToken).toMatch(/^CAPSTAN-1-[0-9a-f]{64}-/);
      expect(h.joinToken!.slice('CAPSTAN-1-'.length, 'CAPSTAN-1-'.length + 64)).toBe(fingerprint);
      // Every member serves the one CA (they were given the same files).
      expect(readFileSync(join(h.dataDir, 'pki', 'ca.crt'), 'utf8')).toBe(ca);

      // The API certificate verifies against ca.crt for the host's address, and not against the system's roots.
      const probe = await probeTls(bridge, h.address, API_PORT, ca);
      expect(probe, JSON.stringify(probe)).toMatchObject({ authorized: true });
      expect(probe.subjectaltname).toContain(`IP Address:${h.address}`);
      const untrusted = await probeTls(bridge, h.address, API_PORT);
      expect(untrusted.authorized).toBe(false);

      // The node certificate the join got names the node and is signed by the CA.
      const nodeCert = new X509Certificate(readFileSync(join(h.stateDir, 'pki', 'node.crt')));
      expect(nodeCert.subject).toMatch(new RegExp(`(^|\\n)CN=${h.node}($|\\n)`));
      expect(nodeCert.checkIssued(caCert)).toBe(true);
      expect(nodeCert.verify(caCert.publicKey)).toBe(true);
      // The agent port serves it.
      const agent = await probeTls(bridge, h.address, AGENT_PORT, ca);
      expect(agent.subject?.CN).toBe(h.node);
      expect(agent.authorized, JSON.stringify(agent)).toBe(true);
    }
  });

  it('refuses a token bound to one node acting for another (403)', async () => {
    const [a, b] = hosts as [Host, Host];
    const tokenA = a.joinToken!.slice('CAPSTAN-1-'.length + 65);
    const heartbeat = await api(b, `/api/v1/nodes/${b.node}`, {
      method: 'PUT',
      token: tokenA,
      body: { name: b.node, labels: {}, capacity: { cpu: 1000, memory: 1 << 30, pods: 10 }, runtime: 'process', status: { ready: true, address: b.address } },
    });
    expect(heartbeat.status, heartbeat.body).toBe(403);
    const certificate = await api(b, `/api/v1/nodes/${b.node}/certificate`, { method: 'POST', token: tokenA, body: { csr: 'not needed to be refused' } });
    expect(certificate.status, certificate.body).toBe(403);
    // Its own node is still its to act for.
    const own = await api(a, '/api/v1/pods', { token: tokenA });
    expect(own.status).toBe(200);
  });

  it('has the three agents Ready over TLS and spreads the app over the hosts', async () => {
    const list = await waitFor(async () => {
      const n = await nodes();
      return n.length === 3 && n.every((x) => x.status.ready) ? n : undefined;
    }, 30_000, 'three Ready nodes');
    expect(list.map((n) => n.name).sort()).toEqual(['node-1', 'node-2', 'node-3']);

    commitFiles(repo, { 'apps/backend.json': backendRollout('r1'), 'apps/backend-svc.json': service('backend', BACKEND_PORT), 'apps/frontend.json': frontendDeployment(), 'apps/frontend-svc.json': service('frontend', FRONTEND_PORT) }, 'two-tier app');
    await sync();
    const placed = await waitFor(async () => {
      const b = await pods('backend');
      const f = await pods('frontend');
      return b.length === BACKEND_REPLICAS && f.length === FRONTEND_REPLICAS && [...b, ...f].every(ready) ? [...b, ...f] : undefined;
    }, 60_000, 'backend and frontend pods Ready');
    const perNode = new Map<string, number>();
    for (const p of placed) perNode.set(p.spec.nodeName!, (perNode.get(p.spec.nodeName!) ?? 0) + 1);
    expect([...perNode.keys()].sort(), JSON.stringify(Object.fromEntries(perNode))).toEqual(['node-1', 'node-2', 'node-3']);
    const backend = await apiJson<WorkloadView>('/api/v1/deployments/default/backend');
    expect(backend.phase, backend.message).toBe('Healthy');

    // In every host the Service names resolve through the node's DNS (the host's resolv.conf),
    // short and full; a name no Service has does not.
    for (const h of hosts) {
      const names = await waitFor(async () => {
        const r = await resolveIn(h, ['backend', 'frontend.default.svc.cluster.local', 'nosuch']);
        return r.backend?.ok && r['frontend.default.svc.cluster.local']?.ok ? r : undefined;
      }, 20_000, `Service names resolving in ${h.name}`);
      // The node's own Service router: the routing mesh serves every Service on every node.
      expect(names.backend!.address).toBe(h.address);
      expect(names.nosuch, JSON.stringify(names.nosuch)).toMatchObject({ ok: false });
    }

    // The frontend on every host's Service port answers with what the backend (found by DNS
    // name, routed by the node it runs on) said; backend pods on several nodes answer.
    const where = new Map(placed.map((p) => [p.metadata.name, p.spec.nodeName!]));
    for (const h of hosts) {
      const answers = await waitFor(async () => {
        const a = await hit(h, FRONTEND_PORT, 10);
        return a.every((x) => x.status === 200) ? a : undefined;
      }, 30_000, `the frontend answering on ${h.address}:${FRONTEND_PORT}`);
      const backends = answers.map((a) => JSON.parse((JSON.parse(a.body) as { backend: string }).backend) as { revision: string; pod: string });
      expect(new Set(backends.map((b) => b.revision))).toEqual(new Set(['r1']));
      expect(new Set(backends.map((b) => where.get(b.pod))).size, JSON.stringify(backends)).toBeGreaterThan(1);
    }
  });

  it('loses a host mid-canary: the node goes NotReady and its pods move to the survivors, the canary stays at its step', async () => {
    commitFiles(repo, { 'apps/backend.json': backendRollout('r2') }, 'backend r2');
    await sync();
    const paused = await waitFor(async () => {
      const v = await apiJson<WorkloadView>('/api/v1/deployments/default/backend');
      const b = await pods('backend');
      return v.step === 1 && v.weight === 20 && b.length >= BACKEND_REPLICAS && b.every(ready) ? v : undefined;
    }, 60_000, 'the canary at its pause after setWeight 20');
    expect(paused.phase).toMatch(/Paused|Progressing/);
    const before = [...(await pods('backend')), ...(await pods('frontend'))];
    const revisions = new Set((await pods('backend')).map((p) => p.metadata.owner.revision));
    expect(revisions.size).toBe(2);

    // setWeight 20 on every node's router: 100 requests through one node, 20 to the canary
    // (within one: each node's sequence may stand anywhere in its cycle).
    const N = 100;
    await waitFor(async () => (await hit(hosts[0]!, BACKEND_PORT, 5)).every((a) => a.status === 200 && /"r2"|"r1"/.test(a.body)), 20_000, 'the backend Service answering');
    for (const h of hosts) expect(Math.abs((await canaryShare(h, N)) - N * 0.2), `canary share through ${h.name}`).toBeLessThanOrEqual(1);

    // The host with the most pods goes: kill -9 of its server, agent and pods, then its veth down.
    const count = (h: Host) => before.filter((p) => p.spec.nodeName === h.node).length;
    const victim = [...hosts].sort((x, y) => count(y) - count(x))[0]!;
    expect(count(victim)).toBeGreaterThan(0);
    const watcher = hosts.find((h) => h !== victim)!;
    // Meanwhile the frontend on a surviving host is called again and again.
    const calls: { phase: 'lost' | 'moved'; status: number; body: string }[] = [];
    let phase: 'lost' | 'moved' = 'lost';
    let loading = true;
    // Four callers: a call routed to the lost host's pods waits out its timeout, the others go on.
    const load = Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (loading) {
          const at = phase;
          const [a] = await hit(watcher, FRONTEND_PORT, 1);
          calls.push({ phase: at, ...a! });
          await sleep(50);
        }
      }),
    );
    victim.killed = true;
    procs.forget(victim.member);
    procs.forget(victim.node);
    procs.forget(`relay-${victim.name}`);
    expect(killNamespace(victim.ns)).toBeGreaterThanOrEqual(2);
    fleet!.unplug(victim);

    await waitFor(async () => (await nodes()).find((n) => n.name === victim.node)?.status.ready === false, 30_000, `${victim.node} NotReady`);
    // As many pods of each revision as before, all Ready, none on the lost node.
    const shape = (list: PodItem[]) => JSON.stringify(Object.entries(countBy(list, (p) => `${p.metadata.labels.app}/${p.metadata.owner.revision}`)).sort());
    let seen = '';
    const moved = await waitFor(async () => {
      const all = [...(await pods('backend')), ...(await pods('frontend'))];
      seen = JSON.stringify(all.map((p) => [p.metadata.name, p.spec.nodeName, p.status?.phase, ready(p)]));
      return shape(all) === shape(before) && all.every((p) => ready(p) && p.spec.nodeName !== victim.node) ? all : undefined;
    }, 60_000, `the pods of ${victim.node} recreated on the survivors`).catch((err: Error) => {
      throw new Error(`${err.message}\nbefore: ${shape(before)}\nnow: ${seen}`);
    });
    const survivors = new Set(live().map((h) => h.node));
    for (const p of moved) expect(survivors.has(p.spec.nodeName!)).toBe(true);

    // Once the pods moved, the frontend answers every call, through backends on the survivors.
    phase = 'moved';
    await waitFor(() => calls.filter((c) => c.phase === 'moved').length >= 20, 30_000, '20 frontend calls after the move').catch((err: Error) => {
      loading = false;
      throw new Error(`${err.message}; the last calls: ${JSON.stringify(calls.slice(-8))}`);
    });
    loading = false;
    await load;
    const lost = calls.filter((c) => c.phase === 'lost');
    const after = calls.filter((c) => c.phase === 'moved');
    // It kept answering while the host was lost (calls routed to the lost host's pods may fail until they move)...
    expect(lost.filter((c) => c.status === 200).length, JSON.stringify(lost.slice(-5))).toBeGreaterThan(0);
    // ...and every call after the move succeeded.
    expect(after.filter((c) => c.status !== 200), 'frontend calls after the move').toEqual([]);
    for (const c of after) expect(['r1', 'r2']).toContain((JSON.parse((JSON.parse(c.body) as { backend: string }).backend) as { revision: string }).revision);
    console.log(`fleet-netns e2e: ${victim.name} lost; frontend on ${watcher.name}: ${lost.filter((c) => c.status === 200).length}/${lost.length} answered before the move, ${after.length}/${after.length} after`);

    // The weights stay exact on the survivors.
    for (const h of live()) expect(Math.abs((await canaryShare(h, N)) - N * 0.2), `canary share through ${h.name} after the loss`).toBeLessThanOrEqual(1);
    // Through the frontends (each calling the backend through its own node's router): within one per node.
    const through = (await Promise.all(live().map((h) => hit(h, FRONTEND_PORT, 50)))).flat();
    expect(through.filter((c) => c.status !== 200)).toEqual([]);
    const canary = through.filter((c) => (JSON.parse((JSON.parse(c.body) as { backend: string }).backend) as { revision: string }).revision === 'r2').length;
    expect(Math.abs(canary - through.length * 0.2), `${canary} of ${through.length} frontend calls reached the canary`).toBeLessThanOrEqual(live().length);
    // The canary is still where it was: step 1 of 4, weight 20, both revisions running.
    const status = await apiJson<WorkloadView>('/api/v1/deployments/default/backend');
    expect(status.step).toBe(1);
    expect(status.weight).toBe(20);
    expect(new Set((await pods('backend')).map((p) => p.metadata.owner.revision))).toEqual(revisions);
  }, 150_000);

  // Last: a member that this takes down would leave the tests above without a quorum.
  it('refuses a peer connection without a member certificate, and the member keeps serving', async () => {
    const peer = live()[live().length - 1]!;
    const anonymous = await relayRequest(bridge, `https://${peer.address}:${PEER_PORT}/raft/v1/messages`, { method: 'POST', ca, body: '{}' }).then(
      (r) => `answered ${r.status}`,
      (err: Error) => `refused: ${err.message}`,
    );
    expect(anonymous).toMatch(/^refused/);
    await sleep(1000);
    const child = procs.child(peer.member);
    expect(child?.exitCode ?? child?.signalCode ?? null, `${peer.member} exited:\n${procs.output(peer.member).slice(-1500)}`).toBeNull();
    const members = await api(peer, '/api/v1/members');
    expect(members.status).toBe(200);
  });
});
