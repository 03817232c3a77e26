import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { maxSurgeFor, maxUnavailableFor, resolveFenceposts, resolveRollingParams, scaledValue } from '../../src/rollout/index.js';
import type { IntOrPercent } from '../../src/rollout/index.js';

describe('resolveFenceposts (Kubernetes ResolveFenceposts)', () => {
  const cases: Array<[number, IntOrPercent | undefined, IntOrPercent | undefined, number, number]> = [
    // replicas, maxSurge, maxUnavailable → surge, unavailable
    [10, '25%', '25%', 3, 2],
    [10, undefined, undefined, 3, 2], // defaults are 25%/25%
    [1, '25%', '25%', 1, 0],
    [4, '25%', '25%', 1, 1],
    [3, '25%', '25%', 1, 0],
    [5, '30%', '30%', 2, 1],
    [10, '0%', '0%', 0, 1], // both zero → unavailable 1
    [10, 0, 0, 0, 1],
    [3, '10%', '10%', 1, 0], // surge rounds up to 1, so no forced unavailable
    [3, '0%', '10%', 0, 1], // 10% of 3 rounds down to 0, both zero → 1
    [0, '25%', '25%', 0, 1],
    [10, 2, 3, 2, 3],
    [10, '100%', '0%', 10, 0],
    [7, '1%', '99%', 1, 6],
    [200, '33%', '33%', 66, 66],
    [201, '33%', '33%', 67, 66],
  ];
  for (const [replicas, surge, unavailable, wantSurge, wantUnavailable] of cases) {
    it(`${replicas} replicas, ${String(surge ?? 'default')}/${String(unavailable ?? 'default')} → surge ${wantSurge}, unavailable ${wantUnavailable}`, () => {
      expect(resolveFenceposts(surge, unavailable, replicas)).toEqual({ maxSurge: wantSurge, maxUnavailable: wantUnavailable });
    });
  }
});

describe('MaxUnavailable / MaxSurge of a deployment', () => {
  it('caps unavailability at replicas and is 0 for no replicas or a non-rolling strategy', () => {
    const rolling = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } };
    expect(maxUnavailableFor(rolling, 3)).toBe(3);
    expect(maxUnavailableFor(rolling, 0)).toBe(0);
    expect(maxUnavailableFor({ type: 'Recreate' }, 10)).toBe(0);
    expect(maxSurgeFor({ type: 'Recreate' }, 10)).toBe(0);
    expect(maxSurgeFor({ type: 'RollingUpdate' }, 10)).toBe(3);
    expect(maxUnavailableFor({ type: 'RollingUpdate' }, 10)).toBe(2);
  });
});

describe('scaledValue', () => {
  it('rounds percentages up or down without floating-point error', () => {
    expect(scaledValue('10%', 30, true)).toBe(3);
    expect(scaledValue('10%', 30, false)).toBe(3);
    expect(scaledValue('7%', 100, false)).toBe(7);
    expect(scaledValue('29%', 100, true)).toBe(29);
    expect(scaledValue(4, 100, true)).toBe(4);
  });

  it('rejects values that are neither a count nor a percentage, naming the field', () => {
    for (const bad of ['25', 'abc', '-5%', '2.5%', -1, 1.5] as IntOrPercent[]) {
      let err: unknown;
      try {
        resolveFenceposts(bad, '25%', 10);
      } catch (e) {
        err = e;
      }
      expect(isCapstanError(err, 'CAPSTAN_ERR_API_SCHEMA')).toBe(true);
      expect((err as { field: string }).field).toBe('spec.strategy.rollingUpdate.maxSurge');
    }
    expect(() => resolveFenceposts('25%', '101%', 10)).toThrow(/over 100%/);
  });
});

describe('resolveRollingParams', () => {
  it('is resolveFenceposts with replicas first', () => {
    expect(resolveRollingParams(10, '25%', '25%')).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(resolveRollingParams(1, undefined, undefined)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });
});
