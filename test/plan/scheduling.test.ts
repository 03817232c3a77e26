// The scheduling dry run as a pure function of the plan, the live nodes and the live pods,
// and its Markdown in a pull-request comment (golden file next to the review golden).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeInfo, Pod } from '../../src/api/cluster.js';
import type { SourcedObject } from '../../src/api/types.js';
import { computePlan, dryRunScheduling, renderMarkdown, withScheduling, type Plan } from '../../src/plan/index.js';
import { loadDesiredFrom } from '../../src/render/index.js';
import { openSource } from '../../src/source/index.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function deployment(name: string, replicas: number, memory: string, strategy?: unknown): string {
  return JSON.stringify({
    apiVersion: strategy ? 'argoproj.io/v1alpha1' : 'apps/v1',
    kind: strategy ? 'Rollout' : 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(strategy ? { strategy } : {}),
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: `${name}:1`, resources: { requests: { cpu: '500m', memory } } }] } },
    },
  });
}

async function objects(files: Record<string, string>): Promise<SourcedObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-plan-sched-'));
  dirs.push(dir);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), `${text}\n`);
  }
  const loaded = await loadDesiredFrom(await openSource(dir, { dataDir: join(dir, '.cache') }), {});
  expect(loaded.errors).toEqual([]);
  return loaded.objects;
}

const node = (name: string, memoryGi: number): NodeInfo => ({
  name,
  labels: {},
  capacity: { cpu: 4000, memory: memoryGi * 2 ** 30, pods: 110 },
  runtime: 'process',
  status: { ready: true, lastHeartbeat: '2026-01-01T00:00:00Z', address: '127.0.0.1' },
});

const pod = (owner: { kind: string; name: string }, i: number, nodeName: string, memoryGi: number): Pod => ({
  metadata: { name: `${owner.name}-old-${i}`, namespace: 'default', labels: {}, owner: { ...owner, revision: 'old' }, createdAt: '2026-01-01T00:00:00Z' },
  spec: { containers: [{ name: 'main', image: 'x', resources: { requests: { memory: `${memoryGi}Gi` } } }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, nodeName } as Pod['spec'],
  status: { phase: 'Running', ready: true },
});

async function planOf(head: Record<string, string>, live: Record<string, string>, nodes: NodeInfo[], pods: Pod[]): Promise<Plan> {
  const desired = await objects(head);
  const current = await objects(live);
  const plan = computePlan({ source: { location: 'deploy', ref: 'feature', commit: null }, desired, errors: [], warnings: [], base: { kind: 'server', url: 'http://127.0.0.1:7480' }, current });
  return { ...plan, changes: withScheduling(plan.changes, dryRunScheduling({ changes: plan.changes, desired, nodes, pods })) };
}

describe('scheduling dry run', () => {
  it('an update replaces the workload\'s running pods; a deletion frees its pods for later changes', async () => {
    const nodes = [node('a', 2), node('b', 2)];
    // Live: web 2x1Gi, gone 2x1Gi: the nodes are full.
    const pods = [pod({ kind: 'Deployment', name: 'web' }, 0, 'a', 1), pod({ kind: 'Deployment', name: 'web' }, 1, 'b', 1), pod({ kind: 'Deployment', name: 'gone' }, 0, 'a', 1), pod({ kind: 'Deployment', name: 'gone' }, 1, 'b', 1)];
    const plan = await planOf(
      { 'web.yaml': deployment('web', 2, '1Gi').replace('web:1', 'web:2'), 'new.yaml': deployment('new', 2, '1Gi') },
      { 'web.yaml': deployment('web', 2, '1Gi'), 'gone.yaml': deployment('gone', 2, '1Gi') },
      nodes,
      pods,
    );
    const s = Object.fromEntries(plan.changes.map((c) => [c.name, c.scheduling]));
    expect(s.web).toMatchObject({ fits: true, summary: 'fits: 2 pods on 2 nodes' });
    expect(s.new).toMatchObject({ fits: true, summary: 'fits: 2 pods on 2 nodes' });
    expect(s.gone).toBeUndefined();
  });

  it('blue-green runs the preview next to the active revision, so the same update may not fit', async () => {
    const bg = { blueGreen: { activeService: 'bg', autoPromotionEnabled: false } };
    const nodes = [node('a', 2), node('b', 2)];
    const pods = [pod({ kind: 'Rollout', name: 'bg' }, 0, 'a', 1), pod({ kind: 'Rollout', name: 'bg' }, 1, 'b', 1)];
    const plan = await planOf({ 'bg.yaml': deployment('bg', 2, '1536Mi', bg) }, { 'bg.yaml': deployment('bg', 2, '1Gi', bg) }, nodes, pods);
    expect(plan.changes[0]!.scheduling).toMatchObject({
      fits: false,
      placed: 0,
      failures: { 'Insufficient memory': 2 },
      summary: 'does not fit: 0/2 pods placed; 0/2 nodes are available: 2 Insufficient memory (each pod requests 1.5Gi memory, 500m cpu)',
    });
  });

  it('renders in the pull-request Markdown (golden file)', async () => {
    const plan = await planOf(
      { 'web.yaml': deployment('web', 3, '1Gi'), 'big.yaml': deployment('big', 2, '3Gi') },
      { 'web.yaml': deployment('web', 1, '1Gi') },
      [node('a', 2), node('b', 2)],
      [pod({ kind: 'Deployment', name: 'web' }, 0, 'a', 1)],
    );
    const md = renderMarkdown(plan);
    const golden = fileURLToPath(new URL('../cli/golden/plan-scheduling.md', import.meta.url));
    if (process.env.UPDATE_GOLDEN || !existsSync(golden)) writeFileSync(golden, md);
    expect(md).toBe(readFileSync(golden, 'utf8'));
    expect(md).toContain(':x: **does not fit**');
  });
});
