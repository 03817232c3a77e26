import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RouterMetrics } from '../../src/router/index.js';

describe('router metrics window', () => {
  it('keeps per-revision counts and latency percentiles for the last N seconds only', async () => {
    let t = 1_000_000;
    const registry = new Registry();
    const m = new RouterMetrics({ registry, now: () => t });
    for (let i = 0; i < 98; i++) m.observe({ service: 'default/web', revision: 'a', seconds: 0.004, error: false, code: 200 });
    m.observe({ service: 'default/web', revision: 'a', seconds: 0.9, error: true, code: 503 });
    m.observe({ service: 'default/web', revision: 'a', seconds: 0, error: true, code: 0 });
    t += 10_000;
    m.observe({ service: 'default/web', revision: 'b', seconds: 0.02, error: false, code: 200 });

    const a = m.windowStats('default/web', 'a', 60);
    expect(a).toMatchObject({ requests: 100, errors: 2, successRate: 0.98, p50: 5, p90: 5, p99: 5 });
    // The last 5 seconds hold nothing of revision a.
    expect(m.windowStats('default/web', 'a', 5).requests).toBe(0);
    expect(m.windowStats('default/web', 'b', 5)).toMatchObject({ requests: 1, p99: 20 });
    // A minute later the window has moved past everything.
    t += 61_000;
    expect(m.windowStats('default/web', 'a', 60)).toMatchObject({ requests: 0, errors: 0 });
    expect(m.windowStats('default/web', 'a', 60).successRate).toBeNaN();
    // Prometheus keeps the totals.
    expect(await registry.metrics()).toContain('capstan_router_request_errors_total{service="default/web",revision="a"} 2');
    expect(m.revisionsOf('default/web')).toEqual(['a', 'b']);
    expect(m.windowStatsIfAny('default/web', 'never', 60)).toBeUndefined();
    // A second RouterMetrics on the same registry shares the metrics instead of failing.
    expect(() => new RouterMetrics({ registry })).not.toThrow();
  });
});
