// A CronJob end to end on the real clock: pushed through a real Git server, fired by the
// composed control plane every minute (the fastest five-field schedule), its job pods run by
// the local agent as real processes that exit 0, and only successfulJobsHistoryLimit jobs
// kept. A Deployment runs beside it: its controllers must leave the job pods alone.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import type { CronJobStatus, Job } from '../../src/controllers/cronjob/index.js';
import { cleanupCluster, nodeDeployment, rolledOut, startTestCluster, waitFor, type TestCluster } from '../helpers/cluster.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo } from '../helpers/git.js';

let server: GitServer;
let cluster: TestCluster | undefined;
let out: string;

function cronJob(marker: string): string {
  // The job appends one line per run to a file outside the cluster's folders.
  const script = `require('fs').appendFileSync(process.env.MARKER, 'ran\\n');`;
  return JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick' },
    spec: {
      schedule: '* * * * *',
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 1,
      jobTemplate: {
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { app: 'tick' } },
            spec: {
              restartPolicy: 'Never',
              terminationGracePeriodSeconds: 5,
              containers: [{ name: 'main', image: 'node:20', command: [process.execPath, '-e', script], env: [{ name: 'MARKER', value: marker }] }],
            },
          },
        },
      },
    },
  });
}

const decode = <T>(v: Uint8Array): T => JSON.parse(Buffer.from(v).toString('utf8')) as T;

async function jobs(): Promise<Job[]> {
  return (await cluster!.kv.range(`${STORE_PREFIX.jobs}default/`, { prefix: true })).kvs.map((i) => decode<Job>(i.value));
}

/** Every value each job pod took, by pod name, from the store's watch. */
function recordJobPods(): { seen: Map<string, Pod[]>; stop(): void } {
  const seen = new Map<string, Pod[]>();
  const abort = new AbortController();
  void (async () => {
    const from = (await cluster!.kv.range(STORE_PREFIX.pods, { prefix: true })).revision + 1;
    try {
      for await (const batch of cluster!.kv.watch(STORE_PREFIX.pods, { prefix: true, fromRevision: from, signal: abort.signal })) {
        for (const e of batch.events) {
          if (e.type !== 'put') continue;
          const p = decode<Pod>(e.kv.value);
          if (p.metadata.owner.kind !== 'Job') continue;
          seen.set(p.metadata.name, [...(seen.get(p.metadata.name) ?? []), p]);
        }
      }
    } catch {
      // Stopped, or the store closed.
    }
  })();
  return { seen, stop: () => abort.abort() };
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'capstan-cron-out-'));
  // Pods of the process runtime run as nobody when the tests run as root: let them write here.
  chmodSync(out, 0o777);
  server = await startGitServer();
  const repo = createRepo(server, 'cron', {
    'jobs/tick.yaml': `${cronJob(join(out, 'runs.log'))}\n`,
    'apps/web.yaml': nodeDeployment({ name: 'web', replicas: 1, reply: 'web' }),
  });
  cluster = await startTestCluster({ source: repo.url });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
}, 60_000);

afterAll(async () => {
  await cleanupCluster(cluster, cluster?.dataDir);
  await server?.stop();
  rmSync(out, { recursive: true, force: true });
});

it('fires every minute, runs each job pod to exit 0 on the agent, and keeps successfulJobsHistoryLimit jobs', async () => {
  const pods = recordJobPods();
  try {
    await waitFor(() => rolledOut(cluster!.kv, 'web', 1), 40_000, 'web healthy beside the CronJob');
    const webPod = (await cluster!.kv.range(`${STORE_PREFIX.pods}default/web-`, { prefix: true })).kvs.map((i) => decode<Pod>(i.value).metadata.name);

    // The first run: at the next minute boundary (up to a minute away), then done.
    const first = await waitFor(async () => (await jobs()).find((j) => j.status.phase === 'Succeeded'), 100_000, 'the first job to succeed');
    expect(first.status).toMatchObject({ succeeded: 1, failed: 0 });
    expect(Date.parse(first.metadata.scheduledAt) % 60_000).toBe(0);

    // The second run, one minute later; the first job then goes (limit 1).
    const second = await waitFor(
      async () => (await jobs()).find((j) => j.status.phase === 'Succeeded' && j.metadata.name !== first.metadata.name),
      100_000,
      'the second job to succeed',
    );
    expect(Date.parse(second.metadata.scheduledAt) - Date.parse(first.metadata.scheduledAt)).toBe(60_000);
    await waitFor(async () => (await jobs()).every((j) => j.metadata.name !== first.metadata.name), 30_000, 'the first job pruned');
    const kept = (await jobs()).filter((j) => j.status.phase === 'Succeeded');
    expect(kept.map((j) => j.metadata.name)).toEqual([second.metadata.name]);

    // Each run was a real process that exited 0 and wrote its line.
    expect(readFileSync(join(out, 'runs.log'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
    for (const job of [first, second]) {
      const history = [...pods.seen.entries()].filter(([, ps]) => ps[0]!.metadata.owner.name === job.metadata.name);
      // The first run may have come and gone while the cluster was starting, before the
      // recording began; the second always comes a minute after the first.
      if (job === first && history.length === 0) continue;
      expect(history, job.metadata.name).toHaveLength(1);
      const [, seen] = history[0]!;
      const finished = seen.find((p) => p.status.phase === 'Succeeded');
      expect(finished, JSON.stringify(seen.at(-1)?.status)).toBeDefined();
      const state = finished!.status.containerStatuses?.[0]?.state;
      expect(state && 'terminated' in state ? state.terminated.exitCode : undefined).toBe(0);
      // Nobody asked the job's pod to stop while it ran (the workload controllers left it alone).
      expect(seen.every((p) => p.metadata.deletionRequestedAt === undefined || p.status.phase === 'Succeeded')).toBe(true);
    }

    const status = decode<CronJobStatus>((await cluster!.kv.get(`${STORE_PREFIX.status}CronJob/default/tick`))!.value);
    expect(status).toMatchObject({ active: [], lastScheduleTime: second.metadata.scheduledAt });
    // The Deployment kept its one pod throughout.
    expect(await rolledOut(cluster!.kv, 'web', 1)).toBe(true);
    const webNow = (await cluster!.kv.range(`${STORE_PREFIX.pods}default/web-`, { prefix: true })).kvs.map((i) => decode<Pod>(i.value).metadata.name);
    expect(webNow).toEqual(webPod);
  } finally {
    pods.stop();
  }
}, 240_000);
