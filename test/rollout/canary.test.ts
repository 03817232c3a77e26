import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { SmoothWeightedRoundRobin, canaryReplicas, parseCanarySteps, parseDuration } from '../../src/rollout/index.js';

describe('canaryReplicas', () => {
  const cases: Array<[number, number, number]> = [
    [0, 10, 0],
    [1, 10, 1],
    [10, 10, 1],
    [11, 10, 2],
    [20, 5, 1],
    [25, 4, 1],
    [50, 3, 2],
    [99, 10, 10],
    [100, 10, 10],
    [33, 100, 33],
    [5, 0, 0],
    [150, 4, 4],
    [-5, 4, 0],
  ];
  for (const [weight, replicas, want] of cases) {
    it(`weight ${weight} of ${replicas} replicas → ${want}`, () => expect(canaryReplicas(weight, replicas)).toBe(want));
  }
});

describe('parseDuration', () => {
  const cases: Array<[unknown, number]> = [
    [30, 30],
    [0, 0],
    ['30', 30],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    [' 2m ', 120],
  ];
  for (const [input, want] of cases) it(`${JSON.stringify(input)} → ${want}s`, () => expect(parseDuration(input)).toBe(want));

  it('rejects anything else with a schema error', () => {
    for (const bad of ['5d', '1.5m', '-3', 'm', '', 1.5, -1, null, {}]) {
      expect(() => parseDuration(bad)).toThrow(/not a (duration|whole number)/);
    }
  });
});

describe('parseCanarySteps', () => {
  it('parses every step kind', () => {
    const steps = parseCanarySteps([
      { setWeight: 20 },
      { pause: {} },
      { pause: { duration: 30 } },
      { pause: { duration: '5m' } },
      { pause: null },
      { setCanaryScale: { replicas: 3 } },
      { setCanaryScale: { weight: 25 } },
      { setCanaryScale: { matchTrafficWeight: true } },
      { analysis: { templates: [{ templateName: 'success-rate' }], args: [{ name: 'service', value: 'web' }] } },
      { setWeight: 100 },
    ]);
    expect(steps).toEqual([
      { setWeight: 20 },
      { pause: {} },
      { pause: { duration: 30 } },
      { pause: { duration: 300 } },
      { pause: {} },
      { setCanaryScale: { replicas: 3 } },
      { setCanaryScale: { weight: 25 } },
      { setCanaryScale: { matchTrafficWeight: true } },
      { analysis: { templates: [{ templateName: 'success-rate' }], args: [{ name: 'service', value: 'web' }] } },
      { setWeight: 100 },
    ]);
    expect(parseCanarySteps(undefined)).toEqual([]);
  });

  it('names the field and location of a bad step', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [[{ setWeight: 20 }, { setWeight: 120 }], 'spec.strategy.canary.steps[1].setWeight', /0\.\.100/],
      [[{ pause: { duration: 'soon' } }], 'spec.strategy.canary.steps[0].pause.duration', /not a duration/],
      [[{ setWeight: 10, pause: {} }], 'spec.strategy.canary.steps[0]', /exactly one/],
      [[{ rollback: true }], 'spec.strategy.canary.steps[0]', /unknown step/],
      [[{ setCanaryScale: { replicas: 2, weight: 10 } }], 'spec.strategy.canary.steps[0].setCanaryScale', /exactly one/],
      [[{ setCanaryScale: { replicas: -1 } }], 'spec.strategy.canary.steps[0].setCanaryScale.replicas', /replica count/],
      [[{ analysis: { templates: [] } }], 'spec.strategy.canary.steps[0].analysis.templates', /list of templates/],
      [{ setWeight: 1 }, 'spec.strategy.canary.steps', /must be a list/],
      [['setWeight'], 'spec.strategy.canary.steps[0]', /mapping/],
    ];
    for (const [raw, field, message] of cases) {
      let err: unknown;
      try {
        parseCanarySteps(raw, { file: 'apps/web.yaml', line: 12, column: 7 });
      } catch (e) {
        err = e;
      }
      expect(isCapstanError(err, 'CAPSTAN_ERR_API_SCHEMA'), JSON.stringify(raw)).toBe(true);
      const e = err as { field: string; message: string; toDiagnostic(): unknown };
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.toDiagnostic()).toMatchObject({ file: 'apps/web.yaml', line: 12, column: 7 });
    }
  });
});

describe('SmoothWeightedRoundRobin', () => {
  for (const [a, b] of [
    [1, 99],
    [5, 95],
    [20, 80],
    [50, 50],
  ]) {
    it(`splits 10,000 picks ${a}/${b} within 1 percentage point`, () => {
      const picker = new SmoothWeightedRoundRobin([
        { item: 'canary', weight: a },
        { item: 'stable', weight: b },
      ]);
      let canary = 0;
      for (let i = 0; i < 10_000; i++) if (picker.pick() === 'canary') canary++;
      expect(Math.abs((canary / 10_000) * 100 - a)).toBeLessThanOrEqual(1);
    });
  }

  it('interleaves smoothly, as nginx does for weights 5, 1, 1', () => {
    const picker = new SmoothWeightedRoundRobin([
      { item: 'a', weight: 5 },
      { item: 'b', weight: 1 },
      { item: 'c', weight: 1 },
    ]);
    expect(Array.from({ length: 7 }, () => picker.pick()).join('')).toBe('aabacaa');
  });

  it('spreads a small weight evenly instead of in a burst', () => {
    const picker = new SmoothWeightedRoundRobin([
      { item: 'canary', weight: 5 },
      { item: 'stable', weight: 95 },
    ]);
    const positions: number[] = [];
    for (let i = 0; i < 100; i++) if (picker.pick() === 'canary') positions.push(i);
    expect(positions).toHaveLength(5);
    for (let i = 1; i < positions.length; i++) expect(positions[i] - positions[i - 1]).toBe(20);
  });

  it('skips zero weights, and picks nothing when no backend has weight', () => {
    const picker = new SmoothWeightedRoundRobin([
      { item: 'old', weight: 0 },
      { item: 'new', weight: 100 },
    ]);
    for (let i = 0; i < 10; i++) expect(picker.pick()).toBe('new');
    picker.setWeights([{ item: 'x', weight: 0 }]);
    expect(picker.pick()).toBeUndefined();
    expect(new SmoothWeightedRoundRobin().pick()).toBeUndefined();
  });
});
