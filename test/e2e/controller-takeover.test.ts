// Controller takeover in a Raft group, counted in containers. Three `capstan server`
// processes (the built binary) on 127.0.0.1, and one `capstan agent` (process runtime) that
// knows all three. The member that runs the controllers is killed with SIGKILL in the middle
// of a rolling update, twice (the first one is back before the second kill). Each time
// another member must take over and finish the rollout. Afterwards the agent must run exactly
// one process per pod the store has: no pod made twice by two holders, no container left
// behind by a pod that is gone.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles, initWorkTree } from '../helpers/git.js';
import { freePort } from '../helpers/git-server.js';
import { apiCall, cleanupCluster, NEVER, nodeDeployment, podProcesses, tempDataDir, waitFor } from '../helpers/cluster.js';
import { BUILT, CapstanProcesses } from '../helpers/spawn.js';

if (!BUILT) console.warn('[controller-takeover e2e skipped] dist/ is missing: run `npm run build` (npm test does)');

const NAMES = ['a', 'b', 'c'];
const REPLICAS = 4;

let dir: string;
let procs: CapstanProcesses;
let peers: string;
let adminToken = '';
const api = new Map<string, string>();

function serverArgs(name: string): string[] {
  return [
    'server',
    '--name', name,
    '--peers', peers,
    '--cluster-token-file', join(dir, 'cluster.token'),
    '--port', new URL(api.get(name)!).port,
    '--data-dir', join(dir, name),
    '--source', join(dir, 'manifests'),
    '--branch', 'main',
    '--no-router',
    '--no-status-write',
    '--sync-schedule', NEVER,
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
  ];
}

const startServer = (name: string) => procs.start(name, serverArgs(name), /Capstan server:/, 40_000);

/** The one member whose /metrics says it holds controller leadership, if exactly one does. */
async function holder(candidates: string[]): Promise<string | undefined> {
  const leading: string[] = [];
  for (const name of candidates) {
    const res = await fetch(`${api.get(name)}/metrics`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    const text = res?.ok ? await res.text() : '';
    if (/^capstan_controller_leader\{[^}]*\} 1$/m.test(text)) leading.push(name);
  }
  return leading.length === 1 ? leading[0] : undefined;
}

interface PodRow {
  namespace: string;
  name: string;
  phase: string;
  ready: boolean;
  revision?: string;
}

async function webPods(via: string): Promise<PodRow[]> {
  const r = await apiCall(api.get(via)!, adminToken, '/api/v1/pods');
  const items = (r.body.items ?? []) as { metadata: { namespace: string; name: string; labels?: Record<string, string> }; status?: { phase?: string; ready?: boolean } }[];
  return items
    .filter((p) => p.metadata.labels?.app === 'web')
    .map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name, phase: p.status?.phase ?? '', ready: p.status?.ready === true, revision: p.metadata.labels?.['capstan.dev/revision-hash'] }));
}

/** `web` rolled out to `reply`: REPLICAS ready pods, all of one revision, and nothing else. */
async function rolledOutTo(via: string, reply: string): Promise<PodRow[] | undefined> {
  const pods = await webPods(via).catch(() => undefined);
  if (!pods || pods.length !== REPLICAS || !pods.every((p) => p.phase === 'Running' && p.ready)) return undefined;
  if (new Set(pods.map((p) => p.revision)).size !== 1) return undefined;
  // Every pod answers with the new reply: its process runs the new template.
  const processes = podProcesses(join(dir, 'agent'));
  for (const p of pods) {
    const list = processes.get(`${p.namespace}/${p.name}`) ?? [];
    if (!list.some((x) => x.cmdline.join(' ').includes(JSON.stringify(reply)))) return undefined;
  }
  return pods;
}

function push(reply: string): void {
  commitFiles(join(dir, 'manifests'), { 'web.yaml': nodeDeployment({ name: 'web', replicas: REPLICAS, reply, maxSurge: 1, maxUnavailable: 0, listenAfterMs: 300 }) }, `web says ${reply}`);
}

