import { describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { analysisReconciler, type RevisionWindowStats } from '../../src/analysis/index.js';
import { VirtualClock } from '../../src/controllers/index.js';
import { silentLogger } from '../../src/common/index.js';
import { openEmbeddedStore } from '../../src/store/index.js';

const START = Date.parse('2026-03-01T12:00:00.000Z');

describe('analysis runner', () => {
  it('measures on its interval through the router stats and reports the run in the override record', async () => {
    const kv = await openEmbeddedStore();
    try {
      const clock = new VirtualClock(START);
      let stats: RevisionWindowStats | undefined = { requests: 500, errors: 0, successRate: 1, p50: 5, p90: 9, p99: 20 };
      const asked: unknown[] = [];
      const r = analysisReconciler({
        kv,
        clock,
        providers: { service: 'web', stats: (service, revision, window) => (asked.push([service, revision, window]), stats) },
      });
      const template = {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AnalysisTemplate',
        metadata: { name: 'success-rate', namespace: 'default' },
        spec: {
          metrics: [
            { name: 'success', interval: '10s', count: 3, successCondition: 'result >= 0.99', provider: { capstan: { metric: 'successRate', window: '1m' } } },
          ],
        },
      };
      await kv.put(`${STORE_PREFIX.desired}AnalysisTemplate/default/success-rate`, JSON.stringify({ object: template }));
      await kv.put(
        `${STORE_PREFIX.status}Rollout/default/web`,
        JSON.stringify({ revisionName: 'web-abc', analysis: { key: 'step-1', templates: ['success-rate'] } }),
      );
      const ctx = { logger: silentLogger(), signal: new AbortController().signal, failures: 0 };
      const override = async () => {
        const item = await kv.get('/capstan/overrides/Rollout/default/web');
        return item ? JSON.parse(new TextDecoder().decode(item.value)) : undefined;
      };

      const first = await r.reconcile('Rollout/default/web', ctx);
      expect(first).toEqual({ requeueAfterMs: 10_000 });
      expect(asked).toEqual([['web', 'abc', 60]]);
      expect(await override()).toBeUndefined();
      clock.advance(10_000);
      await r.reconcile('Rollout/default/web', ctx);
      clock.advance(10_000);
      stats = { ...stats!, successRate: 0.5 };
      await r.reconcile('Rollout/default/web', ctx);
      expect((await override()).analysis).toMatchObject({ hash: 'abc', key: 'step-1', phase: 'Failed' });
      expect((await override()).analysis.message).toContain('is false');

      // Another step's analysis: a new run; no data pauses (inconclusive by default).
      stats = undefined;
      await kv.put(
        `${STORE_PREFIX.status}Rollout/default/web`,
        JSON.stringify({ revisionName: 'web-abc', analysis: { key: 'step-3', templates: ['success-rate'] } }),
      );
      await r.reconcile('Rollout/default/web', ctx);
      expect((await override()).analysis).toMatchObject({ key: 'step-3', phase: 'Inconclusive' });

      await kv.put(
        `${STORE_PREFIX.status}Rollout/default/web`,
        JSON.stringify({ revisionName: 'web-abc', analysis: { key: 'step-5', templates: ['missing'] } }),
      );
      await r.reconcile('Rollout/default/web', ctx);
      expect((await override()).analysis).toMatchObject({ key: 'step-5', phase: 'Error' });
    } finally {
      await kv.close();
    }
  });
});
