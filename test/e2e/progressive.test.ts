// End to end for canary and blue-green: a real Git server, the composed control plane with its
// service router on 127.0.0.1, the local agent running `node -e` HTTP servers, and real HTTP
// load from this process through the router. The clients' view (status codes, which version
// answered) is checked against what the strategy promises.
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type TrafficPolicy } from '../../src/api/cluster.js';
import type { StoredWorkloadStatus } from '../../src/controllers/workload/index.js';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import { cleanupCluster, startTestCluster, waitFor, workloadPods, type TestCluster } from '../helpers/cluster.js';

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
const ports: Record<string, number> = {};

// A backend: its version in the body; FAIL=1 makes every request but the probe's answer 500.
const SERVER = [
  "const http=require('http');",
  'const v=process.env.VERSION;const fail=process.env.FAIL===\'1\';',
  "http.createServer((q,s)=>{if(q.url==='/healthz'){s.end('ok');return;}if(fail)s.statusCode=500;s.end(v);})",
  ".listen(Number(process.env.PORT),'127.0.0.1');",
  "process.on('SIGTERM',()=>setTimeout(()=>process.exit(0),200));",
].join('');

interface RolloutSpec {
  name: string;
  version: string;
  fail?: boolean;
  replicas?: number;
  strategy: Record<string, unknown>;
}

/** A Rollout of the backend; manifests are JSON, which YAML reads as flow style. */
function rollout(r: RolloutSpec): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: r.name },
    spec: {
      replicas: r.replicas ?? 2,
      selector: { matchLabels: { app: r.name } },
      strategy: r.strategy,
      template: {
        metadata: { labels: { app: r.name } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'main',
              image: 'node:20',
              command: [process.execPath, '-e', SERVER],
              env: [
                { name: 'VERSION', value: r.version },
                { name: 'FAIL', value: r.fail ? '1' : '0' },
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
}

function service(name: string, app: string, port: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app }, ports: [{ name: 'http', port, targetPort: 'http' }] },
  });
}

/** The router's success rate of the revision under analysis, on `svc`, over the last 5 s. */
function successRateTemplate(name: string, svc: string): string {
  return JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name },
    spec: {
      metrics: [
        {
          name: 'success-rate',
          interval: '1s',
          count: 3,
          failureLimit: 0,
          successCondition: 'result >= 0.95',
          provider: { capstan: { metric: 'successRate', service: svc, window: '5s' } },
        },
      ],
    },
  });
}

const docs = (...d: string[]): string => `${d.join('\n---\n')}\n`;

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

async function status(name: string): Promise<StoredWorkloadStatus | undefined> {
  const v = await cluster!.kv.get(`${STORE_PREFIX.status}Rollout/default/${name}`);
  return v ? (JSON.parse(Buffer.from(v.value).toString('utf8')) as StoredWorkloadStatus) : undefined;
}

async function traffic(svc: string): Promise<TrafficPolicy | undefined> {
  const v = await cluster!.kv.get(`${STORE_PREFIX.traffic}default/${svc}`);
  return v ? (JSON.parse(Buffer.from(v.value).toString('utf8')) as TrafficPolicy) : undefined;
}

const hashOf = (name: string, st: StoredWorkloadStatus | undefined): string | undefined => st?.revisionName?.slice(name.length + 1);

/** Healthy, every pod ready, all of them of the current revision. */
async function healthy(name: string, replicas = 2): Promise<boolean> {
  const st = await status(name);
  if (st?.phase !== 'Healthy' || st.readyReplicas !== replicas) return false;
  const pods = (await workloadPods(cluster!.kv, name)).filter((p) => !p.status?.terminatedAt);
  return pods.length === replicas && pods.every((p) => p.status?.ready === true && p.metadata.owner.revision === hashOf(name, st));
}

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

interface Reply {
  at: number;
  /** HTTP status, 0 when the request failed without one. */
  status: number;
  body: string;
}

/**
 * `concurrency` keep-alive clients sending GET / to the router's port until stopped (at most
 * `maxMs`), recording every reply in completion order.
 */
function startLoad(port: number, concurrency = CONCURRENCY, maxMs = 45_000): { replies: Reply[]; stop(): Promise<Reply[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = [];
  const deadline = Date.now() + maxMs;
  let stopped = false;
  const one = (): Promise<Reply> =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ at: Date.now(), status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ at: Date.now(), status: 0, body: '' }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ at: Date.now(), status: 0, body: err.message }));
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < deadline) replies.push(await one());
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  return {
    replies,
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return replies;
    },
  };
}

const CONCURRENCY = 20;

const count = (rs: readonly Reply[], f: (r: Reply) => boolean): number => rs.filter(f).length;

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
      const override = await cluster!.kv.get(`/capstan/overrides/Rollout/default/bad`);
      const ov = JSON.parse(Buffer.from(override!.value).toString('utf8')) as { analysis?: { phase: string }; abortedHash?: string };
      expect(ov.analysis?.phase).toBe('Failed');
      expect(ov.abortedHash).toBe(hashOf('bad', aborted));

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
      const ov = JSON.parse(Buffer.from((await cluster!.kv.get(`/capstan/overrides/Rollout/default/good`))!.value).toString('utf8')) as { analysis?: { phase: string } };
      expect(ov.analysis?.phase).toBe('Successful');
      expect((await traffic('good'))?.weights).toEqual({ [old]: 50, [hashOf('good', paused)!]: 50 });
      // It stays there until promoted.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await status('good'))?.step).toBe(4);

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
    // One switch: v1 until it, v2 after (in completion order, allowing for requests in flight).
    const firstV2 = load.replies.findIndex((r) => r.body === 'v2');
    expect(firstV2).toBeGreaterThan(0);
    expect(count(load.replies.slice(firstV2 + CONCURRENCY), (r) => r.body === 'v1')).toBe(0);
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

async function getBody(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch {
    return undefined;
  }
}
