// `capstan status` as a pure view: the workload's status record, its revisions and pods, the
// Services selecting it with the router's published figures, and the analysis summary.
import { describe, expect, it } from 'vitest';
import type { Pod, Revision } from '../../src/api/cluster.js';
import { buildStatusView, statusText, type RawAnalysisRuns, type RawService, type RawWorkload } from '../../src/cli/status-view.js';

const raw = (over: Partial<RawWorkload> = {}): RawWorkload => ({
  kind: 'Rollout',
  namespace: 'default',
  name: 'web',
  phase: 'Paused',
  revision: 2,
  replicas: 2,
  readyReplicas: 3,
  updatedReplicas: 1,
  syncedCommit: 'c0ffee00c0ffee00',
  message: 'Paused at step 2/4: waiting for promote.',
  step: 1,
  stepCount: 4,
  weight: 20,
  revisionName: 'web-new',
  stableRevision: 'old',
  object: { spec: { strategy: { canary: {} }, template: { metadata: { labels: { app: 'web' } } } } },
  ...over,
});

const revision = (hash: string, n: number, replicas: number): Revision => ({
  metadata: { name: `web-${hash}`, namespace: 'default', owner: { kind: 'Rollout', name: 'web' }, hash, revision: n, createdAt: '2026-01-01T00:00:00Z', commit: `${hash}1234567` },
  template: { metadata: { labels: {} }, spec: {} as Revision['template']['spec'] },
  replicas,
});

const pod = (name: string, hash: string, ready = true): Pod => ({
  metadata: { name, namespace: 'default', labels: { app: 'web' }, owner: { kind: 'Rollout', name: 'web', revision: hash }, createdAt: '2026-01-01T00:00:00Z' },
  spec: { containers: [], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, nodeName: 'n1' } as unknown as Pod['spec'],
  status: { phase: 'Running', ready, hostIP: '127.0.0.1' },
});

const svc: RawService = {
  namespace: 'default',
  name: 'web',
  address: '127.0.0.1:8080',
  endpoints: ['127.0.0.1:1', '127.0.0.1:2'],
  weights: { old: 80, new: 20 },
  traffic: {
    windowSeconds: 30,
    revisions: {
      old: { requests: 790, errors: 0, successRate: 1, p50: 1, p99: 3, share: 79 },
      new: { requests: 210, errors: 21, successRate: 0.9, p50: 1, p99: 7.5, share: 21 },
    },
  },
  object: { spec: { selector: { app: 'web' } } },
};
const other: RawService = { namespace: 'default', name: 'db', weights: { x: 100 }, object: { spec: { selector: { app: 'db' } } } };

const analysis: RawAnalysisRuns = {
  revision: 'new',
  runs: [
    {
      key: 'step-1',
      slot: 'analysis',
      templates: ['success'],
      phase: 'Running',
      startedAt: '2026-01-01T00:00:00Z',
      metrics: [{ name: 'success-rate', phase: 'Running', measurements: 2, successful: 1, failed: 1, inconclusive: 0, errors: 0, lastValue: 0.9, lastPhase: 'Failed', message: 'success-rate: result >= 0.95 is false' }],
    },
  ],
};

const inputs = { revisions: [revision('old', 1, 2), revision('new', 2, 1), revision('older', 0, 0)], pods: [pod('web-old-a', 'old'), pod('web-old-b', 'old'), pod('web-new-a', 'new')], services: [svc, other], analysis };

describe('status view', () => {
  it('JSON keeps the contract fields and adds strategy, 1-based step, set and actual weight, revisions with traffic, and analysis', () => {
    const v = buildStatusView(raw(), inputs);
    expect(v).toMatchObject({ namespace: 'default', name: 'web', phase: 'Paused', revision: 2, step: 1, stepCount: 4, weight: 20 });
    expect(v).toMatchObject({ strategy: 'Canary', stepNumber: 2, setWeight: 20, actualWeight: 21, stableRevision: 'old', currentRevision: 'new' });
    // The revision without pods, replicas or traffic is left out; newest first.
    expect(v.revisions.map((r) => [r.hash, r.role, r.readyReplicas, r.replicas])).toEqual([
      ['new', 'canary', 1, 1],
      ['old', 'stable', 2, 2],
    ]);
    expect(v.revisions[0]!.traffic).toEqual([{ service: 'web', setWeight: 20, actualWeight: 21, requests: 210, errors: 21, successRate: 0.9, p99: 7.5 }]);
    expect(v.services.map((s) => s.name)).toEqual(['web']);
    expect(v.analysis).toEqual(analysis.runs);
    // Another revision's analysis is not this rollout's.
    expect(buildStatusView(raw({ revisionName: 'web-other' }), inputs).analysis).toEqual([]);
  });

  it('a finished canary shows its last step as n/n', () => {
    const v = buildStatusView(raw({ phase: 'Healthy', step: 4, weight: 100, stableRevision: 'new' }), inputs);
    expect(v.stepNumber).toBe(4);
    expect(statusText(v)).toMatch(/step: +\[#{20}\] 4\/4 \(done\)/);
  });

  it('text: progress bars, the revision tree with pods and figures, and the analysis runs', () => {
    const text = statusText(buildStatusView(raw(), inputs));
    expect(text).toContain('  strategy:  Canary\n');
    // 3 ready of 2 desired: the canary pod runs beside the full stable set.
    expect(text).toContain('  ready:     [####################] 3 (2 desired, 1 extra during the rollout)\n');
    expect(text).toContain('  step:      [#####...............] 2/4\n');
    expect(text).toContain('  weight:    [####................] set 20%, actual 21.0%\n');
    expect(text).toContain('  ├── rev 2  new  canary  1/1 ready  commit new1234  web 20% (actual 21.0%, success 90.00%, p99 7.5ms)\n');
    expect(text).toContain('  │   └── web-new-a  n1  Running ready\n');
    expect(text).toContain('  └── rev 1  old  stable  2/2 ready  commit old1234  web 80% (actual 79.0%, success 100.00%, p99 3.0ms)\n');
    expect(text).toContain('      ├── web-old-a  n1  Running ready\n');
    expect(text).toContain('    web  127.0.0.1:8080  old=80%, new=20%  (measured over 30s)\n');
    expect(text).toContain('    step-1  Running  (success)\n');
    expect(text).toContain('      success-rate  Running  2 measured, last 0.9 (Failed), 1 failed, 0 inconclusive\n');
  });
});
