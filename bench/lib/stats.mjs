// Small measurement helpers shared by the benchmarks: clocks, percentiles, worker pools.
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();

/** The p-th percentile (0..100) of a list of numbers, nearest-rank. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values) {
  return percentile(values, 50);
}

/** Runs `fn` once, returns milliseconds elapsed. */
export async function timed(fn) {
  const start = now();
  await fn();
  return now() - start;
}

/** Times `count` sequential calls of `fn(i)`; returns each call's latency in ms and the total. */
export async function sequential(count, fn) {
  const latencies = new Array(count);
  const start = now();
  for (let i = 0; i < count; i++) {
    const t = now();
    await fn(i);
    latencies[i] = now() - t;
  }
  return { latencies, totalMs: now() - start };
}

/**
 * `workers` concurrent loops share `count` calls of `fn(i)` (each i runs exactly once).
 * Returns every call's latency in ms and the wall time of the whole run.
 */
export async function concurrent(count, workers, fn) {
  const latencies = new Array(count);
  let next = 0;
  const start = now();
  const loop = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = now();
      await fn(i);
      latencies[i] = now() - t;
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  return { latencies, totalMs: now() - start };
}

/** Operations per second for `count` operations in `ms` milliseconds. */
export function rate(count, ms) {
  return (count * 1000) / ms;
}
