// The notify controller's own records under /capstan/notify/: which deliveries are done (so an
// occurrence is delivered once, also across restarts and leader changes), and the last status
// seen per workload (to tell steps and promotions).
import { createHash } from 'node:crypto';
import { STORE_PREFIX } from '../api/cluster.js';
import type { Notification } from '../api/index.js';
import type { KV, KeyValue } from '../store/index.js';
import type { AppliedNotification } from './select.js';
import type { SeenStatus } from './triggers.js';

export const NOTIFY_PREFIX = '/capstan/notify/';
export const DELIVERED_PREFIX = `${NOTIFY_PREFIX}delivered/`;
export const SEEN_PREFIX = `${NOTIFY_PREFIX}seen/`;
/** Delivered records outlive the events they are about (an hour) several times over. */
export const DELIVERED_TTL_SECONDS = 6 * 3600;

export type SinkOutcome = { state: 'sent' | 'failed'; at: string; attempts: number };

export interface DeliveredRecord {
  occurrence: string;
  trigger: string;
  /** By sink index in the Notification's spec.sinks. */
  sinks: Record<string, SinkOutcome>;
}

const decoder = new TextDecoder();

function decode<T>(item: KeyValue | undefined): T | undefined {
  if (!item) return undefined;
  try {
    return JSON.parse(decoder.decode(item.value)) as T;
  } catch {
    return undefined;
  }
}

export function deliveredKey(namespace: string, notification: string, occurrenceId: string): string {
  const h = createHash('sha256').update(occurrenceId).digest('hex').slice(0, 32);
  return `${DELIVERED_PREFIX}${namespace}/${notification}/${h}`;
}

export const seenKey = (kind: string, namespace: string, name: string): string => `${SEEN_PREFIX}${kind}/${namespace}/${name}`;

export class NotifyRecords {
  private lease: { id: number; since: number } | undefined;

  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
  ) {}

  async delivered(key: string): Promise<DeliveredRecord | undefined> {
    return decode<DeliveredRecord>(await this.kv.get(key));
  }

  /** Records one sink's outcome (read-modify-write, guarded). */
  async markSink(key: string, base: Omit<DeliveredRecord, 'sinks'>, index: number, outcome: SinkOutcome): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const item = await this.kv.get(key);
      const cur = decode<DeliveredRecord>(item) ?? { ...base, sinks: {} };
      const next: DeliveredRecord = { ...cur, sinks: { ...cur.sinks, [String(index)]: outcome } };
      const r = await this.kv.txn({
        compare: [{ key, target: 'modRevision', op: '==', value: item?.modRevision ?? 0 }],
        success: [{ type: 'put', key, value: JSON.stringify(next), lease: await this.currentLease() }],
        failure: [],
      });
      if (r.succeeded) return;
    }
    throw new Error('delivered record kept changing');
  }

  async seen(key: string): Promise<SeenStatus | undefined> {
    return decode<SeenStatus>(await this.kv.get(key));
  }

  async setSeen(key: string, s: SeenStatus): Promise<void> {
    await this.kv.put(key, JSON.stringify(s));
  }

  /** One shared lease, replaced every half hour: records expire 6 to 6.5 hours after their last write. */
  private async currentLease(): Promise<number> {
    const now = this.now();
    if (this.lease && now - this.lease.since < 30 * 60 * 1000) return this.lease.id;
    const grant = await this.kv.grant(DELIVERED_TTL_SECONDS + 30 * 60);
    this.lease = { id: grant.id, since: now };
    return grant.id;
  }
}

export { decode as decodeRecord };

/** Every Notification the sync loop stored, with when it was applied; malformed records left out. */
export async function appliedNotifications(kv: KV): Promise<AppliedNotification[]> {
  const r = await kv.range(`${STORE_PREFIX.desired}Notification/`, { prefix: true });
  const out: AppliedNotification[] = [];
  for (const item of r.kvs) {
    const rec = decode<{ object?: Notification; appliedAt?: string }>(item);
    const n = rec?.object;
    if (n?.kind === 'Notification' && Array.isArray(n.spec?.triggers) && Array.isArray(n.spec.sinks)) out.push({ notification: n, appliedAt: rec?.appliedAt ?? new Date(0).toISOString() });
  }
  return out;
}
