// Cluster events, Kubernetes style: the same (object, reason, message) seen again within ten
// minutes bumps `count` and `lastSeen` on the existing event instead of adding one; each
// namespace keeps about 1,000 (oldest `lastSeen` dropped first; see COUNT_EVERY); every event hangs on a
// store lease so it expires about an hour after it was last written.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { STORE_PREFIX, type ClusterEvent } from '../api/cluster.js';
import { silentLogger } from '../common/index.js';
import type { Compare, KV, KeyValue, TxnOp } from '../store/index.js';
import { systemClock, type Clock } from './framework/index.js';

/** Repeats within this window coalesce into one event (Kubernetes' event correlator). */
export const EVENT_COALESCE_MS = 10 * 60 * 1000;
export const MAX_EVENTS_PER_NAMESPACE = 1000;
/** Events live about this long after their last write. */
export const EVENT_TTL_SECONDS = 3600;
// New writes go to one shared lease for this long, then to a fresh one: an event then
// expires between EVENT_TTL_SECONDS and EVENT_TTL_SECONDS + rotation after its last write.
const LEASE_ROTATE_MS = 5 * 60 * 1000;
// A namespace is counted in the store again after this many new events from this recorder, and
// whenever its estimate reaches the bound: with other recorders writing too, a namespace can go
// over the bound by what they add between two counts.
const COUNT_EVERY = 50;
const MAX_COUNTED_NAMESPACES = 10_000;

