// End to end for canary and blue-green: a real Git server, the composed control plane with its
// service router on 127.0.0.1, the local agent running `node -e` HTTP servers, and real HTTP
// load from this process through the router. The clients' view (status codes, which version
// answered) is checked against what the strategy promises.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import type { StatusView } from '../../src/cli/status-view.js';
import { cleanupCluster, startTestCluster, waitFor, workloadPods, type TestCluster } from '../helpers/cluster.js';
import {
  CONCURRENCY,
  count,
  docs,
  getBody,
  hashOf,
  healthy as healthyOn,
  rollout,
  rolloutOverride,
  rolloutStatus,
  service,
  startLoad,
  successRateTemplate,
  trafficPolicy,
} from '../helpers/progressive.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
const ports: Record<string, number> = {};

// setWeight 20, a short pause so the canary has traffic before it is measured, then analysis.
const BAD_STEPS = [{ setWeight: 20 }, { pause: { duration: 2 } }, { analysis: { templates: [{ templateName: 'bad-success' }] } }, { setWeight: 50 }, { pause: {} }];
const GOOD_STEPS = [
  { setWeight: 20 },
  { pause: { duration: 2 } },
  { analysis: { templates: [{ templateName: 'good-success' }] } },
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 80 },
  { pause: { duration: 2 } },
];
const BG = { blueGreen: { activeService: 'bg', previewService: 'bg-preview', autoPromotionEnabled: false, scaleDownDelaySeconds: 30 } };

function files(versions: { bad: string; badFail?: boolean; good: string; bg: string }): Record<string, string> {
  return {
    'apps/bad.yaml': docs(rollout({ name: 'bad', version: versions.bad, fail: versions.badFail, strategy: { canary: { steps: BAD_STEPS } } }), service('bad', 'bad', ports.bad!)),
    'apps/good.yaml': docs(rollout({ name: 'good', version: versions.good, strategy: { canary: { steps: GOOD_STEPS } } }), service('good', 'good', ports.good!)),
    'apps/bg.yaml': docs(rollout({ name: 'bg', version: versions.bg, strategy: BG }), service('bg', 'bg', ports.bg!), service('bg-preview', 'bg', ports.bgPreview!)),
    'apps/analysis.yaml': docs(successRateTemplate('bad-success', 'bad'), successRateTemplate('good-success', 'good')),
  };
}

const status = (name: string) => rolloutStatus(cluster!.kv, name);
const traffic = (svc: string) => trafficPolicy(cluster!.kv, svc);
const healthy = (name: string, replicas = 2) => healthyOn(cluster!.kv, name, replicas);

async function push(message: string, versions: Parameters<typeof files>[0]): Promise<void> {
  pushCommit(repo, files(versions), message);
  const state = await cluster!.sync.sync('test');
  expect(state.phase, state.message).toBe('Synced');
}

async function cli(...args: string[]): Promise<string> {
  const r = await runCli([...args, '--server', cluster!.url, '--token', cluster!.adminToken]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  for (const k of ['bad', 'good', 'bg', 'bgPreview']) ports[k] = await freePort();
  git = await startGitServer();
  repo = createRepo(git, 'progressive', files({ bad: 'v1', good: 'v1', bg: 'v1' }));
  cluster = await startTestCluster({ source: repo.url, router: { bindAddress: '127.0.0.1' } });
  expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
  await waitFor(async () => (await healthy('bad')) && (await healthy('good')) && (await healthy('bg')), 40_000, 'bad, good and bg healthy on v1');
});

afterAll(async () => {
  await cleanupCluster(cluster, cluster?.dataDir);
  await git?.stop();
});

