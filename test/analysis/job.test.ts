// The `job` analysis provider through the real machinery: the pod is written to the store,
// the control plane's scheduler binds it to the local agent's node, the agent runs it as a
// process, and its exit code is the measurement (0 passes, anything else fails, still running
// at the deadline is an error). Afterwards the pod is gone from the store. Last, a canary
// whose analysis job exits 1 aborts on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { measure, storeJobRunner } from '../../src/analysis/index.js';
import { systemClock } from '../../src/common/index.js';
import { cleanupCluster, listPods, startTestCluster, waitFor, type TestCluster } from '../helpers/cluster.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { docs, rollout, rolloutOverride, rolloutStatus, healthy } from '../helpers/progressive.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
/** Every version of every pod the store held, in order (the pods are removed afterwards). */
const seen: Pod[] = [];
const stopWatch = new AbortController();

const node = (code: string) => ({ containers: [{ name: 'check', image: 'node:20', command: [process.execPath, '-e', code] }], restartPolicy: 'Never' });

function jobTemplate(name: string, code: string): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name },
    spec: { metrics: [{ name: 'smoke', provider: { job: { spec: { backoffLimit: 0, template: { spec: node(code) } } } } }] },
  });
}

const STEPS = [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'smoke' }] } }, { pause: {} }];

const SLOW_STEPS = [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'slow' }] } }, { pause: {} }];

function files(version: string, slowVersion = version): Record<string, string> {
  return {
    'apps/checked.yaml': rollout({ name: 'checked', version, strategy: { canary: { steps: STEPS } } }),
    'apps/slow.yaml': rollout({ name: 'slow', version: slowVersion, strategy: { canary: { steps: SLOW_STEPS } } }),
    'apps/analysis.yaml': docs(jobTemplate('smoke', 'process.exit(1)'), jobTemplate('slow', 'setTimeout(()=>process.exit(0),20000)')),
  };
}

beforeAll(async () => {
  git = await startGitServer();
  repo = createRepo(git, 'jobs', files('v1'));
  cluster = await startTestCluster({ source: repo.url });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
  const from = (await cluster.kv.revision()) + 1;
  void (async () => {
    try {
      for await (const batch of cluster!.kv.watch(STORE_PREFIX.pods, { prefix: true, fromRevision: from, signal: stopWatch.signal })) {
        for (const e of batch.events) if (e.type === 'put') seen.push(JSON.parse(Buffer.from(e.kv.value).toString('utf8')) as Pod);
      }
    } catch {
      // stopped
    }
  })();
  await waitFor(async () => (await healthy(cluster!.kv, 'checked')) && (await healthy(cluster!.kv, 'slow')), 40_000, 'checked and slow healthy on v1');
});

afterAll(async () => {
  stopWatch.abort();
  await cleanupCluster(cluster, cluster?.dataDir);
  await git?.stop();
});

const versionsOf = (pod: string): Pod[] => seen.filter((p) => p.metadata.name === pod);

describe('the job analysis provider', () => {
  const run = () => storeJobRunner({ kv: cluster!.kv, clock: systemClock, pollMs: 100, stopGraceMs: 10_000 });

  it('runs the pod on a node through the scheduler and the agent: exit 0 passes, exit 3 fails, and the pod is removed', async () => {
    const ok = await measure({ job: { spec: { template: { spec: node('setTimeout(()=>process.exit(0),300)') } } } }, { runJob: run(), namespace: 'default', workload: 'web', metric: 'smoke' });
    expect(ok).toEqual({ value: 0, verdict: 'Successful' });
    const bad = await run()({ namespace: 'default', workload: 'web', metric: 'smoke', template: { spec: node('process.exit(3)') }, timeoutSeconds: 60 });
    expect(bad).toMatchObject({ exitCode: 3 });
    const pod = (bad as { pod: string }).pod;
    expect(pod).toMatch(/^analysis-web-smoke-[0-9a-f]{6}-0$/);
    // Bound by the scheduler to the agent's node, run by the agent to its end.
    const versions = versionsOf(pod);
    expect(versions[0]!.spec.nodeName).toBeUndefined();
    expect(versions.some((p) => p.spec.nodeName === 'e2e-node')).toBe(true);
    expect(versions.some((p) => p.status.phase === 'Failed')).toBe(true);
    // Cleaned up.
    expect((await listPods(cluster!.kv)).filter((p) => p.metadata.name.startsWith('analysis-'))).toEqual([]);
  });

  it('a pod still running at its deadline is an error, and is stopped and removed', async () => {
    const err = await measure(
      { job: { spec: { activeDeadlineSeconds: 2, template: { spec: node('setInterval(()=>{},1000)') } } } },
      { runJob: run(), namespace: 'default', workload: 'web', metric: 'slow' },
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^analysis provider: job: pod analysis-web-slow-[0-9a-f]{6}-0 \(on node e2e-node, Running\) did not finish within 2s$/);
    const pod = /pod (\S+) /.exec(err!.message)![1]!;
    // Asked to stop, then gone.
    expect(versionsOf(pod).some((p) => p.metadata.deletionRequestedAt !== undefined)).toBe(true);
    expect(await cluster!.kv.get(`${STORE_PREFIX.pods}default/${pod}`)).toBeUndefined();
  });

  it('a canary whose analysis job exits 1 aborts, while another workload\'s long job is still running', async () => {
    // First a 20 s job for slow: the analysis controller has one worker, which must not wait for it.
    pushCommit(repo, files('v1', 'v2'), 'slow v2');
    expect((await cluster!.sync.sync('test')).phase).toBe('Synced');
    const slowPod = await waitFor(async () => (await listPods(cluster!.kv)).find((p) => p.metadata.name.startsWith('analysis-slow-') && p.status.phase === 'Running'), 30_000, 'slow analysis job running');
    pushCommit(repo, files('v2'), 'checked v2');
    expect((await cluster!.sync.sync('test')).phase).toBe('Synced');
    const aborted = await waitFor(async () => {
      const st = await rolloutStatus(cluster!.kv, 'checked');
      return st?.phase === 'Degraded' && st.reason === 'RolloutAborted' ? st : undefined;
    }, 60_000, 'checked aborted by its job analysis');
    expect(aborted.message).toMatch(/^Rollout aborted/);
    const analysis = (await rolloutOverride(cluster!.kv, 'checked'))?.analysis;
    expect(analysis).toMatchObject({ phase: 'Failed', key: 'step-1' });
    expect(analysis?.message).toMatch(/^smoke: job pod analysis-checked-smoke-[0-9a-f]{6}-0 exited with code 1/);
    // slow's job has not finished yet: checked did not wait for it.
    const still = await cluster!.kv.get(`${STORE_PREFIX.pods}default/${slowPod.metadata.name}`);
    expect(still && (JSON.parse(Buffer.from(still.value).toString('utf8')) as Pod).status.phase).toBe('Running');
    await waitFor(async () => (await listPods(cluster!.kv)).every((p) => !p.metadata.name.startsWith('analysis-checked-')), 20_000, 'checked job pod removed');
    // slow's job passes in the end, and its pod goes too.
    await waitFor(async () => (await rolloutOverride(cluster!.kv, 'slow'))?.analysis?.phase === 'Successful', 40_000, 'slow analysis Successful');
    await waitFor(async () => (await listPods(cluster!.kv)).every((p) => !p.metadata.name.startsWith('analysis-')), 20_000, 'every job pod removed');
  });
});
