// Cluster events (`capstan get events`): one key per object and reason, so a repeated event
// bumps its count and lastSeen instead of adding a key each time (as Kubernetes' event
// aggregation). Written with a compare on the key's version, so concurrent writers add up.
import { STORE_PREFIX, type ClusterEvent } from '../../api/cluster.js';
import type { KV } from '../../store/index.js';

export interface EventInput {
  namespace: string;
  /** `Kind/name` of the object the event is about. */
  object: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  source: string;
}

/** The store key of an object's event for one reason. */
export function eventKey(namespace: string, object: string, reason: string): string {
  const id = `${object.replace(/\//g, '.')}.${reason}`.toLowerCase();
  return `${STORE_PREFIX.events}${namespace}/${id}`;
}

export async function recordEvent(kv: KV, input: EventInput, now: number): Promise<void> {
  const key = eventKey(input.namespace, input.object, input.reason);
  const at = new Date(now).toISOString();
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await kv.get(key);
    let previous: ClusterEvent | undefined;
    if (current) {
      try {
        previous = JSON.parse(Buffer.from(current.value).toString('utf8')) as ClusterEvent;
      } catch {
        previous = undefined;
      }
    }
    const event: ClusterEvent = {
      ...input,
      count: (previous?.count ?? 0) + 1,
      firstSeen: previous?.firstSeen ?? at,
      lastSeen: at,
    };
    const r = await kv.txn({
      compare: [{ key, target: 'version', op: '==', value: current?.version ?? 0 }],
      success: [{ type: 'put', key, value: JSON.stringify(event) }],
      failure: [],
    });
    if (r.succeeded) return;
  }
}
