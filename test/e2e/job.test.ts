// A Job and a bare Pod from Git end to end: pushed through a real Git server, run by the composed
// control plane and the local agent as real processes. The Job (completions 3, parallelism 2)
// completes with three successful pods, never more than two at once; the bare Pod runs once to
// exit 0 and, with restartPolicy Never, is not started again.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import type { JobWorkloadStatus } from '../../src/controllers/index.js';
import { cleanupCluster, startTestCluster, waitFor, type TestCluster } from '../helpers/cluster.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo } from '../helpers/git.js';

let server: GitServer;
let cluster: TestCluster | undefined;
let out: string;

const container = (marker: string, ms: number) => ({
  name: 'main',
  image: 'node:20',
  command: [process.execPath, '-e', `require('fs').appendFileSync(process.env.MARKER, 'ran\\n'); setTimeout(() => {}, ${ms});`],
  env: [{ name: 'MARKER', value: marker }],
});

const job = (marker: string): string =>
  JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'batch' },
    spec: { completions: 3, parallelism: 2, backoffLimit: 0, template: { metadata: { labels: { app: 'batch' } }, spec: { restartPolicy: 'Never', containers: [container(marker, 1500)] } } },
  });
const pod = (marker: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'once', labels: { app: 'once' } }, spec: { restartPolicy: 'Never', containers: [container(marker, 200)] } });

const decode = <T>(v: Uint8Array): T => JSON.parse(Buffer.from(v).toString('utf8')) as T;

/** The most pods of an owner kind running at the same time, from the store's watch. */
function recordRunning(kind: string): { max(): number; stop(): void } {
  const running = new Set<string>();
  let max = 0;
  const abort = new AbortController();
  void (async () => {
    const from = (await cluster!.kv.range(STORE_PREFIX.pods, { prefix: true })).revision + 1;
    try {
      for await (const batch of cluster!.kv.watch(STORE_PREFIX.pods, { prefix: true, fromRevision: from, signal: abort.signal })) {
        for (const e of batch.events) {
          if (e.type !== 'put') continue;
          const p = decode<Pod>(e.kv.value);
          if (p.metadata.owner.kind !== kind) continue;
          if (p.status.phase === 'Running' && p.status.terminatedAt === undefined) running.add(p.metadata.name);
          else running.delete(p.metadata.name);
          max = Math.max(max, running.size);
        }
      }
    } catch {
      // Stopped, or the store closed.
    }
  })();
  return { max: () => max, stop: () => abort.abort() };
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'capstan-job-out-'));
  // Pods of the process runtime run as nobody when the tests run as root: let them write here.
  chmodSync(out, 0o777);
  server = await startGitServer();
  const repo = createRepo(server, 'jobs', { 'jobs/batch.yaml': `${job(join(out, 'job.log'))}\n`, 'pods/once.yaml': `${pod(join(out, 'pod.log'))}\n` });
  cluster = await startTestCluster({ source: repo.url });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
}, 60_000);

afterAll(async () => {
  await cleanupCluster(cluster, cluster?.dataDir);
  await server?.stop();
  rmSync(out, { recursive: true, force: true });
});

it('runs a Job with completions 3 and parallelism 2 to Complete, and a bare Pod once', async () => {
  const running = recordRunning('Job');
  try {
    const status = await waitFor(
      async () => {
        const item = await cluster!.kv.get(`${STORE_PREFIX.status}Job/default/batch`);
        const s = item ? decode<JobWorkloadStatus>(item.value) : undefined;
        return s?.conditions.some((c) => c.type === 'Complete' || c.type === 'Failed') ? s : undefined;
      },
      60_000,
      'the Job to finish',
    );
    expect(status.conditions.map((c) => c.type)).toEqual(['Complete']);
    expect(status).toMatchObject({ succeeded: 3, failed: 0, active: 0, completions: 3 });
    expect(status.startTime).toBeDefined();
    expect(status.completionTime).toBeDefined();
    expect(running.max()).toBe(2);
    expect(readFileSync(join(out, 'job.log'), 'utf8').trim().split('\n')).toHaveLength(3);
    const jobPods = (await cluster!.kv.range(`${STORE_PREFIX.pods}default/batch-`, { prefix: true })).kvs.map((i) => decode<Pod>(i.value));
    expect(jobPods.map((p) => p.status.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);

    const once = await waitFor(
      async () => {
        const item = await cluster!.kv.get(`${STORE_PREFIX.pods}default/once`);
        const p = item ? decode<Pod>(item.value) : undefined;
        return p?.status.phase === 'Succeeded' ? p : undefined;
      },
      30_000,
      'the bare Pod to succeed',
    );
    expect(once.metadata.owner.kind).toBe('Pod');
    expect(once.spec.nodeName).toBeDefined();
    const state = once.status.containerStatuses?.[0]?.state;
    expect(state && 'terminated' in state ? state.terminated.exitCode : undefined).toBe(0);
    expect(readFileSync(join(out, 'pod.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  } finally {
    running.stop();
  }
}, 120_000);
