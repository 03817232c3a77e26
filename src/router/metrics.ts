// Per service and revision: requests, errors (5xx and connection failures) and latency, on
// an injected prom-client registry for /metrics, and in an in-memory sliding window that
// canary analysis reads directly (no Prometheus needed).
import { Counter, Histogram, type Registry } from 'prom-client';

/** Latency bucket upper bounds in seconds, shared by the Prometheus histogram and the window. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3,
  5, 10, 30, 60,
];

export interface WindowStats {
  requests: number;
  errors: number;
  /** 1 - errors/requests; NaN when there were no requests (analysis applies its no-data policy). */
  successRate: number;
  /**
   * Latency percentiles in milliseconds (the upper bound of the bucket the rank falls in, as
   * Prometheus' histogram_quantile would bound it); NaN when there were no requests.
   */
  p50: number;
  p90: number;
  p99: number;
}

interface Bucket {
  /** The whole second this bucket holds; a stale bucket is reset on reuse. */
  second: number;
  requests: number;
  errors: number;
  /** Counts per LATENCY_BUCKETS entry, plus one overflow slot. */
  latency: Uint32Array;
}

/** A ring of one-second buckets. */
class SlidingWindow {
  private readonly buckets: Bucket[];

  constructor(private readonly seconds: number) {
    this.buckets = Array.from({ length: seconds }, () => ({ second: -1, requests: 0, errors: 0, latency: new Uint32Array(LATENCY_BUCKETS.length + 1) }));
  }

  record(second: number, seconds: number, error: boolean): void {
    const b = this.buckets[second % this.seconds];
    if (b.second !== second) {
      b.second = second;
      b.requests = 0;
      b.errors = 0;
      b.latency.fill(0);
    }
    b.requests++;
    if (error) b.errors++;
    b.latency[bucketIndex(seconds)]++;
  }

  stats(nowSecond: number, span: number): WindowStats {
    return statsOfBuckets(this.buckets, nowSecond, Math.min(span, this.seconds));
  }

  /** The buckets of the last `seconds` that saw a request, oldest first (copies). */
  /** Adds counts recorded elsewhere (a worker process) into the bucket of `second`. */
  add(second: number, requests: number, errors: number, latency: ArrayLike<number>): void {
    const b = this.buckets[second % this.seconds];
    if (b.second !== second) {
      b.second = second;
      b.requests = 0;
      b.errors = 0;
      b.latency.fill(0);
    }
    b.requests += requests;
    b.errors += errors;
    for (let i = 0; i < b.latency.length && i < latency.length; i++) b.latency[i] += latency[i];
  }

  export(nowSecond: number): WindowBucket[] {
    const from = nowSecond - this.seconds + 1;
    return this.buckets
      .filter((b) => b.second >= from && b.second <= nowSecond && b.requests > 0)
      .sort((a, b) => a.second - b.second)
      .map((b) => ({ second: b.second, requests: b.requests, errors: b.errors, latency: [...b.latency] }));
  }
}

/** One second of one revision's window, as it travels between processes. */
export interface WindowBucket {
  second: number;
  requests: number;
  errors: number;
  /** Counts per LATENCY_BUCKETS entry, plus one overflow slot. */
  latency: ArrayLike<number>;
}

/** One revision's window: its non-empty one-second buckets. */
export interface WindowSeries {
  /** `<namespace>/<name>` */
  service: string;
  revision: string;
  buckets: WindowBucket[];
}

/**
 * The figures of the buckets whose second is in the last `span` seconds up to `nowSecond`.
 * Buckets of the same second may repeat (several nodes): counts add, so the merged
 * percentiles are exact to the bucket.
 */
export function statsOfBuckets(buckets: Iterable<WindowBucket>, nowSecond: number, span: number): WindowStats {
  const from = nowSecond - span + 1;
  let requests = 0;
  let errors = 0;
  const latency = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  for (const b of buckets) {
    if (b.second < from || b.second > nowSecond) continue;
    requests += b.requests;
    errors += b.errors;
    for (let i = 0; i < latency.length && i < b.latency.length; i++) latency[i] += b.latency[i];
  }
  return {
    requests,
    errors,
    successRate: requests === 0 ? NaN : 1 - errors / requests,
    p50: quantile(latency, requests, 0.5),
    p90: quantile(latency, requests, 0.9),
    p99: quantile(latency, requests, 0.99),
  };
}

