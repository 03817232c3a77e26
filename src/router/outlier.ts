// Passive ejection of backends whose connections fail (Envoy's outlier detection, reduced to
// connect failures): a backend that refused, reset or did not answer a connect is skipped for
// `baseMs`, twice as long on each further failure in a row, at most `maxMs`. A connect that
// succeeds clears its record. Pure: the clock is injected.

export interface EjectionOptions {
  /** First ejection (default 10 s). */
  baseMs?: number;
  /** Longest ejection (default 120 s). */
  maxMs?: number;
  /** Milliseconds, any origin (default `Date.now`). */
  now?: () => number;
}

interface EjectionRecord {
  failures: number;
  until: number;
}

export class Ejections {
  private readonly records = new Map<string, EjectionRecord>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;

  constructor(options: EjectionOptions = {}) {
    this.baseMs = options.baseMs ?? 10_000;
    this.maxMs = Math.max(this.baseMs, options.maxMs ?? 120_000);
    this.now = options.now ?? Date.now;
  }

  /** A connect to `id` failed: ejected from now on, for longer the more failures in a row. */
  failed(id: string): number {
    const r = this.records.get(id) ?? { failures: 0, until: 0 };
    r.failures++;
    const ms = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(r.failures - 1, 30));
    r.until = this.now() + ms;
    this.records.set(id, r);
    return ms;
  }

  /** A connect to `id` succeeded: its failures are forgotten. */
  succeeded(id: string): void {
    if (this.records.size !== 0) this.records.delete(id);
  }

  /** Whether `id` is ejected now. */
  ejected(id: string): boolean {
    if (this.records.size === 0) return false;
    const r = this.records.get(id);
    return r !== undefined && r.until > this.now();
  }

  /** Backends ejected now and until when (ms on the injected clock), for status and tests. */
  list(): Record<string, number> {
    const out: Record<string, number> = {};
    const now = this.now();
    for (const [id, r] of this.records) if (r.until > now) out[id] = r.until;
    return out;
  }

  /** Forgets backends not in `live` (they left every table). */
  retain(live: ReadonlySet<string>): void {
    for (const id of [...this.records.keys()]) if (!live.has(id)) this.records.delete(id);
  }
}
