// Rollback end to end: a real Git server over smart HTTP (reached through a TCP relay this
// test can cut, so "Git is down" is a refused connection), the composed control plane and
// its local agent running `node -e` servers. `capstan rollback` commits to Git and the return
// to the healthy revision is fast-tracked past every canary step; `--live` works with Git
// unreachable and pins until a later commit changes the manifest; an abort stays pinned
// across a sync of an unrelated commit.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent, type HistoryEntry } from '../../src/api/cluster.js';
import type { StoredWorkloadStatus } from '../../src/controllers/workload/index.js';
import { runCli } from '../helpers/cli.js';
import { cleanupCluster, startTestCluster, waitFor, workloadPods, type TestCluster } from '../helpers/cluster.js';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, git, pushCommit, type TestRepo } from '../helpers/git.js';
import { docs, hashOf, healthy as healthyOn, rollout, rolloutOverride, rolloutStatus } from '../helpers/progressive.js';

/** A TCP relay on 127.0.0.1 to the Git server that can be cut (connections refused) and restored. */
interface Relay {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const open = async (): Promise<void> => {
    const s = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  await open();
  return {
    port,
    async cut() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    restore: open,
  };
}

const STEPS = [{ setWeight: 50 }, { pause: {} }];
const web = (version: string): string => rollout({ name: 'web', version, strategy: { canary: { steps: STEPS } } });
const configMap = (value: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other' }, data: { A: value } });

let server: GitServer;
let relay: Relay;
let repo: TestRepo;
let cluster: TestCluster | undefined;

const kv = () => cluster!.kv;
const status = () => rolloutStatus(kv(), 'web');
const healthyAt = async (revision: number): Promise<StoredWorkloadStatus | undefined> => {
  const st = await status();
  return st?.revision === revision && (await healthyOn(kv(), 'web', 2)) ? st : undefined;
};

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await runCli([...args, '--server', cluster!.url, '--token', cluster!.adminToken]);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function history(): Promise<HistoryEntry[]> {
  const r = await cli('history', 'web', '-o', 'json');
  expect(r.code, r.out).toBe(0);
  return JSON.parse(r.out) as HistoryEntry[];
}

async function pushAndSync(files: Record<string, string>, message: string): Promise<void> {
  // The status writer may have pushed annotations: build on the branch as it is now.
  git(repo.work, 'pull', '--quiet', '--rebase', 'origin', 'main');
  pushCommit(repo, files, message);
  const state = await cluster!.sync.sync('test');
  expect(state.phase, state.message).toBe('Synced');
}

/** Every value the status record takes from now on. */
function recordStatuses(): { seen: StoredWorkloadStatus[]; stop(): void } {
  const seen: StoredWorkloadStatus[] = [];
  const abort = new AbortController();
  const key = `${STORE_PREFIX.status}Rollout/default/web`;
  void (async () => {
    const from = (await kv().range(key, { prefix: false })).revision + 1;
    try {
      for await (const batch of kv().watch(key, { prefix: false, fromRevision: from, signal: abort.signal })) {
        for (const e of batch.events) if (e.type === 'put') seen.push(JSON.parse(Buffer.from(e.kv.value).toString('utf8')) as StoredWorkloadStatus);
      }
    } catch {
      // Stopped, or the store closed.
    }
  })();
  return { seen, stop: () => abort.abort() };
}

beforeAll(async () => {
  server = await startGitServer();
  repo = createRepo(server, 'rollback', { 'apps/web.yaml': docs(web('v1')), 'apps/other.yaml': docs(configMap('1')) });
  relay = await startRelay(Number(new URL(server.url('rollback')).port));
  const url = new URL(server.url('rollback'));
  url.port = String(relay.port);
  cluster = await startTestCluster({ source: url.toString() });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
  await waitFor(() => healthyAt(1), 40_000, 'web v1 healthy');
  // v2 walks its canary to the manual pause and is promoted: two healthy revisions.
  await pushAndSync({ 'apps/web.yaml': docs(web('v2')) }, 'web v2');
  await waitFor(async () => (await status())?.phase === 'Paused' && (await status())?.revision === 2, 40_000, 'v2 at its manual pause');
  const r = await cli('promote', 'web', '--full');
  expect(r.code, r.out).toBe(0);
  await waitFor(() => healthyAt(2), 40_000, 'web v2 healthy');
}, 150_000);

afterAll(async () => {
  await cleanupCluster(cluster, cluster?.dataDir);
  await relay?.cut();
  await server?.stop();
});

describe('rollback with Git as the record', () => {
  it('capstan rollback commits to Git, is fast-tracked past every step, and history shows RolledBack', async () => {
    const v1 = (await rolloutStatus(kv(), 'web'))!;
    const recorder = recordStatuses();
    let done: StoredWorkloadStatus;
    try {
      const r = await cli('rollback', 'web');
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('roll back web to revision 1');
      done = await waitFor(() => healthyAt(3), 60_000, 'revision 3 healthy');
    } finally {
      recorder.stop();
    }
    // The commit is on the branch, in Git, with v1's template back in the file.
    // (Status commits of the bot may follow it on the branch.)
    const log = git(repo.bare, 'log', '--format=%H|%s', 'main').split('\n');
    const commit = log.find((l) => l.endsWith('|capstan: roll back web to revision 1'))?.split('|')[0];
    expect(commit, log.join('\n')).toBeDefined();
    expect(done.syncedCommit).toBe(commit);
    const file = git(repo.bare, 'show', `${commit}:apps/web.yaml`);
    expect(file).toContain('"v1"');
    expect(file).not.toContain('"v2"');
    expect(v1.revision).toBe(2);

    // Fast-tracked: every status of revision 3 is at the last step, never paused.
    const during = recorder.seen.filter((s) => s.revision === 3);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((s) => s.phase === 'Paused' || s.step !== STEPS.length || s.weight === 50)).toEqual([]);
    const events = (await kv().range(STORE_PREFIX.events, { prefix: true })).kvs.map((i) => JSON.parse(Buffer.from(i.value).toString('utf8')) as ClusterEvent);
    expect(events.some((e) => e.object === 'Rollout/web' && e.reason === 'RolloutFastTracked')).toBe(true);

    const h = await history();
    expect(h.map((e) => [e.revision, e.outcome, e.trigger])).toEqual([
      [1, 'Healthy', 'push'],
      [2, 'RolledBack', 'push'],
      [3, 'Healthy', 'rollback'],
    ]);
    for (const e of h) for (const field of ['revision', 'commit', 'author', 'message', 'images', 'createdAt', 'outcome']) expect(e, field).toHaveProperty(field);
    expect(h[2]!.commit).toBe(done.syncedCommit);
  }, 120_000);

  it('--live rolls back with the Git server unreachable, pins, and a later Git change releases the pin', async () => {
    await relay.cut();
    try {
      // Through Git it cannot work now, and says what to do instead.
      const viaGit = await cli('rollback', 'web', '--to-revision', '2');
      expect(viaGit.code).not.toBe(0);
      expect(viaGit.out).toMatch(/--live/);

      const r = await cli('rollback', 'web', '--live', '--to-revision', '2');
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/Git is ahead/);
      const pinned = await waitFor(() => healthyAt(4), 60_000, 'revision 4 (v2 again) healthy');
      expect(pinned.message).toContain('live rollback; Git is ahead');
      expect(pinned.conditions).toContainEqual(expect.objectContaining({ type: 'GitSynced', status: 'False', reason: 'LiveRollback' }));
      const v2 = hashOf('web', pinned)!;
      expect((await workloadPods(kv(), 'web')).filter((p) => !p.status?.terminatedAt).every((p) => p.metadata.owner.revision === v2)).toBe(true);

      // A sync while Git is down changes nothing.
      const down = await cluster!.sync.sync('test');
      expect(down.phase).not.toBe('Synced');
      expect((await status())!).toMatchObject({ revision: 4, liveRollback: 2 });
    } finally {
      await relay.restore();
    }
    // Git is back and a commit changes the manifest: Git is followed again.
    await pushAndSync({ 'apps/web.yaml': docs(web('v3')) }, 'web v3');
    const v3 = await waitFor(async () => {
      const st = await status();
      return st?.revision === 5 && st.phase === 'Paused' ? st : undefined;
    }, 60_000, 'v3 canary at its manual pause');
    expect(v3.message).not.toContain('Git is ahead');
    expect(v3.liveRollback).toBeUndefined();
    expect(await rolloutOverride(kv(), 'web')).toBeUndefined();

    const h = await history();
    expect(h.map((e) => [e.revision, e.outcome, e.trigger])).toEqual([
      [1, 'Healthy', 'push'],
      [2, 'RolledBack', 'push'],
      [3, 'RolledBack', 'rollback'],
      [4, 'Healthy', 'live-rollback'],
      [5, 'Progressing', 'push'],
    ]);
  }, 120_000);

  it('an abort stays pinned across the sync of an unrelated commit', async () => {
    const canary = hashOf('web', await status())!;
    const r = await cli('abort', 'web');
    expect(r.code, r.out).toBe(0);
    await waitFor(async () => (await status())?.phase === 'Degraded' && (await healthyOn(kv(), 'web', 2)) === false, 30_000, 'aborted');
    const alive = async () => (await workloadPods(kv(), 'web')).filter((p) => !p.status?.terminatedAt && !p.metadata.deletionRequestedAt);
    await waitFor(async () => (await alive()).every((p) => p.metadata.owner.revision !== canary), 30_000, 'canary pods gone');

    await pushAndSync({ 'apps/other.yaml': docs(configMap('2')) }, 'another file changes');
    // Give the controllers a few passes to (wrongly) redeploy it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const st = (await status())!;
    expect(st).toMatchObject({ phase: 'Degraded', reason: 'RolloutAborted', pinnedHash: canary, revision: 5 });
    expect((await alive()).some((p) => p.metadata.owner.revision === canary)).toBe(false);
    expect((await alive()).length).toBe(2);
    expect((await history()).at(-1)).toMatchObject({ revision: 5, outcome: 'Aborted' });
  }, 90_000);
});