function bucketIndex(seconds: number): number {
  // Few buckets: a linear scan is as fast as a binary search here.
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) return i;
  return LATENCY_BUCKETS.length;
}

function quantile(counts: number[], total: number, q: number): number {
  if (total === 0) return NaN;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] * 1000 : Infinity;
  }
  return Infinity;
}

export interface RouterMetricsOptions {
  registry: Registry;
  /** Milliseconds since the epoch; injected so tests can move time. */
  now?: () => number;
  /** How much history the window keeps (default 60 s, in 1 s buckets). */
  windowSeconds?: number;
}

/** What one proxied request or connection recorded. */
export interface Observation {
  /** `<namespace>/<name>` */
  service: string;
  revision: string;
  seconds: number;
  error: boolean;
  /** HTTP status, or 0 for a connection failure / TCP connection. */
  code: number;
}

type Labels = 'service' | 'revision';

/** What a listener records one request or connection into. */
export interface Recorder {
  /** `code` is the HTTP status, or 0 (connection failure / TCP). */
  record(seconds: number, error: boolean, code: number): void;
}

/** Where a listener's figures go: the router's metrics, or a worker's deltas (worker-link.ts). */
export interface MetricsSink {
  recorder(service: string, revision: string): Recorder;
  observe(o: Observation): void;
}

/**
 * What one revision recorded in a worker process since its last report: requests per status
 * code, errors, and its window buckets (per second, with the latency histogram).
 */
export interface RevisionDelta {
  service: string;
  revision: string;
  /** [status code, requests] pairs. */
  codes: [number, number][];
  errors: number;
  buckets: WindowBucket[];
}

/**
 * Everything one service and revision records into, looked up once and then held by the
 * listener, so a request does no label lookup: prom-client's labelled children, the window,
 * and the requests counter per status code.
 */
export class RevisionRecorder implements Recorder {
  private readonly byCode = new Map<number, Counter.Internal>();
  /** The last status code's counter: nearly every request repeats it. */
  private lastCode = -1;
  private lastCounter: Counter.Internal | undefined;
  private readonly errors: Counter.Internal;
  private readonly latency: Histogram.Internal<Labels>;
  /** @internal */
  readonly window: SlidingWindow;

  constructor(
    private readonly m: SharedMetrics,
    private readonly now: () => number,
    windowSeconds: number,
    readonly service: string,
    readonly revision: string,
  ) {
    this.errors = m.errors.labels(service, revision);
    this.latency = m.latency.labels(service, revision);
    this.window = new SlidingWindow(windowSeconds);
  }

  /** One proxied request or connection: `code` is the HTTP status, or 0 (connection failure / TCP). */
  record(seconds: number, error: boolean, code: number): void {
    let counter = this.lastCounter;
    if (code !== this.lastCode || counter === undefined) {
      counter = this.byCode.get(code);
      if (counter === undefined) {
        counter = this.m.requests.labels(this.service, this.revision, String(code));
        this.byCode.set(code, counter);
      }
      this.lastCode = code;
      this.lastCounter = counter;
    }
    counter.inc();
    if (error) this.errors.inc();
    this.latency.observe(seconds);
    this.window.record(Math.floor(this.now() / 1000), seconds, error);
  }

  /**
   * Figures a worker process recorded, moved `offsetSeconds` onto this clock. Counters and
   * the window are exact; the Prometheus histogram gets each request at its bucket's upper
   * bound (bucket counts exact, `_sum` an upper bound).
   */
  absorb(delta: RevisionDelta, offsetSeconds: number): void {
    for (const [code, n] of delta.codes) {
      let counter = this.byCode.get(code);
      if (counter === undefined) {
        counter = this.m.requests.labels(this.service, this.revision, String(code));
        this.byCode.set(code, counter);
      }
      counter.inc(n);
    }
    if (delta.errors > 0) this.errors.inc(delta.errors);
    for (const b of delta.buckets) {
      this.window.add(b.second + offsetSeconds, b.requests, b.errors, b.latency);
      for (let i = 0; i < b.latency.length; i++) {
        const at = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1] * 2;
        for (let n = 0; n < b.latency[i]; n++) this.latency.observe(at);
      }
    }
  }
}

