// End to end for analysis without data, through the real router: a canary that gets no
// traffic at all is measured by the router's own figures, finds nothing, and must not pass.
// With the default policy (Inconclusive) the rollout pauses and says why; with
// noDataPolicy Failure it aborts back to the stable revision. `capstan status` shows the
// analysis runs, and `--wait` answers with the contract's exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusView } from '../../src/cli/status-view.js';
import { runCli } from '../helpers/cli.js';
import { cleanupCluster, startTestCluster, waitFor, workloadPods, type TestCluster } from '../helpers/cluster.js';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { docs, hashOf, healthy, rollout, rolloutOverride, rolloutStatus, service, successRateTemplate, trafficPolicy } from '../helpers/progressive.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
const ports: Record<string, number> = {};

const steps = (template: string): unknown[] => [{ setWeight: 20 }, { analysis: { templates: [{ templateName: template }] } }, { setWeight: 50 }, { pause: {} }];

function files(version: string): Record<string, string> {
  return {
    'apps/quiet.yaml': docs(rollout({ name: 'quiet', version, strategy: { canary: { steps: steps('quiet-success') } } }), service('quiet', 'quiet', ports.quiet!)),
    'apps/strict.yaml': docs(rollout({ name: 'strict', version, strategy: { canary: { steps: steps('strict-success') } } }), service('strict', 'strict', ports.strict!)),
    'apps/analysis.yaml': docs(
      successRateTemplate('quiet-success', 'quiet', { count: 2 }),
      successRateTemplate('strict-success', 'strict', { count: 2, noDataPolicy: 'Failure' }),
    ),
  };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli([...args, '--server', cluster!.url, '--token', cluster!.adminToken]);
}

beforeAll(async () => {
  for (const k of ['quiet', 'strict']) ports[k] = await freePort();
  git = await startGitServer();
  repo = createRepo(git, 'nodata', files('v1'));
  cluster = await startTestCluster({ source: repo.url, router: { bindAddress: '127.0.0.1' } });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
  await waitFor(async () => (await healthy(cluster!.kv, 'quiet')) && (await healthy(cluster!.kv, 'strict')), 40_000, 'quiet and strict healthy on v1');
  // --wait on a Healthy rollout answers 0 at once.
  const ok = await cli('status', 'quiet', '--wait', '--timeout', '30');
  expect(ok.code, ok.stdout + ok.stderr).toBe(0);

  pushCommit(repo, files('v2'), 'v2 of both, with no traffic for their canaries');
  const state = await cluster.sync.sync('test');
  expect(state.phase, state.message).toBe('Synced');
});

afterAll(async () => {
  await cleanupCluster(cluster, cluster?.dataDir);
  await git?.stop();
});

describe('analysis with no data through the real router', () => {
  it('a canary with no traffic pauses as Inconclusive (with the reason) instead of passing', async () => {
    const kv = cluster!.kv;
    const paused = await waitFor(async () => {
      const st = await rolloutStatus(kv, 'quiet');
      return st?.phase === 'Paused' && /inconclusive/.test(st.message) ? st : undefined;
    }, 40_000, 'quiet paused on an inconclusive analysis');
    expect(paused.message).toMatch(/^Paused at step 2\/4: analysis was inconclusive \(success-rate: no data \(noDataPolicy inconclusive\)\); promote to go on or abort\.$/);
    expect((await rolloutOverride(kv, 'quiet'))?.analysis?.phase).toBe('Inconclusive');
    const stable = paused.stableRevision!;
    const canary = hashOf('quiet', paused)!;
    // It holds at 20%: the analysis did not let it on to 50%, and nothing aborted it.
    await new Promise((r) => setTimeout(r, 3000));
    const still = await rolloutStatus(kv, 'quiet');
    expect(still).toMatchObject({ phase: 'Paused', step: 1, weight: 20 });
    expect((await trafficPolicy(kv, 'quiet'))?.weights).toEqual({ [stable]: 80, [canary]: 20 });

    // What a person sees: the run, its metric, and why.
    const json = await cli('status', 'quiet', '-o', 'json');
    expect(json.code, json.stderr).toBe(0);
    const view = JSON.parse(json.stdout) as StatusView;
    expect(view).toMatchObject({ phase: 'Paused', strategy: 'Canary', stepNumber: 2, stepCount: 4, setWeight: 20, actualWeight: null });
    expect(view.analysis).toEqual([
      expect.objectContaining({
        key: 'step-1',
        phase: 'Inconclusive',
        metrics: [expect.objectContaining({ name: 'success-rate', phase: 'Inconclusive', measurements: 1, inconclusive: 1, failed: 0, lastPhase: 'Inconclusive' })],
      }),
    ]);
    const text = await cli('status', 'quiet');
    expect(text.stdout).toMatch(/step-1 +Inconclusive/);
    expect(text.stdout).toContain('success-rate  Inconclusive  1 measured, last - (Inconclusive), 0 failed, 1 inconclusive');
    // --watch draws the state, one JSON line per change, until its time-out.
    const watched = await cli('status', 'quiet', '--watch', '--timeout', '2', '-o', 'json');
    expect(watched.code, watched.stderr).toBe(0);
    const frames = watched.stdout.trim().split('\n').map((l) => JSON.parse(l) as StatusView);
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames[frames.length - 1]).toMatchObject({ phase: 'Paused', stepNumber: 2 });
    // --wait does not take a pause for success: it gives up at the time-out with exit 1.
    const waited = await cli('status', 'quiet', '--wait', '--timeout', '2');
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/timed out after 2s .* \(phase Paused\)/);
  });

  it('with noDataPolicy Failure, the same silence aborts the canary back to stable', async () => {
    const kv = cluster!.kv;
    // --wait follows the rollout until it ends: Degraded → exit 1.
    const waited = await cli('status', 'strict', '--wait', '--timeout', '60');
    expect(waited.code, waited.stdout + waited.stderr).toBe(1);
    const st = await rolloutStatus(kv, 'strict');
    expect(st).toMatchObject({ phase: 'Degraded', reason: 'RolloutAborted' });
    expect((await rolloutOverride(kv, 'strict'))?.analysis).toMatchObject({ phase: 'Failed', message: 'success-rate: no data (noDataPolicy fail)' });
    const stable = st!.stableRevision!;
    await waitFor(async () => JSON.stringify((await trafficPolicy(kv, 'strict'))?.weights) === JSON.stringify({ [stable]: 100 }), 20_000, 'strict traffic 100% stable');
    await waitFor(
      async () => (await workloadPods(kv, 'strict')).filter((p) => !p.status?.terminatedAt).every((p) => p.metadata.owner.revision === stable),
      30_000,
      'canary pods gone',
    );
    const view = JSON.parse((await cli('status', 'strict', '-o', 'json')).stdout) as StatusView;
    expect(view.analysis[0]).toMatchObject({ phase: 'Failed', metrics: [expect.objectContaining({ failed: 1, measurements: 1 })] });
  });
});
