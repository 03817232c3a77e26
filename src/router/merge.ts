// Per-revision figures of several routers (one per node, and the control plane's) merged into
// one: the one-second buckets of every source are added second by second, so requests and
// errors are sums and the latency histogram is the sum of histograms — a percentile of the
// merge is exact to the bucket, as if one router had served every request. Pure.
import { statsOfBuckets, type WindowBucket, type WindowSeries, type WindowStats } from './metrics.js';

/** The buckets of one service and revision across every source. */
function bucketsOf(sources: readonly (readonly WindowSeries[])[], service: string, revision: string): WindowBucket[] {
  const out: WindowBucket[] = [];
  for (const list of sources) for (const s of list) if (s.service === service && s.revision === revision) out.push(...s.buckets);
  return out;
}

/**
 * Every source's series added into one list: one series per service and revision, one bucket
 * per second, counts summed.
 */
export function mergeWindows(sources: readonly (readonly WindowSeries[])[]): WindowSeries[] {
  const byKey = new Map<string, { service: string; revision: string; seconds: Map<number, { requests: number; errors: number; latency: number[] }> }>();
  for (const list of sources) {
    for (const s of list) {
      const key = `${s.service}\u0000${s.revision}`;
      let entry = byKey.get(key);
      if (entry === undefined) {
        entry = { service: s.service, revision: s.revision, seconds: new Map() };
        byKey.set(key, entry);
      }
      for (const b of s.buckets) {
        let sum = entry.seconds.get(b.second);
        if (sum === undefined) {
          sum = { requests: 0, errors: 0, latency: [] };
          entry.seconds.set(b.second, sum);
        }
        sum.requests += b.requests;
        sum.errors += b.errors;
        for (let i = 0; i < b.latency.length; i++) sum.latency[i] = (sum.latency[i] ?? 0) + b.latency[i];
      }
    }
  }
  return [...byKey.values()]
    .sort((a, b) => (a.service === b.service ? (a.revision < b.revision ? -1 : 1) : a.service < b.service ? -1 : 1))
    .map((e) => ({
      service: e.service,
      revision: e.revision,
      buckets: [...e.seconds].sort(([a], [b]) => a - b).map(([second, sum]) => ({ second, ...sum })),
    }));
}

/**
 * The merged figures of one revision over the last `span` seconds up to `nowSecond`;
 * undefined when no source has any bucket of it (no data at all).
 */
export function mergedStats(sources: readonly (readonly WindowSeries[])[], service: string, revision: string, nowSecond: number, span: number): WindowStats | undefined {
  const buckets = bucketsOf(sources, service, revision);
  const known = sources.some((list) => list.some((s) => s.service === service && s.revision === revision));
  return known ? statsOfBuckets(buckets, nowSecond, span) : undefined;
}

/** Revisions of a service that any source has figures for, sorted. */
export function mergedRevisions(sources: readonly (readonly WindowSeries[])[], service: string): string[] {
  const out = new Set<string>();
  for (const list of sources) for (const s of list) if (s.service === service) out.add(s.revision);
  return [...out].sort();
}

/**
 * Buckets a router on another machine stamped with its own clock, moved onto the reader's:
 * `sentAtMs` is the sender's clock when it sent them, `receivedAtMs` the receiver's when they
 * arrived, so a skew between the two machines does not move figures out of the window.
 */
export function shiftSeries(series: readonly WindowSeries[], sentAtMs: number, receivedAtMs: number): WindowSeries[] {
  const offset = Math.floor(receivedAtMs / 1000) - Math.floor(sentAtMs / 1000);
  if (offset === 0) return [...series];
  return series.map((s) => ({ ...s, buckets: s.buckets.map((b) => ({ ...b, second: b.second + offset })) }));
}
