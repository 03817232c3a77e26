// What the router's primary process and its worker processes tell each other (worker.ts,
// workers.ts), and the two pure pieces both sides need: a routing table made portable (its
// compiled routes travel as the policy they were compiled from) and the worker's figures kept
// as deltas until the next report.
import type { TrafficPolicy } from '../api/cluster.js';
import { LATENCY_BUCKETS, type MetricsSink, type Observation, type Recorder, type RevisionDelta, type WindowBucket } from './metrics.js';
import { compileMirrors, compileRoutes, type PortTable } from './table.js';

/** A port table without its compiled routes; `policy` holds the routes it was built with. */
export interface PortableTable {
  table: Omit<PortTable, 'routes' | 'mirrors'>;
  policy: Pick<TrafficPolicy, 'headerRoutes' | 'mirrorRoutes'>;
}

/** Listener settings a worker needs for one listener (the socket stays with the primary). */
export interface WorkerListenerSpec {
  /** The listener's key in the primary (one per bound address). */
  id: string;
  /** The picker it uses: `<namespace>/<name>:<port>`, shared by the Service port, its node ports and LoadBalancer addresses. */
  picker: string;
  service: string;
  timeoutMs?: number;
  retries?: number;
}

/** Primary → worker. A connection message carries the socket as its handle. */
export type ToWorker =
  | { type: 'table'; key: string; portable: PortableTable }
  | { type: 'drop-table'; key: string }
  | { type: 'listener'; spec: WorkerListenerSpec }
  | { type: 'connection'; id: string }
  | { type: 'close'; id: string; graceMs: number; seq: number }
  | { type: 'retain'; live: string[] }
  | { type: 'report'; seq: number }
  | { type: 'stop'; graceMs: number; seq: number };

/** Worker → primary. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'figures'; sentAtMs: number; deltas: RevisionDelta[]; inFlight: Record<string, number>; seq?: number }
  | { type: 'closed'; seq: number }
  | { type: 'stopped'; seq: number };

export function portable(table: PortTable, policy: TrafficPolicy | undefined): PortableTable {
  const { routes, mirrors, ...rest } = table;
  void routes;
  void mirrors;
  return { table: rest, policy: { headerRoutes: policy?.headerRoutes, mirrorRoutes: policy?.mirrorRoutes } };
}

/** The table again, its routes compiled in this process (the same compilers the primary used). */
export function fromPortable(p: PortableTable): PortTable {
  const policy = { weights: {}, ...p.policy } as TrafficPolicy;
  return { ...p.table, routes: compileRoutes(policy), mirrors: compileMirrors(policy) };
}

interface SecondCounts {
  second: number;
  requests: number;
  errors: number;
  latency: number[];
}

function bucketIndex(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) return i;
  return LATENCY_BUCKETS.length;
}

/** One revision's figures since the last report; allocates only on a new second or status code. */
class DeltaRecorder implements Recorder {
  private codes = new Map<number, number>();
  private errors = 0;
  private seconds: SecondCounts[] = [];
  private current: SecondCounts | undefined;

  constructor(
    private readonly now: () => number,
    readonly service: string,
    readonly revision: string,
  ) {}

  record(seconds: number, error: boolean, code: number): void {
    const second = Math.floor(this.now() / 1000);
    let c = this.current;
    if (c === undefined || c.second !== second) {
      c = { second, requests: 0, errors: 0, latency: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0) };
      this.seconds.push(c);
      this.current = c;
    }
    c.requests++;
    c.latency[bucketIndex(seconds)]++;
    if (error) {
      c.errors++;
      this.errors++;
    }
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }

  /** What was recorded since the last call, or undefined when nothing was. */
  take(): RevisionDelta | undefined {
    if (this.seconds.length === 0) return undefined;
    const buckets: WindowBucket[] = this.seconds;
    const delta: RevisionDelta = { service: this.service, revision: this.revision, codes: [...this.codes], errors: this.errors, buckets };
    this.codes = new Map();
    this.errors = 0;
    this.seconds = [];
    this.current = undefined;
    return delta;
  }
}

/** A worker's metrics: every request counted locally, sent to the primary as deltas. */
export class DeltaMetrics implements MetricsSink {
  private readonly recorders = new Map<string, DeltaRecorder>();

  constructor(private readonly now: () => number = Date.now) {}

  recorder(service: string, revision: string): Recorder {
    const key = `${service}\u0000${revision}`;
    let r = this.recorders.get(key);
    if (r === undefined) {
      r = new DeltaRecorder(this.now, service, revision);
      this.recorders.set(key, r);
    }
    return r;
  }

  observe(o: Observation): void {
    this.recorder(o.service, o.revision).record(o.seconds, o.error, o.code);
  }

  /** Every revision's figures since the last call. */
  take(): RevisionDelta[] {
    const out: RevisionDelta[] = [];
    for (const r of this.recorders.values()) {
      const d = r.take();
      if (d !== undefined) out.push(d);
    }
    return out;
  }
}
