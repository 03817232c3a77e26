// `capstan plan SOURCE --server URL` with a scheduling dry run against a real control plane:
// the composed server with its scheduler, and two in-process `capstan agent`s (process
// runtime) registered with a known capacity of 2 cpu and 2Gi memory each. Live: one `web`
// pod of 1Gi. The plan scales web to 3 pods of 1Gi (its running pod makes room: 3 pods on
// 2 nodes), adds `small` (1Gi: the last free gigabyte) and `big` (3Gi per pod: no node has
// that), and the dry run says so in text, Markdown and JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCommand } from '../../src/cli/commands/agent.js';
import type { CliIO } from '../../src/cli/io.js';
import { startControlPlane, type ControlPlane } from '../../src/compose/index.js';
import type { Plan } from '../../src/plan/index.js';
import { runCli } from '../helpers/cli.js';
import { NEVER, apiCall, cleanupCluster, fileLogger, listPods, tempDataDir, waitFor } from '../helpers/cluster.js';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, type TestRepo } from '../helpers/git.js';

let git: GitServer;
let repo: TestRepo;
let dir: string;
let plane: ControlPlane | undefined;
let adminToken: string;
const stopAgents = new AbortController();
const agents: Promise<void>[] = [];

function deployment(name: string, replicas: number, memory: string): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'main', image: 'node:20', command: [process.execPath, '-e', 'setInterval(()=>{},1000)'], resources: { requests: { cpu: '250m', memory } } }],
        },
      },
    },
  });
}

const quietIO = (): CliIO => ({ out: () => undefined, err: () => undefined, color: false, env: process.env, cwd: dir });

beforeAll(async () => {
  dir = tempDataDir('capstan-plan-sched-');
  git = await startGitServer();
  repo = createRepo(git, 'sched', { 'apps/web.yaml': `${deployment('web', 1, '1Gi')}\n` });
  plane = await startControlPlane({ source: repo.url, dataDir: join(dir, 'server'), logger: fileLogger(dir), host: '127.0.0.1', port: await freePort(), syncSchedule: NEVER });
  expect(plane.firstSync.phase, plane.firstSync.message).toBe('Synced');
  adminToken = (await import('node:fs')).readFileSync(plane.adminTokenFile, 'utf8').trim();
  for (const node of ['node-a', 'node-b']) {
    const made = await apiCall(plane.url, adminToken, '/api/v1/tokens', { method: 'POST', body: { role: 'agent', user: node, node } });
    expect(made.status).toBe(201);
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    agents.push(
      runAgentCommand(quietIO(), {
        server: plane.url,
        token: made.body.token as string,
        name: node,
        runtime: 'process',
        capacity: 'cpu=2,memory=2Gi',
        stateDir: join(dir, node),
        heartbeat: 1,
        signal: stopAgents.signal,
        logger: fileLogger(dir),
        onStarted: () => started(),
      }),
    );
    await ready;
  }
  await waitFor(async () => (await listPods(plane!.kv)).some((p) => p.metadata.owner.name === 'web' && p.status?.phase === 'Running'), 30_000, 'web running on a node');
});

afterAll(async () => {
  stopAgents.abort();
  await Promise.allSettled(agents);
  await cleanupCluster(plane, dir);
  await git?.stop();
});

function head(): string {
  const src = join(dir, 'head');
  mkdirSync(join(src, 'apps'), { recursive: true });
  writeFileSync(join(src, 'apps', 'web.yaml'), `${deployment('web', 3, '1Gi')}\n`);
  writeFileSync(join(src, 'apps', 'small.yaml'), `${deployment('small', 1, '1Gi')}\n`);
  writeFileSync(join(src, 'apps', 'big.yaml'), `${deployment('big', 2, '3Gi')}\n`);
  return src;
}

const plan = (...args: string[]) => runCli(['plan', head(), '--server', plane!.url, '--token', adminToken, ...args], { cwd: dir });

describe('plan --server: a scheduling dry run on the live nodes', () => {
  it('JSON: each workload says whether its pods fit, with the counted reasons when they do not', async () => {
    const r = await plan('-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as Plan;
    const byName = Object.fromEntries(p.changes.map((c) => [c.name, c]));
    expect(byName.web).toMatchObject({ action: 'update', scheduling: { fits: true, pods: 3, placed: 3, nodes: 2, summary: 'fits: 3 pods on 2 nodes', request: { cpu: 250, memory: 2 ** 30 } } });
    // Planned in order (big, small, web): big fits nowhere, small takes a gigabyte first.
    expect(byName.big!.scheduling).toEqual({
      fits: false,
      pods: 2,
      placed: 0,
      nodes: 0,
      request: { cpu: 250, memory: 3 * 2 ** 30 },
      reason: '0/2 nodes are available: 2 Insufficient memory.',
      failures: { 'Insufficient memory': 2 },
      summary: 'does not fit: 0/2 pods placed; 0/2 nodes are available: 2 Insufficient memory (each pod requests 3Gi memory, 250m cpu)',
    });
    expect(byName.small!.scheduling).toMatchObject({ fits: true, summary: 'fits: 1 pod on 1 node' });
  });

  it('text and Markdown carry the same verdicts', async () => {
    const text = await plan();
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('scheduling: fits: 3 pods on 2 nodes');
    expect(text.stdout).toContain('scheduling: does not fit: 0/2 pods placed; 0/2 nodes are available: 2 Insufficient memory (each pod requests 3Gi memory, 250m cpu)');
    const md = await plan('-o', 'markdown');
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/\| ➕ create \| Deployment \| default\/big \| RollingUpdate — :x: \*\*does not fit\*\* \|/);
    expect(md.stdout).toContain('Scheduling: :x: does not fit: 0/2 pods placed; 0/2 nodes are available: 2 Insufficient memory (each pod requests 3Gi memory, 250m cpu)');
    expect(md.stdout).toContain('Scheduling: :white_check_mark: fits: 3 pods on 2 nodes');
  });

  it('without --server there is no dry run', async () => {
    const r = await runCli(['plan', head(), '-o', 'json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Plan).changes.every((c) => c.scheduling === undefined)).toBe(true);
  });
});
