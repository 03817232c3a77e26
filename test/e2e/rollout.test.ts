// End to end on the process runtime: a real smart-HTTP Git server, the composed control plane
// and its local agent running `node -e` HTTP servers. Manifests are pushed, syncs triggered by
// hand, and the pod history read from the store's watch is checked against the strategy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, TEST_AUTHOR, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import {
  KEEP_CONFIGMAP,
  cleanupCluster,
  countKeys,
  httpGet,
  nodeDeployment,
  podProcesses,
  recordPodHistory,
  rolledOut,
  startTestCluster,
  waitFor,
  workloadPods,
  type PodHistory,
  type TestCluster,
} from '../helpers/cluster.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
let history: PodHistory | undefined;

const FILE = 'apps/web.yaml';

beforeAll(async () => {
  git = await startGitServer();
  repo = createRepo(git, 'deploy', {
    'config/keep.yaml': KEEP_CONFIGMAP,
    [FILE]: nodeDeployment({ name: 'web', replicas: 3, reply: 'v1' }),
  });
  cluster = await startTestCluster({ source: repo.url });
  history = await recordPodHistory(cluster.kv, 'web');
});

afterAll(async () => {
  history?.stop();
  await cleanupCluster(cluster, cluster?.dataDir);
  await git?.stop();
});

async function push(files: Record<string, string | null>, message: string): Promise<void> {
  pushCommit(repo, files, message);
  const state = await cluster!.sync.sync('test');
  expect(state.phase, state.message).toBe('Synced');
}

async function replies(): Promise<string[]> {
  const pods = await workloadPods(cluster!.kv, 'web');
  return Promise.all(pods.map(async (p) => (await httpGet(p.status.ports?.http ?? 0)) ?? 'none'));
}

describe('a Deployment pushed through Git, on the process runtime', () => {
  it('brings 3 pods to Ready and shows them in capstan get pods', async () => {
    const c = cluster!;
    expect(c.firstSync.phase, c.firstSync.message).toBe('Synced');
    await waitFor(() => rolledOut(c.kv, 'web', 3), 30_000, 'web 3/3 ready');
    expect(await replies()).toEqual(['v1', 'v1', 'v1']);

    const out = await runCli(['get', 'pods', '--server', c.url, '--token', c.adminToken, '-o', 'json']);
    expect(out.code, out.stderr).toBe(0);
    const items = JSON.parse(out.stdout) as { name: string; node: string; phase: string; ready: boolean; restarts: number }[];
    const web = items.filter((p) => p.name.startsWith('web-'));
    expect(web).toHaveLength(3);
    for (const p of web) expect(p).toMatchObject({ node: 'e2e-node', phase: 'Running', ready: true, restarts: 0 });

    const status = await runCli(['status', 'web', '--wait', '--timeout', '20', '--server', c.url, '--token', c.adminToken]);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  });

  it('rolls a new version with maxSurge 1, maxUnavailable 0: never below 3 ready, never above 4 not terminating', async () => {
    const c = cluster!;
    const from = history!.samples.length;
    await push({ [FILE]: nodeDeployment({ name: 'web', replicas: 3, reply: 'v2' }) }, 'web v2');
    await waitFor(async () => (await rolledOut(c.kv, 'web', 3)) && (await replies()).every((r) => r === 'v2'), 40_000, 'web v2 rolled out');
    const samples = history!.since(from);
    const revisions = new Set(samples.flatMap((s) => Object.keys(s.byRevision)));
    expect(revisions.size).toBe(2);
    expect(Math.min(...samples.map((s) => s.ready))).toBeGreaterThanOrEqual(3);
    // As in Kubernetes, a pod being stopped (SIGTERM sent, grace running) does not count
    // against maxSurge, so alive processes may briefly reach 5; pods not terminating never pass 4.
    const over = samples.filter((s) => s.alive - s.terminating > 4);
    expect(over, JSON.stringify(over)).toEqual([]);
    // Only one process per pod, and none left for the old revision.
    const procs = podProcesses(`${c.dataDir}/agent`);
    expect(procs.size).toBe(3);
    for (const list of procs.values()) expect(list).toHaveLength(1);

    // History names the pushed commit's author and message.
    const out = await runCli(['history', 'web', '--server', c.url, '--token', c.adminToken, '-o', 'json']);
    expect(out.code, out.stderr).toBe(0);
    const entries = JSON.parse(out.stdout) as { revision: number; author: string; message: string; outcome: string }[];
    const newest = entries.reduce((a, b) => (b.revision > a.revision ? b : a));
    expect(newest).toMatchObject({ author: `${TEST_AUTHOR.name} <${TEST_AUTHOR.email}>`, message: 'web v2', outcome: 'Healthy' });
  });

  it('Recreate never has old and new pods alive at once', async () => {
    const c = cluster!;
    const from = history!.samples.length;
    await push({ [FILE]: nodeDeployment({ name: 'web', replicas: 3, reply: 'v3', strategy: 'Recreate' }) }, 'web v3, recreate');
    await waitFor(async () => (await rolledOut(c.kv, 'web', 3)) && (await replies()).every((r) => r === 'v3'), 40_000, 'web v3 recreated');
    const samples = history!.since(from);
    for (const s of samples) {
      const withPods = Object.values(s.byRevision).filter((r) => r.alive > 0);
      expect(withPods.length, JSON.stringify(s)).toBeLessThanOrEqual(1);
    }
    // The recreate really went through zero.
    expect(samples.some((s) => s.alive === 0)).toBe(true);
  });

  it('scales 3 → 5 → 2', async () => {
    const c = cluster!;
    await push({ [FILE]: nodeDeployment({ name: 'web', replicas: 5, reply: 'v3', strategy: 'Recreate' }) }, 'scale to 5');
    await waitFor(() => rolledOut(c.kv, 'web', 5), 30_000, 'web 5/5');
    await push({ [FILE]: nodeDeployment({ name: 'web', replicas: 2, reply: 'v3', strategy: 'Recreate' }) }, 'scale to 2');
    await waitFor(() => rolledOut(c.kv, 'web', 2), 30_000, 'web 2/2');
    await waitFor(() => podProcesses(`${c.dataDir}/agent`).size === 2, 15_000, 'two pod processes');
    expect((await replies()).sort()).toEqual(['v3', 'v3']);
  });

  it('prunes the Deployment, its revisions and pods when its file leaves Git', async () => {
    const c = cluster!;
    await push({ [FILE]: null }, 'remove web');
    await waitFor(
      async () =>
        (await countKeys(c.kv, `${STORE_PREFIX.desired}Deployment/default/web`)) === 0 &&
        (await countKeys(c.kv, `${STORE_PREFIX.revisions}default/web/`)) === 0 &&
        (await workloadPods(c.kv, 'web')).length === 0,
      30_000,
      'web pruned',
    );
    expect(await countKeys(c.kv, `${STORE_PREFIX.desired}ConfigMap/default/keep`)).toBe(1);
    await waitFor(() => podProcesses(`${c.dataDir}/agent`).size === 0, 15_000, 'no pod processes');
    const out = await runCli(['get', 'deployments', '--server', c.url, '--token', c.adminToken, '-o', 'json']);
    expect(out.code, out.stderr).toBe(0);
    expect((JSON.parse(out.stdout) as { name: string }[]).map((d) => d.name)).not.toContain('web');
  });
});