export interface EventInput {
  namespace: string;
  /** `Kind/name` of the object the event is about. */
  object: string;
  type?: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface EventRecorderOptions {
  kv: KV;
  /** Who reports: `ClusterEvent.source`, e.g. `workload-controller`. */
  source: string;
  clock?: Clock;
  logger?: Logger;
  /** Overrides for tests. */
  maxPerNamespace?: number;
  coalesceMs?: number;
}

const decoder = new TextDecoder();

function decode(kv: KeyValue): ClusterEvent | undefined {
  try {
    const v = JSON.parse(decoder.decode(kv.value)) as ClusterEvent;
    return typeof v === 'object' && v !== null && typeof v.reason === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `deployment.web.<hash of object, reason, message>.`: every event of one identity shares it. */
function identityPrefix(e: EventInput): string {
  const slug = e.object.toLowerCase().replace(/[^a-z0-9.-]+/g, '.');
  const h = createHash('sha256').update(`${e.object}\u0000${e.reason}\u0000${e.message}`).digest('hex').slice(0, 12);
  return `${slug}.${h}.`;
}

export class EventRecorder {
  private readonly kv: KV;
  private readonly source: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly max: number;
  private readonly coalesceMs: number;
  private lease: { id: number; since: number } | undefined;
  private leasePending: Promise<number> | undefined;
  /**
   * Per namespace: how many events the store held when last counted, plus the ones this
   * recorder added since. Counting a namespace walks all its keys, so it is done again only
   * when the estimate reaches the bound or after COUNT_EVERY additions (other recorders write
   * to the same namespace).
   */
  private readonly counts = new Map<string, { count: number; sinceCounted: number }>();

  constructor(options: EventRecorderOptions) {
    this.kv = options.kv;
    this.source = options.source;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'events' });
    this.max = options.maxPerNamespace ?? MAX_EVENTS_PER_NAMESPACE;
    this.coalesceMs = options.coalesceMs ?? EVENT_COALESCE_MS;
  }

  /**
   * Records an event. Never throws: an event that cannot be written is logged and dropped,
   * so reporting never fails the work it reports on.
   */
  async record(input: EventInput): Promise<void> {
    try {
      for (let attempt = 0; attempt < 5; attempt++) if (await this.tryRecord(input)) return;
      this.logger.warn({ object: input.object, reason: input.reason }, 'event dropped after repeated write conflicts');
    } catch (err) {
      this.logger.warn({ err, object: input.object, reason: input.reason }, 'event could not be written');
    }
  }

  private async tryRecord(input: EventInput): Promise<boolean> {
    const now = this.clock.now();
    const nowIso = new Date(now).toISOString();
    const nsPrefix = `${STORE_PREFIX.events}${input.namespace}/`;
    const idPrefix = `${nsPrefix}${identityPrefix(input)}`;
    const lease = await this.currentLease();

    // The latest event of the same identity, if it is recent enough to coalesce into.
    const same = await this.kv.range(idPrefix, { prefix: true });
    let latest: { kv: KeyValue; event: ClusterEvent } | undefined;
    for (const item of same.kvs) {
      const event = decode(item);
      if (event && (!latest || event.lastSeen > latest.event.lastSeen)) latest = { kv: item, event };
    }
    if (latest && now - Date.parse(latest.event.lastSeen) <= this.coalesceMs) {
      const event: ClusterEvent = { ...latest.event, count: latest.event.count + 1, lastSeen: nowIso };
      const r = await this.kv.txn({
        compare: [{ key: latest.kv.key, target: 'modRevision', op: '==', value: latest.kv.modRevision }],
        success: [{ type: 'put', key: latest.kv.key, value: JSON.stringify(event), lease }],
        failure: [],
      });
      return r.succeeded;
    }

    const event: ClusterEvent = {
      namespace: input.namespace,
      object: input.object,
      type: input.type ?? 'Normal',
      reason: input.reason,
      message: input.message,
      source: this.source,
      count: 1,
      firstSeen: nowIso,
      lastSeen: nowIso,
    };
    const key = `${idPrefix}${now.toString(36)}`;
    const compare: Compare[] = [{ key, target: 'createRevision', op: '==', value: 0 }];
    const ops: TxnOp[] = [];
    // Make room first, so the namespace never holds more than the bound.
    const count = await this.namespaceCount(input.namespace, nsPrefix);
    if (count >= this.max) {
      const all = await this.kv.range(nsPrefix, { prefix: true });
      const byAge = all.kvs
        .map((kv) => ({ kv, lastSeen: decode(kv)?.lastSeen ?? '' }))
        .sort((a, b) => (a.lastSeen < b.lastSeen ? -1 : a.lastSeen > b.lastSeen ? 1 : 0));
      // Drop a tenth more than needed, so a full namespace is not trimmed on every event.
      const drop = Math.min(byAge.length, count - this.max + 1 + Math.floor(this.max / 10));
      for (const { kv } of byAge.slice(0, drop)) {
        compare.push({ key: kv.key, target: 'modRevision', op: '==', value: kv.modRevision });
        ops.push({ type: 'delete', key: kv.key });
      }
    }
    ops.push({ type: 'put', key, value: JSON.stringify(event), lease });
    const r = await this.kv.txn({ compare, success: ops, failure: [] });
    const known = this.counts.get(input.namespace);
    if (!r.succeeded || ops.length > 1) this.counts.delete(input.namespace); // count again next time
    else if (known) {
      known.count++;
      known.sinceCounted++;
    }
    return r.succeeded;
  }

  /** The namespace's event count: from the store when the estimate is stale or near the bound. */
  private async namespaceCount(namespace: string, nsPrefix: string): Promise<number> {
    const known = this.counts.get(namespace);
    if (known && known.sinceCounted < COUNT_EVERY && known.count < this.max) return known.count;
    const count = (await this.kv.range(nsPrefix, { prefix: true, keysOnly: true, limit: 1 })).count;
    if (this.counts.size >= MAX_COUNTED_NAMESPACES && !this.counts.has(namespace)) this.counts.clear();
    this.counts.set(namespace, { count, sinceCounted: 0 });
    return count;
  }

  /** The shared lease for new writes: granted on first use, replaced every few minutes. */
  private async currentLease(): Promise<number> {
    const now = this.clock.now();
    if (this.lease && now - this.lease.since < LEASE_ROTATE_MS) return this.lease.id;
    this.leasePending ??= (async () => {
      try {
        const grant = await this.kv.grant(EVENT_TTL_SECONDS + LEASE_ROTATE_MS / 1000);
        this.lease = { id: grant.id, since: this.clock.now() };
        return grant.id;
      } finally {
        this.leasePending = undefined;
      }
    })();
    return this.leasePending;
  }

  /** The lease id new events are attached to, if one was granted (for tests and tools). */
  get leaseId(): number | undefined {
    return this.lease?.id;
  }
}
