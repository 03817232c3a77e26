import { describe, expect, it } from 'vitest';
import { defaultBehavior, type MetricSpec, type NormalizedHpaSpec } from '../../src/api/index.js';
import { decide, emptyHistory, type HpaHistory, type HpaPod } from '../../src/controllers/hpa/algorithm.js';

const cpu = (averageUtilization: number): MetricSpec => ({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization } } });
const rps = (averageValue: string): MetricSpec => ({ type: 'Pods', pods: { metric: { name: 'http_requests_per_second' }, target: { type: 'AverageValue', averageValue } } });

function spec(over: Partial<NormalizedHpaSpec> = {}): NormalizedHpaSpec {
  return { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 10, metrics: [cpu(50)], behavior: defaultBehavior(), ...over };
}

/** n running, ready pods with a 100m cpu request, each using `usage` millicores. */
function pods(n: number, usage: number | undefined, extra: Partial<HpaPod> = {}): HpaPod[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `p${i}`,
    phase: 'Running',
    ready: true,
    deleting: false,
    requests: { cpu: 100, memory: 1000 },
    usage: usage === undefined ? {} : { cpu: usage },
    metrics: {},
    ...extra,
  }));
}

const T0 = 1_000_000;

describe('HPA algorithm: one metric', () => {
  it('desired = ceil(current × current/target)', () => {
    // 2 pods at 90% of request against 50% → ceil(2 × 1.8) = 4.
    const d = decide({ spec: spec(), currentReplicas: 2, pods: pods(2, 90), now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(4);
    expect(d.rescale).toBe(true);
    expect(d.reason).toBe('cpu resource utilization (percentage of request) above target');
    expect(d.currentMetrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 90, averageValue: '90m' } } }]);
    expect(d.conditions.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    expect(d.conditions.find((c) => c.type === 'AbleToScale')).toMatchObject({ reason: 'SucceededRescale' });
  });

  it('no change within the 0.1 tolerance, a change just outside it', () => {
    expect(decide({ spec: spec(), currentReplicas: 4, pods: pods(4, 54), now: T0, history: emptyHistory() }).desiredReplicas).toBe(4);
    const noWindow = { ...defaultBehavior(), scaleDown: { ...defaultBehavior().scaleDown, stabilizationWindowSeconds: 0 } };
    expect(decide({ spec: spec({ behavior: noWindow }), currentReplicas: 4, pods: pods(4, 46), now: T0, history: emptyHistory() }).desiredReplicas).toBe(4);
    expect(decide({ spec: spec({ behavior: noWindow }), currentReplicas: 4, pods: pods(4, 44), now: T0, history: emptyHistory() }).desiredReplicas).toBe(4);
    expect(decide({ spec: spec({ behavior: noWindow }), currentReplicas: 4, pods: pods(4, 40), now: T0, history: emptyHistory() }).desiredReplicas).toBe(4);
    expect(decide({ spec: spec({ behavior: noWindow }), currentReplicas: 4, pods: pods(4, 30), now: T0, history: emptyHistory() }).desiredReplicas).toBe(3);
    const up = decide({ spec: spec(), currentReplicas: 4, pods: pods(4, 56), now: T0, history: emptyHistory() });
    expect(up.desiredReplicas).toBe(5); // ceil(4 × 1.12)
  });

  it('utilization is a whole percentage, as Kubernetes computes it', () => {
    // 10 pods at 12.05% of request against 10%: 12% (truncated) → ratio 1.2 → 12, not ceil(12.05) = 13.
    const d = decide({ spec: spec({ metrics: [cpu(10)], maxReplicas: 50 }), currentReplicas: 10, pods: pods(10, 12.05), now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(12);
    expect(d.currentMetrics[0]).toMatchObject({ resource: { current: { averageUtilization: 12 } } });
  });

  it('clamps to maxReplicas and minReplicas', () => {
    const up = decide({ spec: spec({ maxReplicas: 3 }), currentReplicas: 2, pods: pods(2, 100), now: T0, history: emptyHistory() });
    expect(up.desiredReplicas).toBe(3);
    expect(up.conditions.find((c) => c.type === 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'TooManyReplicas' });
    const noWindow = { ...defaultBehavior(), scaleDown: { ...defaultBehavior().scaleDown, stabilizationWindowSeconds: 0 } };
    const down = decide({ spec: spec({ minReplicas: 2, behavior: noWindow }), currentReplicas: 4, pods: pods(4, 1), now: T0, history: emptyHistory() });
    expect(down.desiredReplicas).toBe(2);
    expect(down.reason).toBe('All metrics below target');
    expect(down.conditions.find((c) => c.type === 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'TooFewReplicas' });
  });

  it('a target above maxReplicas is brought down at once', () => {
    const d = decide({ spec: spec({ maxReplicas: 3 }), currentReplicas: 5, pods: pods(5, 50), now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(3);
    expect(d.reason).toBe('Current number of replicas above Spec.MaxReplicas');
  });

  it('a target at zero replicas is not scaled', () => {
    const d = decide({ spec: spec(), currentReplicas: 0, pods: [], now: T0, history: emptyHistory() });
    expect(d.rescale).toBe(false);
    expect(d.conditions.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'False', reason: 'ScalingDisabled' });
  });
});

describe('HPA algorithm: scale-down stabilisation', () => {
  it('uses the highest recommendation of the last 300 s, then scales down', () => {
    let history: HpaHistory = emptyHistory();
    let current = 4;
    // Load gone: every pass proposes 1, but the first recommendation (4, seeded at the first pass) holds for 300 s.
    const seen: number[] = [];
    for (let t = 0; t <= 330; t += 15) {
      const d = decide({ spec: spec(), currentReplicas: current, pods: pods(current, 5), now: T0 + t * 1000, history });
      history = d.history;
      current = d.desiredReplicas;
      seen.push(current);
    }
    // Until 300 s have passed since the last recommendation of 4, the count stays 4.
    expect(seen.slice(0, 20)).toEqual(Array(20).fill(4));
    expect(seen.at(-1)).toBe(1);
  });

  it('reports ScaleDownStabilized while the window holds', () => {
    const history: HpaHistory = { recommendations: [{ at: T0 - 60_000, replicas: 4 }], scaleUpEvents: [], scaleDownEvents: [] };
    const d = decide({ spec: spec(), currentReplicas: 4, pods: pods(4, 5), now: T0, history });
    expect(d.desiredReplicas).toBe(4);
    expect(d.conditions.find((c) => c.type === 'AbleToScale')).toMatchObject({ reason: 'ScaleDownStabilized' });
  });

  it('the first pass of a fresh autoscaler does not scale down at once (the window starts with the current count)', () => {
    const d = decide({ spec: spec(), currentReplicas: 4, pods: pods(4, 5), now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(4);
  });
});

describe('HPA algorithm: scale-up policies', () => {
  it('default: the larger of 100% and 4 pods per 15 s', () => {
    // From 1, 100% allows 2 and 4 pods allows 5: 5 wins.
    const a = decide({ spec: spec({ maxReplicas: 100 }), currentReplicas: 1, pods: pods(1, 5000), now: T0, history: emptyHistory() });
    expect(a.desiredReplicas).toBe(5);
    expect(a.conditions.find((c) => c.type === 'ScalingLimited')).toMatchObject({ status: 'True', reason: 'ScaleUpLimit' });
    // From 10, 100% allows 20.
    const b = decide({ spec: spec({ maxReplicas: 100 }), currentReplicas: 10, pods: pods(10, 5000), now: T0, history: emptyHistory() });
    expect(b.desiredReplicas).toBe(20);
  });

  it('counts the scale-ups already made in the period', () => {
    const first = decide({ spec: spec({ maxReplicas: 100 }), currentReplicas: 1, pods: pods(1, 5000), now: T0, history: emptyHistory() });
    expect(first.desiredReplicas).toBe(5);
    // 5 s later the period started at 1: 1 + 4 = 5 and 1 × 2 = 2 → no more.
    const second = decide({ spec: spec({ maxReplicas: 100 }), currentReplicas: 5, pods: pods(5, 5000), now: T0 + 5000, history: first.history });
    expect(second.desiredReplicas).toBe(5);
    // 16 s after the first, the period is fresh: 5 × 2 = 10, 5 + 4 = 9 → 10.
    const third = decide({ spec: spec({ maxReplicas: 100 }), currentReplicas: 5, pods: pods(5, 5000), now: T0 + 16_000, history: second.history });
    expect(third.desiredReplicas).toBe(10);
  });

  it('selectPolicy Min picks the smaller change, Disabled none', () => {
    const rules = (selectPolicy: 'Min' | 'Disabled') => ({
      ...defaultBehavior(),
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy, policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 60 }, { type: 'Percent' as const, value: 50, periodSeconds: 60 }] },
    });
    const min = decide({ spec: spec({ maxReplicas: 100, behavior: rules('Min') }), currentReplicas: 4, pods: pods(4, 5000), now: T0, history: emptyHistory() });
    expect(min.desiredReplicas).toBe(5); // min(4 + 1, ceil(4 × 1.5) = 6)
    const off = decide({ spec: spec({ maxReplicas: 100, behavior: rules('Disabled') }), currentReplicas: 4, pods: pods(4, 5000), now: T0, history: emptyHistory() });
    expect(off.desiredReplicas).toBe(4);
    expect(off.rescale).toBe(false);
  });

  it('a scale-up stabilisation window uses the lowest recommendation in it', () => {
    const behavior = { ...defaultBehavior(), scaleUp: { ...defaultBehavior().scaleUp, stabilizationWindowSeconds: 60 } };
    const history: HpaHistory = { recommendations: [{ at: T0 - 30_000, replicas: 3 }], scaleUpEvents: [], scaleDownEvents: [] };
    const d = decide({ spec: spec({ behavior }), currentReplicas: 2, pods: pods(2, 200), now: T0, history });
    expect(d.desiredReplicas).toBe(3);
    expect(d.conditions.find((c) => c.type === 'AbleToScale')).toMatchObject({ reason: 'SucceededRescale' });
  });
});

describe('HPA algorithm: scale-down policies', () => {
  const down = (selectPolicy: 'Max' | 'Min' | 'Disabled') => ({
    ...defaultBehavior(),
    scaleDown: { stabilizationWindowSeconds: 0, selectPolicy, policies: [{ type: 'Pods' as const, value: 2, periodSeconds: 60 }, { type: 'Percent' as const, value: 10, periodSeconds: 60 }] },
  });

  it('Max allows the larger change, Min the smaller, Disabled none', () => {
    const run = (p: 'Max' | 'Min' | 'Disabled') => decide({ spec: spec({ behavior: down(p) }), currentReplicas: 10, pods: pods(10, 1), now: T0, history: emptyHistory() }).desiredReplicas;
    expect(run('Max')).toBe(8); // max change: 2 pods vs trunc(10 × 0.9) = 9 (1 pod) → 8
    expect(run('Min')).toBe(9);
    expect(run('Disabled')).toBe(10);
  });

  it('counts scale-downs already made in the period', () => {
    const a = decide({ spec: spec({ behavior: down('Max') }), currentReplicas: 10, pods: pods(10, 1), now: T0, history: emptyHistory() });
    expect(a.desiredReplicas).toBe(8);
    const b = decide({ spec: spec({ behavior: down('Max') }), currentReplicas: 8, pods: pods(8, 1), now: T0 + 15_000, history: a.history });
    expect(b.desiredReplicas).toBe(8); // the period started at 10: 10 − 2 = 8 already
    const c = decide({ spec: spec({ behavior: down('Max') }), currentReplicas: 8, pods: pods(8, 1), now: T0 + 61_000, history: b.history });
    expect(c.desiredReplicas).toBe(6);
  });
});

describe('HPA algorithm: missing metrics and unready pods', () => {
  it('on a scale up, pods without a measurement count as 0%', () => {
    // 2 measured at 100% (ratio 2), 2 missing → (200 + 0) / 400 = 50%... against 50% → no change.
    const ps = [...pods(2, 100), ...pods(2, undefined).map((p, i) => ({ ...p, name: `m${i}` }))];
    const d = decide({ spec: spec(), currentReplicas: 4, pods: ps, now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(4);
  });

  it('on a scale down, pods without a measurement count as 100% of request', () => {
    // 2 measured at 10%, 2 missing: (20 + 200) / 400 = 55% against 60% → ratio 0.92: within tolerance, no change.
    const behavior = { ...defaultBehavior(), scaleDown: { ...defaultBehavior().scaleDown, stabilizationWindowSeconds: 0 } };
    const ps = [...pods(2, 10), ...pods(2, undefined).map((p, i) => ({ ...p, name: `m${i}` }))];
    const d = decide({ spec: spec({ metrics: [cpu(60)], behavior }), currentReplicas: 4, pods: ps, now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(4);
    // Without the missing pods it would have gone to ceil(2 × 10/60) = 1.
    const alone = decide({ spec: spec({ metrics: [cpu(60)], behavior }), currentReplicas: 2, pods: pods(2, 10), now: T0, history: emptyHistory() });
    expect(alone.desiredReplicas).toBe(1);
  });

  it('unready pods count as 0% on a cpu scale up', () => {
    const ps = [...pods(1, 100), ...pods(1, 100).map((p) => ({ ...p, name: 'u', ready: false }))];
    // Ready one at 200% of target alone → 2; with the unready at 0: 100 / 200 = 50% → ratio 1 → no change.
    const d = decide({ spec: spec(), currentReplicas: 2, pods: ps, now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(2);
  });

  it('no measurement at all: ScalingActive False, no change', () => {
    const d = decide({ spec: spec(), currentReplicas: 3, pods: pods(3, undefined), now: T0, history: emptyHistory() });
    expect(d.rescale).toBe(false);
    expect(d.desiredReplicas).toBe(3);
    expect(d.conditions.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'False', reason: 'FailedGetResourceMetric' });
  });

  it('a pod without a request for the resource makes utilization undefined', () => {
    const ps = pods(2, 90).map((p, i) => (i === 1 ? { ...p, requests: {} } : p));
    const d = decide({ spec: spec(), currentReplicas: 2, pods: ps, now: T0, history: emptyHistory() });
    expect(d.rescale).toBe(false);
    expect(d.conditions.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'False', reason: 'FailedGetResourceMetric' });
    expect(d.conditions.find((c) => c.type === 'ScalingActive')!.message).toContain('missing request for cpu');
  });
});

describe('HPA algorithm: several metrics', () => {
  it('the largest proposal wins', () => {
    const ps = pods(2, 40).map((p) => ({ ...p, metrics: { http_requests_per_second: 30 } }));
    // cpu: 2 × 40/50 = 1.6 → 2 (within tolerance? ratio 0.8 → ceil(1.6) = 2); rps: 2 × 30/10 = 6.
    const d = decide({ spec: spec({ metrics: [cpu(50), rps('10')] }), currentReplicas: 2, pods: ps, now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(6);
    expect(d.reason).toBe('pods metric http_requests_per_second above target');
    expect(d.currentMetrics).toHaveLength(2);
    expect(d.currentMetrics[1]).toEqual({ type: 'Pods', pods: { metric: { name: 'http_requests_per_second' }, current: { averageValue: '30' } } });
  });

  it('a failing metric blocks a scale down but not a scale up', () => {
    const behavior = { ...defaultBehavior(), scaleDown: { ...defaultBehavior().scaleDown, stabilizationWindowSeconds: 0 } };
    const low = pods(4, 5);
    const down = decide({ spec: spec({ metrics: [cpu(50), rps('10')], behavior }), currentReplicas: 4, pods: low, now: T0, history: emptyHistory() });
    expect(down.desiredReplicas).toBe(4);
    expect(down.conditions.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'False', reason: 'FailedGetPodsMetric' });
    const up = decide({ spec: spec({ metrics: [cpu(50), rps('10')], behavior }), currentReplicas: 2, pods: pods(2, 100), now: T0, history: emptyHistory() });
    expect(up.desiredReplicas).toBe(4);
  });

  it('a memory AverageValue target in bytes', () => {
    const mem: MetricSpec = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };
    const ps = pods(2, undefined).map((p) => ({ ...p, usage: { memory: 300 * 2 ** 20 } }));
    const d = decide({ spec: spec({ metrics: [mem] }), currentReplicas: 2, pods: ps, now: T0, history: emptyHistory() });
    expect(d.desiredReplicas).toBe(6);
  });
});