describe('progressive delivery through the router, under real HTTP load', () => {
  it('a canary answering 500 fails its analysis and aborts on its own; clients see at most the canary weight in errors', async () => {
    const load = startLoad(ports.bad!);
    try {
      await waitFor(() => count(load.replies, (r) => r.status === 200 && r.body === 'v1') > 50, 20_000, 'v1 answering through the router');
      const stable = hashOf('bad', await status('bad'))!;
      await push('bad v2 answers 500', { bad: 'v2', badFail: true, good: 'v1', bg: 'v1' });

      const aborted = await waitFor(async () => {
        const st = await status('bad');
        return st?.phase === 'Degraded' && st.reason === 'RolloutAborted' ? st : undefined;
      }, 40_000, 'bad aborted by its analysis');
      expect(hashOf('bad', aborted)).not.toBe(stable);
      expect(aborted.stableRevision).toBe(stable);
      // The analysis, not an operator, aborted it.
      const ov = await rolloutOverride(cluster!.kv, 'bad');
      expect(ov?.analysis?.phase).toBe('Failed');
      expect(ov?.abortedHash).toBe(hashOf('bad', aborted));

      // Traffic is back on the stable revision only, and the canary's pods go.
      await waitFor(async () => JSON.stringify((await traffic('bad'))?.weights) === JSON.stringify({ [stable]: 100 }), 20_000, 'bad traffic 100% stable');
      await waitFor(
        async () => (await workloadPods(cluster!.kv, 'bad')).filter((p) => !p.status?.terminatedAt).every((p) => p.metadata.owner.revision === stable),
        30_000,
        'canary pods gone',
      );
      const from = load.replies.length;
      await waitFor(() => load.replies.length - from >= 200, 20_000, '200 replies after the abort');
      const after = load.replies.slice(from);
      expect(after.every((r) => r.status === 200 && r.body === 'v1'), JSON.stringify(after.find((r) => r.status !== 200 || r.body !== 'v1'))).toBe(true);
    } finally {
      await load.stop();
    }

    const replies = load.replies;
    const failedAt = replies.map((r, i) => (r.status !== 200 ? i : -1)).filter((i) => i >= 0);
    // The canary answered, and every failure came from it (nothing dropped by the router).
    expect(failedAt.length).toBeGreaterThan(0);
    expect(replies.filter((r) => r.status !== 200).every((r) => r.status === 500 && r.body === 'v2')).toBe(true);
    // While the canary carried traffic (first to last failure), its 20% bounds the clients'
    // errors. Replies are in completion order: up to CONCURRENCY requests sent inside the
    // window may complete just outside it at either edge, so those count as in it.
    const window = replies.slice(failedAt[0], failedAt[failedAt.length - 1]! + 1);
    const failed = count(window, (r) => r.status !== 200);
    expect(failed, `${failed} of ${window.length} failed`).toBeLessThanOrEqual(0.2 * (window.length + 2 * CONCURRENCY));
    expect(count(replies, (r) => r.status !== 200) / replies.length).toBeLessThanOrEqual(0.2);
  });

  it('a good canary walks every step, waits at the manual pause for capstan promote, and ends Healthy with the old revision gone', async () => {
    const load = startLoad(ports.good!);
    try {
      const old = hashOf('good', await status('good'))!;
      await push('good v2', { bad: 'v2', badFail: true, good: 'v2', bg: 'v1' });

      // The manual pause after setWeight 50: reached only through the timed pause and the analysis.
      const paused = await waitFor(async () => {
        const st = await status('good');
        return st?.step === 4 && st.reason === 'CanaryPauseStep' ? st : undefined;
      }, 40_000, 'good at its manual pause');
      expect(paused.weight).toBe(50);
      expect(paused.phase).toBe('Paused');
      expect((await rolloutOverride(cluster!.kv, 'good'))?.analysis?.phase).toBe('Successful');
      expect((await traffic('good'))?.weights).toEqual({ [old]: 50, [hashOf('good', paused)!]: 50 });
      // It stays there until promoted.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await status('good'))?.step).toBe(4);

      // `capstan status`: the step 1-based as in the message, set and measured weight, each
      // revision's figures from the router, and the analysis run that let it through. The
      // router publishes a Service's figures on its own cadence (every 2 s, figures alone at most
      // every 5 s), so the view can trail the rollout's status, still showing the 20% step:
      // wait until the published record has both revisions measured at the 50% step.
      const canary = hashOf('good', paused)!;
      const view = await waitFor(async () => {
        const v = JSON.parse(await cli('status', 'good', '-o', 'json')) as StatusView;
        const at50 = (hash: string) => {
          const t = v.revisions.find((r) => r.hash === hash)?.traffic[0];
          return t !== undefined && t.setWeight === 50 && t.requests > 0;
        };
        return at50(canary) && at50(old) ? v : undefined;
      }, 20_000, 'status with both revisions measured at the 50% step');
      expect(view).toMatchObject({ strategy: 'Canary', step: 4, stepNumber: 5, stepCount: 7, setWeight: 50, phase: 'Paused' });
      const byHash = Object.fromEntries(view.revisions.map((r) => [r.hash, r]));
      // The actual weight is the canary's part of the requests the router counted in its 30 s
      // window. That window holds the whole rollout so far: stable only until the canary was
      // ready, the 20% step, then the 50% one, in proportions that depend on the machine's
      // speed. So it is above 0 and below 50 (the 20% step is less than 30 s old: the waits
      // since it ended are shorter), and nothing fixes it closer than that.
      const [c, o] = [byHash[canary]!.traffic[0]!, byHash[old]!.traffic[0]!];
      expect(view.actualWeight).toBe(Number(((100 * c.requests) / (c.requests + o.requests)).toFixed(1)));
      expect(view.actualWeight).toBeGreaterThan(0);
      expect(view.actualWeight).toBeLessThan(50);
      expect(byHash[canary]).toMatchObject({ role: 'canary', current: true, readyReplicas: 1 });
      expect(byHash[old]).toMatchObject({ role: 'stable' });
      for (const h of [canary, old]) {
        expect(byHash[h]!.traffic[0]).toMatchObject({ service: 'good', setWeight: 50, successRate: 1 });
        expect(byHash[h]!.traffic[0]!.p99).toBeGreaterThan(0);
      }
      expect(view.analysis).toEqual([
        expect.objectContaining({ key: 'step-2', phase: 'Successful', templates: ['good-success'], metrics: [expect.objectContaining({ name: 'success-rate', phase: 'Successful', measurements: 3, successful: 3, failed: 0, inconclusive: 0, lastValue: 1 })] }),
      ]);
      const text = await cli('status', 'good');
      expect(text).toMatch(/step: +\[[#.]+\] 5\/7/);
      expect(text).toMatch(/weight: +\[[#.]+\] set 50%, actual \d+\.\d%/);
      expect(text).toContain(`rev 2  ${canary}  canary  1/1 ready`);
      expect(text).toMatch(/step-2 +Successful +\(good-success\)/);
      expect(text).toMatch(/success-rate +Successful +3 measured, last 1 \(Successful\), 0 failed, 0 inconclusive/);

      await cli('promote', 'good');
      const done = await waitFor(async () => ((await healthy('good')) ? await status('good') : undefined), 40_000, 'good Healthy on v2');
      expect(done.step).toBe(GOOD_STEPS.length);
      expect(done.stableRevision).toBe(hashOf('good', done));
      expect((await traffic('good'))?.weights).toEqual({ [hashOf('good', done)!]: 100 });
      await waitFor(async () => (await workloadPods(cluster!.kv, 'good')).every((p) => p.metadata.owner.revision !== old || p.status?.terminatedAt), 20_000, 'old revision gone');
      const from = load.replies.length;
      await waitFor(() => load.replies.length - from >= 100, 20_000, '100 replies after promotion');
      expect(load.replies.slice(from).every((r) => r.status === 200 && r.body === 'v2')).toBe(true);
    } finally {
      await load.stop();
    }
    // A good canary never fails a client, and both versions answered along the way.
    expect(load.replies.filter((r) => r.status !== 200)).toEqual([]);
    expect(new Set(load.replies.map((r) => r.body))).toEqual(new Set(['v1', 'v2']));
  });

  it('blue-green: the preview serves the new version, a manual promotion switches under load without losing a request', async () => {
    const load = startLoad(ports.bg!);
    try {
      const old = hashOf('bg', await status('bg'))!;
      await push('bg v2', { bad: 'v2', badFail: true, good: 'v2', bg: 'v2' });
      const waiting = await waitFor(async () => {
        const st = await status('bg');
        return st?.reason === 'BlueGreenPause' ? st : undefined;
      }, 40_000, 'bg preview ready, waiting for promote');
      const preview = hashOf('bg', waiting)!;
      expect(preview).not.toBe(old);
      expect((await traffic('bg'))?.weights).toEqual({ [old]: 100 });
      expect((await traffic('bg-preview'))?.weights).toEqual({ [preview]: 100 });
      await waitFor(async () => (await getBody(ports.bgPreview!)) === 'v2', 10_000, 'preview answers v2');
      expect(load.replies.every((r) => r.body === 'v1')).toBe(true);

      await cli('promote', 'bg');
      await waitFor(async () => JSON.stringify((await traffic('bg'))?.weights) === JSON.stringify({ [preview]: 100 }), 20_000, 'bg switched');
      const from = load.replies.length;
      await waitFor(() => count(load.replies.slice(from), (r) => r.body === 'v2') >= 200, 20_000, '200 v2 replies after the switch');
    } finally {
      await load.stop();
    }
    const lost = load.replies.filter((r) => r.status !== 200);
    expect(lost, JSON.stringify(lost.slice(0, 5))).toEqual([]);
    // One switch: once a v2 reply has come back, every request sent after it gets v2. (By
    // send time: a v1 request in flight at the switch may end after many quick v2 replies.)
    const firstV2 = load.replies.findIndex((r) => r.body === 'v2');
    expect(firstV2).toBeGreaterThan(0);
    const switchedBy = load.replies[firstV2]!.at;
    const lateV1 = load.replies.filter((r) => r.body === 'v1' && r.sentAt > switchedBy);
    expect(lateV1, JSON.stringify(lateV1.slice(0, 5))).toEqual([]);
  });

  it('blue-green: an abort after promotion, within the scale-down delay, switches the active service back', async () => {
    // The previous test promoted bg to v2 less than 30 s ago: v1 still runs.
    const st = await status('bg');
    const active = hashOf('bg', st)!;
    const before = (await traffic('bg'))?.weights;
    expect(before).toEqual({ [active]: 100 });
    await cli('abort', 'bg');
    await waitFor(async () => (await getBody(ports.bg!)) === 'v1', 20_000, 'bg back on v1');
    const after = await waitFor(async () => {
      const s = await status('bg');
      return s?.phase === 'Degraded' ? s : undefined;
    }, 20_000, 'bg Degraded after the abort');
    expect(after.reason).toBe('RolloutAborted');
    expect(Object.keys((await traffic('bg'))!.weights)).not.toContain(active);
  });
});
