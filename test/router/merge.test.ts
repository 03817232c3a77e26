// Merging routers' windows: counts add second by second and latency histograms add, so the
// merged figures are those of one router that saw every request (percentiles exact to the bucket).
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { nodeWindows } from '../../src/compose/services.js';
import { mergedRevisions, mergedStats, mergeWindows, RouterMetrics, shiftSeries, type WindowSeries } from '../../src/router/index.js';

const T0 = 1_700_000_000_000;

/** A metrics object on a clock the test moves. */
function metrics(clock: { ms: number }): RouterMetrics {
  return new RouterMetrics({ registry: new Registry(), now: () => clock.ms });
}

describe('mergeWindows and mergedStats', () => {
  it('equal one router that saw every request: requests, errors and percentiles', () => {
    const clock = { ms: T0 };
    const a = metrics(clock);
    const b = metrics(clock);
    const all = metrics(clock);
    // Node a: fast requests over three seconds; node b: slower ones and errors, some in the same seconds.
    const observe = (m: RouterMetrics, seconds: number, error: boolean): void => {
      m.observe({ service: 'default/web', revision: 'r1', seconds, error, code: error ? 500 : 200 });
      all.observe({ service: 'default/web', revision: 'r1', seconds, error, code: error ? 500 : 200 });
    };
    for (let s = 0; s < 3; s++) {
      clock.ms = T0 + s * 1000;
      for (let i = 0; i < 90; i++) observe(a, 0.0008, false);
      for (let i = 0; i < 9; i++) observe(b, 0.04, i % 3 === 0);
      observe(b, 2.5, true);
    }
    b.observe({ service: 'default/web', revision: 'r2', seconds: 0.01, error: false, code: 200 });
    const merged = mergeWindows([a.exportWindows(), b.exportWindows()]);
    const nowSecond = Math.floor(clock.ms / 1000);
    const got = mergedStats([merged], 'default/web', 'r1', nowSecond, 60)!;
    const want = all.windowStats('default/web', 'r1', 60);
    expect(got).toEqual(want);
    expect(got.requests).toBe(300);
    expect(got.errors).toBe(12);
    // Rank 297 of 300 falls in node b's 50 ms bucket, which node a alone never shows.
    expect(got.p99).toBe(50);
    expect(a.windowStats('default/web', 'r1', 60).p99).toBe(1);
    // One series per revision, one bucket per second, summed.
    expect(merged.map((s) => `${s.service} ${s.revision} ${s.buckets.length}`)).toEqual(['default/web r1 3', 'default/web r2 1']);
    expect(merged[0]!.buckets.map((x) => x.requests)).toEqual([100, 100, 100]);
    expect(mergedRevisions([merged], 'default/web')).toEqual(['r1', 'r2']);
    // A shorter span covers fewer seconds.
    expect(mergedStats([merged], 'default/web', 'r1', nowSecond, 1)!.requests).toBe(100);
  });

  it('leaves out what no router has, and buckets outside the window', () => {
    const series: WindowSeries[] = [{ service: 'default/web', revision: 'r1', buckets: [{ second: 100, requests: 5, errors: 0, latency: [5] }] }];
    expect(mergedStats([series], 'default/web', 'r9', 100, 60)).toBeUndefined();
    expect(mergedStats([series], 'default/other', 'r1', 100, 60)).toBeUndefined();
    expect(mergedStats([series], 'default/web', 'r1', 200, 60)).toMatchObject({ requests: 0 });
    expect(mergedStats([series], 'default/web', 'r1', 100, 60)).toMatchObject({ requests: 5, p99: 0.5 });
  });

  it('moves another machine’s buckets onto the reader’s clock', () => {
    const series: WindowSeries[] = [{ service: 's', revision: 'r', buckets: [{ second: 1000, requests: 1, errors: 0, latency: [1] }] }];
    // The sender's clock runs 7 s behind the receiver's.
    expect(shiftSeries(series, 1_000_500, 1_007_400)[0]!.buckets[0]!.second).toBe(1007);
    expect(shiftSeries(series, 1_000_000, 1_000_100)).toEqual(series);
  });

  it('reads the nodes’ stored reports, skipping old and malformed ones', () => {
    const report = (receivedAt: number) =>
      new TextEncoder().encode(
        JSON.stringify({ node: 'n', sentAt: receivedAt - 2000, receivedAt, windowSeconds: 60, series: [{ service: 's', revision: 'r', buckets: [{ second: 10, requests: 2, errors: 0, latency: [2] }] }] }),
      );
    const out = nodeWindows([report(100_000), report(10_000), new TextEncoder().encode('not json')], 110_000, 60_000);
    expect(out).toHaveLength(1);
    expect(out[0]![0]!.buckets[0]!.second).toBe(12);
  });
});