interface SharedMetrics {
  requests: Counter<Labels | 'code'>;
  errors: Counter<Labels>;
  latency: Histogram<Labels>;
}

const shared = new WeakMap<Registry, SharedMetrics>();

function metricsOn(registry: Registry): SharedMetrics {
  const hit = shared.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m = {
    requests: new Counter({
      name: 'capstan_router_requests_total',
      help: 'Requests (HTTP) or connections (TCP) the router proxied, by service, revision and status code (0: connection failure or TCP).',
      labelNames: ['service', 'revision', 'code'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'capstan_router_request_errors_total',
      help: 'Proxied requests that ended in a 5xx status or a backend connection failure.',
      labelNames: ['service', 'revision'] as const,
      registers,
    }),
    latency: new Histogram({
      name: 'capstan_router_request_duration_seconds',
      help: 'Time from the request arriving until the response was fully sent.',
      labelNames: ['service', 'revision'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
  shared.set(registry, m);
  return m;
}

export class RouterMetrics implements MetricsSink {
  private readonly now: () => number;
  private readonly windowSeconds: number;
  private readonly series = new Map<string, RevisionRecorder>();
  private readonly m: SharedMetrics;

  constructor(options: RouterMetricsOptions) {
    this.now = options.now ?? Date.now;
    this.windowSeconds = options.windowSeconds ?? 60;
    this.m = metricsOn(options.registry);
  }

  /** The recorder of one service and revision; hold it rather than look it up per request. */
  recorder(service: string, revision: string): RevisionRecorder {
    const key = `${service}\u0000${revision}`;
    let r = this.series.get(key);
    if (r === undefined) {
      r = new RevisionRecorder(this.m, this.now, this.windowSeconds, service, revision);
      this.series.set(key, r);
    }
    return r;
  }

  observe(o: Observation): void {
    this.recorder(o.service, o.revision).record(o.seconds, o.error, o.code);
  }

  /** A worker's report: `sentAtMs` is the worker's clock when it sent it. */
  absorb(deltas: readonly RevisionDelta[], sentAtMs: number): void {
    const offset = Math.floor(this.now() / 1000) - Math.floor(sentAtMs / 1000);
    for (const d of deltas) this.recorder(d.service, d.revision).absorb(d, offset);
  }

  /** Requests, errors, success rate and latency percentiles over the last `seconds` (at most the window). */
  windowStats(service: string, revision: string, seconds: number): WindowStats {
    return this.windowStatsIfAny(service, revision, seconds) ?? { requests: 0, errors: 0, successRate: NaN, p50: NaN, p90: NaN, p99: NaN };
  }

  /** As windowStats, but undefined when the revision never served a request (no data at all). */
  windowStatsIfAny(service: string, revision: string, seconds: number): WindowStats | undefined {
    const s = this.series.get(`${service}\u0000${revision}`);
    return s?.window.stats(Math.floor(this.now() / 1000), seconds);
  }

  /** Every revision's window buckets that saw a request in the last `windowSeconds` (to send elsewhere). */
  exportWindows(): WindowSeries[] {
    const nowSecond = Math.floor(this.now() / 1000);
    const out: WindowSeries[] = [];
    for (const r of this.series.values()) {
      const buckets = r.window.export(nowSecond);
      if (buckets.length > 0) out.push({ service: r.service, revision: r.revision, buckets });
    }
    return out;
  }

  /** The window's length in seconds. */
  get seconds(): number {
    return this.windowSeconds;
  }

  /** Revisions with any observation for a service. */
  revisionsOf(service: string): string[] {
    const out: string[] = [];
    const prefix = `${service}\u0000`;
    for (const key of this.series.keys()) if (key.startsWith(prefix)) out.push(key.slice(prefix.length));
    return out.sort();
  }
}