describe.skipIf(!BUILT)('controller takeover in a Raft group, counted in containers', () => {
  beforeAll(async () => {
    dir = tempDataDir('capstan-takeover-e2e-');
    procs = new CapstanProcesses(dir, 'controller-takeover e2e');
    initWorkTree({}, join(dir, 'manifests'));
    commitFiles(join(dir, 'manifests'), { 'README.md': 'manifests for the takeover test\n' }, 'start');
    writeFileSync(join(dir, 'cluster.token'), 'e2e-cluster-token-takeover-0123456789\n', { mode: 0o600 });
    const peerUrls: string[] = [];
    for (const name of NAMES) {
      api.set(name, `http://127.0.0.1:${await freePort()}`);
      peerUrls.push(`${name}=http://127.0.0.1:${await freePort()}`);
    }
    peers = peerUrls.join(',');
    await Promise.all(NAMES.map((n) => startServer(n)));
    adminToken = readFileSync(join(dir, 'a', 'admin.token'), 'utf8').trim();
    const first = await waitFor(() => holder(NAMES), 30_000, 'a controller leadership holder');
    const token = await apiCall(api.get(first)!, adminToken, '/api/v1/tokens', { method: 'POST', body: { role: 'agent', user: 'agent:n1', node: 'n1' } });
    expect(token.status, JSON.stringify(token.body)).toBe(201);
    await procs.start(
      'agent',
      ['agent', '--server', NAMES.map((n) => api.get(n)).join(','), '--token', token.body.token as string, '--name', 'n1', '--runtime', 'process', '--state-dir', join(dir, 'agent'), '--heartbeat', '1', '--dns-port', '0', '--capacity', 'cpu=8,memory=16Gi', '--allow-overcommit'],
      /node n1 registered/,
    );
  }, 120_000);

  afterAll(async () => {
    if (!procs) return;
    await procs.stop('agent');
    await procs.stopAll();
    await cleanupCluster(undefined, dir);
  });

  it('another member finishes a rolling update after kill -9 of the holder, with one container per pod', async () => {
    push('v1');
    let current = await waitFor(() => holder(NAMES), 30_000, 'a holder');
    await apiCall(api.get(current)!, adminToken, '/api/v1/sync', { method: 'POST', body: {} });
    await waitFor(() => rolledOutTo(current, 'v1'), 60_000, 'web v1 rolled out');

    const takeovers: number[] = [];
    for (const reply of ['v2', 'v3']) {
      push(reply);
      const sync = await apiCall(api.get(current)!, adminToken, '/api/v1/sync', { method: 'POST', body: {} });
      expect(sync.status, JSON.stringify(sync.body)).toBe(200);
      // Mid-rollout: the first surge pod of the new revision exists, the old ones still run.
      await waitFor(async () => (await webPods(current)).some((p) => p.phase !== 'Running' || !p.ready), 20_000, `the ${reply} rollout to start`, 50);
      const killedAt = performance.now();
      await procs.stop(current, 'SIGKILL');
      const survivors = NAMES.filter((n) => n !== current);
      const next = await waitFor(() => holder(survivors), 30_000, 'a new holder', 50);
      takeovers.push(performance.now() - killedAt);
      // The new holder finishes the rollout; the dead member's writes never land twice.
      const pods = await waitFor(() => rolledOutTo(next, reply), 90_000, `web ${reply} rolled out by ${next}`);
      // Containers: exactly one process per pod in the store, none for a pod that is gone.
      await waitFor(() => {
        const processes = podProcesses(join(dir, 'agent'));
        const web = [...processes.entries()].filter(([pod]) => pod.startsWith('default/web-'));
        return web.length === REPLICAS && web.every(([, list]) => list.length === 1) ? true : undefined;
      }, 30_000, 'one process per web pod, no leftovers');
      const running = [...podProcesses(join(dir, 'agent')).keys()].filter((pod) => pod.startsWith('default/web-')).sort();
      expect(running).toEqual(pods.map((p) => `${p.namespace}/${p.name}`).sort());
      expect(new Set(pods.map((p) => p.name)).size).toBe(REPLICAS);
      // The killed member comes back as a follower before the next kill (a quorum of three again).
      await startServer(current);
      expect(await holder(NAMES)).toBe(next);
      current = next;
    }
    console.log(`controller-takeover e2e: leadership moved after kill -9 in ${takeovers.map((t) => `${t.toFixed(0)} ms`).join(', ')}`);
  }, 300_000);
});
