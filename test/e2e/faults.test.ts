// Faults end to end, on one local cluster (process runtime) fed by a real smart-HTTP Git
// server: a crash loop, a readiness probe that never passes, a pod too big for any node,
// bad tokens, and a control plane stopped in the middle of a rollout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import {
  KEEP_CONFIGMAP,
  apiCall,
  cleanupCluster,
  httpGet,
  nodeDeployment,
  podProcesses,
  recordPodHistory,
  rolledOut,
  startTestCluster,
  waitFor,
  workloadPods,
  workloadStatus,
  type TestCluster,
} from '../helpers/cluster.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
let dataDir: string | undefined;

interface PodRow {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason?: string;
  message?: string;
  revision: string;
}

beforeAll(async () => {
  git = await startGitServer();
  repo = createRepo(git, 'faults', {
    'config/keep.yaml': KEEP_CONFIGMAP,
    'apps/serve.yaml': nodeDeployment({ name: 'serve', replicas: 2, reply: 'serve v1' }),
    'apps/crash.yaml': nodeDeployment({ name: 'crash', replicas: 1, reply: '', command: [process.execPath, '-e', 'process.exit(3)'] }),
    'apps/huge.yaml': nodeDeployment({ name: 'huge', replicas: 1, reply: 'huge', memory: '10000Gi' }),
    'apps/slow.yaml': nodeDeployment({ name: 'slow', replicas: 3, reply: 'slow v1' }),
  });
  cluster = await startTestCluster({ source: repo.url });
  dataDir = cluster.dataDir;
});

afterAll(async () => {
  await cleanupCluster(cluster, dataDir);
  await git?.stop();
});

async function getPods(): Promise<PodRow[]> {
  const out = await runCli(['get', 'pods', '--server', cluster!.url, '--token', cluster!.adminToken, '-o', 'json']);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as PodRow[];
}

async function push(files: Record<string, string | null>, message: string): Promise<void> {
  pushCommit(repo, files, message);
  const state = await cluster!.sync.sync('test');
  expect(state.phase, state.message).toBe('Synced');
}

