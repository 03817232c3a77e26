// What the control plane publishes per Service revision from the router's window: JSON-safe
// figures (no NaN), and each revision's share of the requests — the actual weight.
import { describe, expect, it } from 'vitest';
import { serviceTrafficStats } from '../../src/compose/services.js';
import type { WindowStats } from '../../src/router/index.js';

const stats = (requests: number, errors: number, p99: number): WindowStats => ({
  requests,
  errors,
  successRate: requests ? 1 - errors / requests : NaN,
  p50: requests ? 1 : NaN,
  p90: requests ? 2 : NaN,
  p99: requests ? p99 : NaN,
});

describe('service traffic stats', () => {
  it('shares add up over revisions with requests; idle revisions are left out', () => {
    const by: Record<string, WindowStats> = { a: stats(803, 0, 3), b: stats(197, 7, 7.5), c: stats(0, 0, 0) };
    const out = serviceTrafficStats(['a', 'b', 'c'], (r) => by[r]!, 30);
    expect(out).toEqual({
      windowSeconds: 30,
      revisions: {
        a: { requests: 803, errors: 0, successRate: 1, p50: 1, p99: 3, share: 80.3 },
        b: { requests: 197, errors: 7, successRate: 0.9645, p50: 1, p99: 7.5, share: 19.7 },
      },
    });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('an overflowing latency is null in JSON rather than Infinity', () => {
    const out = serviceTrafficStats(['a'], () => stats(1, 1, Infinity), 30);
    expect(out.revisions.a).toMatchObject({ successRate: 0, p99: null, share: 100 });
  });
});
