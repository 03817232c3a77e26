import { describe, expect, it } from 'vitest';
import { measure } from '../../src/analysis/index.js';

const stats = () => ({ requests: 40, errors: 2, successRate: 0.95, p50: 3, p90: 8, p99: 20 });

describe('capstan provider metric names', () => {
  it('reads success-rate and successRate as the same figure', async () => {
    const ctx = { stats, revision: 'abc', service: 'default/api' };
    expect(await measure({ capstan: { metric: 'success-rate' } }, ctx)).toEqual({ value: 0.95, requests: 40 });
    expect(await measure({ capstan: { metric: 'successRate' } }, ctx)).toEqual({ value: 0.95, requests: 40 });
  });

  it('names the metrics it knows when given one it does not', async () => {
    await expect(measure({ capstan: { metric: 'latency' } }, { stats, revision: 'abc', service: 'api' })).rejects.toThrow(/use one of requests, errors, successRate/);
  });
});