describe('faults, end to end', () => {
  it('keeps a pod that asks for more memory than any node has Pending, with the counted reason', async () => {
    // Before the node registers the reason is "no nodes available"; once it has, the scheduler
    // tries again and counts the node that lacks memory.
    const counted = /0\/1 nodes are available: 1 .*memory/i;
    const pod = await waitFor(
      async () => (await getPods()).find((p) => p.name.startsWith('huge-') && p.reason === 'Unschedulable' && counted.test(p.message ?? '')),
      30_000,
      'huge Unschedulable with the counted reason',
    );
    expect(pod.phase).toBe('Pending');
    expect(pod.message).toMatch(counted);
  });

  it('refuses a wrong token (401) and a viewer calling sync (403)', async () => {
    const c = cluster!;
    expect((await apiCall(c.url, 'not-a-token', '/api/v1/pods')).status).toBe(401);
    expect((await apiCall(c.url, undefined, '/api/v1/pods')).status).toBe(401);
    const created = await apiCall(c.url, c.adminToken, '/api/v1/tokens', { method: 'POST', body: { role: 'viewer', user: 'watcher' } });
    expect(created.status).toBe(201);
    const viewer = created.body.token as string;
    expect((await apiCall(c.url, viewer, '/api/v1/pods')).status).toBe(200);
    const sync = await apiCall(c.url, viewer, '/api/v1/sync', { method: 'POST', body: {} });
    expect(sync.status).toBe(403);
    // The CLI says the same and exits 1.
    const cli = await runCli(['sync', '--server', c.url, '--token', viewer]);
    expect(cli.code).toBe(1);
    expect((await runCli(['get', 'pods', '--server', c.url, '--token', 'wrong'])).code).toBe(1);
  });

  it('marks a rollout whose probe never passes Degraded at the deadline, while the old pods keep serving', async () => {
    const c = cluster!;
    await waitFor(() => rolledOut(c.kv, 'serve', 2), 20_000, 'serve v1 ready');
    await push({ 'apps/serve.yaml': nodeDeployment({ name: 'serve', replicas: 2, reply: 'serve v2', readyPath: '/never', progressDeadlineSeconds: 5 }) }, 'serve v2, never ready');
    const status = await waitFor(async () => {
      const st = await workloadStatus(c.kv, 'serve');
      return st?.phase === 'Degraded' ? st : undefined;
    }, 25_000, 'serve Degraded');
    expect(JSON.stringify(status.conditions) + status.message).toContain('ProgressDeadlineExceeded');
    const out = await runCli(['status', 'serve', '--wait', '--timeout', '10', '--server', c.url, '--token', c.adminToken]);
    expect(out.code).toBe(1);
    // The two old pods are still there, ready, and answer.
    const pods = await workloadPods(c.kv, 'serve');
    const old = pods.filter((p) => p.status.ready && !p.metadata.deletionRequestedAt);
    expect(old).toHaveLength(2);
    for (const p of old) expect(await httpGet(p.status.ports!.http!)).toBe('serve v1');
    // The new pod runs but is not ready.
    expect(pods.filter((p) => !p.status.ready).length).toBeGreaterThanOrEqual(1);
  });

  it('shows a command that exits at once as CrashLoopBackOff with growing restarts', async () => {
    const first = await waitFor(async () => (await getPods()).find((p) => p.name.startsWith('crash-') && p.reason === 'CrashLoopBackOff'), 20_000, 'crash in CrashLoopBackOff');
    expect(first.ready).toBe(false);
    expect(first.restarts).toBeGreaterThanOrEqual(1);
    // The back-off starts at 10 s: the next restart comes after it.
    const later = await waitFor(async () => (await getPods()).find((p) => p.name === first.name && p.restarts > first.restarts), 25_000, 'another restart');
    expect(later.restarts).toBeGreaterThan(first.restarts);
  });

  it('resumes a rollout after the control plane stops mid-way: no duplicate or orphaned processes', async () => {
    let c = cluster!;
    await waitFor(() => rolledOut(c.kv, 'slow', 3), 20_000, 'slow v1 ready');
    const rec = await recordPodHistory(c.kv, 'slow');
    await push({ 'apps/slow.yaml': nodeDeployment({ name: 'slow', replicas: 3, reply: 'slow v2', listenAfterMs: 1500 }) }, 'slow v2');
    // Stop once the new revision has a pod and the old one still has all of its own.
    await waitFor(() => rec.samples.some((s) => Object.keys(s.byRevision).length === 2), 15_000, 'rollout under way');
    rec.stop();
    await c.stop();
    cluster = undefined;
    c = await startTestCluster({ source: repo.url, dataDir });
    cluster = c;
    const target = newest(rec.samples);
    await waitFor(async () => (await rolledOut(c.kv, 'slow', 3)) && (await workloadPods(c.kv, 'slow')).every((p) => p.metadata.owner.revision === target), 40_000, 'slow v2 rolled out after restart');
    const pods = await workloadPods(c.kv, 'slow');
    for (const p of pods) expect(await httpGet(p.status.ports!.http!)).toBe('slow v2');

    // One process per pod that the store knows, and no process for a pod it does not.
    const known = new Set((await Promise.all(['serve', 'crash', 'huge', 'slow'].map((n) => workloadPods(c.kv, n)))).flat().map((p) => `default/${p.metadata.name}`));
    const stateDir = join(dataDir!, 'agent');
    await waitFor(() => [...podProcesses(stateDir).keys()].every((k) => known.has(k)), 15_000, 'no orphaned processes');
    const procs = podProcesses(stateDir);
    for (const p of pods) expect(procs.get(`default/${p.metadata.name}`), p.metadata.name).toHaveLength(1);
    for (const [pod, list] of procs) expect(list, pod).toHaveLength(1);
    // One state file per live container, none left over.
    const files = readdirSync(join(stateDir, 'containers')).filter((f) => f.startsWith('default_slow-'));
    expect(files).toHaveLength(3);
  });
});

/** The revision hash that appeared last in the recorded history. */
function newest(samples: { byRevision: Record<string, unknown> }[]): string {
  const seen: string[] = [];
  for (const s of samples) for (const k of Object.keys(s.byRevision)) if (!seen.includes(k)) seen.push(k);
  return seen.at(-1) ?? '';
}
