// Replay protection: delivery ids seen recently, in a bounded map that forgets the oldest
// first and anything older than the expiry. The clock is injected.

export interface DeliveryCacheOptions {
  /** Most ids remembered (default 10,000). */
  maxEntries?: number;
  /** How long an id is remembered, in ms (default 24 h). */
  ttlMs?: number;
  now?: () => number;
}

export class DeliveryCache {
  private readonly seen = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: DeliveryCacheOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.ttlMs = options.ttlMs ?? 24 * 3600 * 1000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.seen.size;
  }

  /** True (and remembered) the first time an id is offered within the expiry; false for a replay. */
  firstSeen(id: string): boolean {
    const t = this.now();
    this.expire(t);
    const at = this.seen.get(id);
    if (at !== undefined && t - at < this.ttlMs) return false;
    this.seen.delete(id);
    this.seen.set(id, t);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
    return true;
  }

  /** Forget an id again (its delivery was not handled, so a retry should be). */
  forget(id: string): void {
    this.seen.delete(id);
  }

  private expire(t: number): void {
    // Insertion order is time order: stop at the first id still fresh.
    for (const [id, at] of this.seen) {
      if (t - at < this.ttlMs) break;
      this.seen.delete(id);
    }
  }
}
