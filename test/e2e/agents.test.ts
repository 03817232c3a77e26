// Three nodes as separate processes: `capstan server` and three `capstan agent`s spawned from
// the built binary (process runtime, one state dir each), agent tokens made through the API.
// One agent is SIGKILLed: its node goes NotReady, its pods are recreated on the other two
// after the eviction timeout, and when it comes back it stops what it left running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGitServer, freePort, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import { BUILT, CapstanProcesses } from '../helpers/spawn.js';
import { KEEP_CONFIGMAP, NEVER, apiCall, cleanupCluster, nodeDeployment, podProcesses, tempDataDir, waitFor } from '../helpers/cluster.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const built = BUILT;
if (!built) console.warn('[agents e2e skipped] dist/ is missing: run `npm run build` (npm test does)');

let git: GitServer;
let repo: TestRepo;
let dir: string;
let url: string;
let adminToken: string;
let procs: CapstanProcesses;
const tokens = new Map<string, string>();

interface PodRow {
  name: string;
  node: string | null;
  phase: string;
  ready: boolean;
}

async function startAgent(node: string): Promise<void> {
  await procs.start(
    node,
    ['agent', '--server', url, '--token', tokens.get(node)!, '--name', node, '--runtime', 'process', '--state-dir', join(dir, node), '--heartbeat', '1', '--capacity', 'cpu=4,memory=8Gi', '--allow-overcommit'],
    new RegExp(`node ${node} registered`),
  );
}

async function pods(): Promise<PodRow[]> {
  const out = await runCli(['get', 'pods', '--server', url, '--token', adminToken, '-o', 'json']);
  if (out.code !== 0) throw new Error(out.stderr);
  return (JSON.parse(out.stdout) as PodRow[]).filter((p) => p.name.startsWith('spread-'));
}

async function nodeReady(node: string): Promise<boolean | undefined> {
  const out = await runCli(['get', 'nodes', '--server', url, '--token', adminToken, '-o', 'json']);
  if (out.code !== 0) throw new Error(out.stderr);
  return (JSON.parse(out.stdout) as { name: string; ready: boolean }[]).find((n) => n.name === node)?.ready;
}

beforeAll(async () => {
  if (!built) return;
  dir = tempDataDir('capstan-e2e-agents-');
  procs = new CapstanProcesses(dir, 'agents e2e');
  git = await startGitServer();
  repo = createRepo(git, 'agents', {
    'config/keep.yaml': KEEP_CONFIGMAP,
  });
  const port = await freePort();
  const serverDir = join(dir, 'server');
  mkdirSync(serverDir);
  await procs.start(
    'server',
    ['server', '--source', repo.url, '--data-dir', serverDir, '--port', String(port), '--sync-schedule', NEVER, '--eviction-timeout', '3', '--node-lease', '3'],
    /Capstan server: http/,
  );
  url = `http://127.0.0.1:${port}`;
  const { readFileSync } = await import('node:fs');
  adminToken = readFileSync(join(serverDir, 'admin.token'), 'utf8').trim();
  for (const node of NODES) {
    const r = await apiCall(url, adminToken, '/api/v1/tokens', { method: 'POST', body: { role: 'agent', user: `agent:${node}`, node } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    tokens.set(node, r.body.token as string);
  }
  await Promise.all(NODES.map((n) => startAgent(n)));
});

afterAll(async () => {
  if (!built) return;
  // Agents first (their pods stay: cleanup kills them by folder), then the server.
  await procs.stopAll();
  await cleanupCluster(undefined, dir);
  await git?.stop();
});

describe.skipIf(!built)('three agents as separate processes', () => {
  it('spreads a Deployment of 3 over the three nodes, all Ready', async () => {
    // Pushed once every node is up, so the scheduler sees all three.
    pushCommit(repo, { 'apps/spread.yaml': nodeDeployment({ name: 'spread', replicas: 3, reply: 'spread' }) }, 'spread');
    const sync = await apiCall(url, adminToken, '/api/v1/sync', { method: 'POST', body: {} });
    expect(sync.status).toBe(200);
    const list = await waitFor(async () => {
      const p = await pods();
      return p.length === 3 && p.every((x) => x.ready) ? p : undefined;
    }, 30_000, '3 ready pods');
    expect(new Set(list.map((p) => p.node)).size).toBe(3);
    for (const node of NODES) expect(await nodeReady(node)).toBe(true);
  });

  it('moves the pods of a SIGKILLed agent to the other nodes; the agent stops its leftovers when it returns', async () => {
    const before = await pods();
    const victim = before[0]!.node!;
    await procs.stop(victim, 'SIGKILL');
    await waitFor(async () => (await nodeReady(victim)) === false, 15_000, `${victim} NotReady`);
    const after = await waitFor(async () => {
      const p = await pods();
      return p.length === 3 && p.every((x) => x.ready && x.node !== victim) ? p : undefined;
    }, 30_000, 'pods recreated on the other nodes');
    expect(new Set(after.map((p) => p.node)).size).toBe(2);

    // The runtime starts pods in their own process groups, so they outlive a killed agent.
    const leftovers = podProcesses(join(dir, victim));
    expect([...leftovers.keys()], 'what the killed agent left running').toEqual(before.filter((p) => p.node === victim).map((p) => `default/${p.name}`));

    // Back on the same state dir, the agent adopts them, finds no pod bound to it, and stops them.
    await startAgent(victim);
    await waitFor(async () => (await nodeReady(victim)) === true, 15_000, `${victim} Ready again`);
    await waitFor(() => podProcesses(join(dir, victim)).size === 0, 20_000, `${victim} leftovers stopped`);

    // Exactly one process per pod, across the nodes.
    const live = await pods();
    expect(live).toHaveLength(3);
    const byPod = new Map<string, number>();
    for (const node of NODES) for (const [pod, list] of podProcesses(join(dir, node))) byPod.set(pod, (byPod.get(pod) ?? 0) + list.length);
    expect(Object.fromEntries(byPod)).toEqual(Object.fromEntries(live.map((p) => [`default/${p.name}`, 1])));
    for (const p of live) expect(p.node).not.toBeNull();
  });

  it('stops every agent and the server on SIGTERM, leaving the pods running for adoption', async () => {
    const live = await pods();
    for (const node of NODES) await procs.stop(node, 'SIGTERM');
    await procs.stop('server', 'SIGTERM');
    expect(procs.hung, 'processes that ignored SIGTERM').toEqual([]);
    const running = new Set(NODES.flatMap((n) => [...podProcesses(join(dir, n)).keys()]));
    expect(running).toEqual(new Set(live.map((p) => `default/${p.name}`)));
  });
});
