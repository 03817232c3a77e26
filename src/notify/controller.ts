// The notify controller: watches workload events, workload status records and the sync state
// per source, turns them into occurrences (triggers.ts), finds the Notifications that want each
// one (select.ts), renders the message and delivers it to each sink once (records.ts). A failed
// delivery is retried with the work queue's per-key backoff, jittered (backoff.ts), up to a
// bound; its final failure is a Warning event NotificationFailed on the Notification, a success
// a Normal NotificationSent. Credentials never reach a log line, an event or an error.
import { STORE_PREFIX, type ClusterEvent, type HistoryEntry, type WorkloadStatus } from '../api/cluster.js';
import { CapstanError, isCapstanError, silentLogger } from '../common/index.js';
import { Controller, EventRecorder, systemClock, watchSource, type ReconcileContext, type Reconciler, type StoreControllerOptions } from '../controllers/index.js';
import type { KeyValue } from '../store/index.js';
import { DEFAULT_DELIVERY_RETRY, JitteredBackoff, type DeliveryRetryOptions } from './backoff.js';
import { NotifyRecords, appliedNotifications, decodeRecord, deliveredKey, seenKey } from './records.js';
import { scrub, sinkCredentials, sinkType, type SinkCredentials } from './secrets.js';
import { notificationWants, occurrenceFields, type AppliedNotification } from './select.js';
import { sendToSink, sinkApplies, type FetchLike, type SendResult } from './sinks.js';
import { renderMessage, type RenderedMessage } from './template.js';
import { WORKLOAD_KINDS, occurrenceFromEvent, occurrenceFromSync, occurrencesFromStatus, seenOf, triggerOfEvent, type Occurrence, type SyncStateView } from './triggers.js';

export const NOTIFY_CONTROLLER = 'notify';
export const REASON_SENT = 'NotificationSent';
export const REASON_FAILED = 'NotificationFailed';

export interface NotifyControllerOptions extends StoreControllerOptions {
  /** Injected for tests; default the global fetch. */
  fetch?: FetchLike;
  retry?: DeliveryRetryOptions;
  /** Per delivery attempt (default 10 s). */
  timeoutMs?: number;
}

interface DesiredView {
  object?: { metadata?: { labels?: Record<string, string> } };
  commit?: string;
  appliedAt?: string;
}

const eventKeyOf = (item: KeyValue): string | undefined => {
  if (item.value.length === 0) return undefined; // deleted: nothing to tell
  const e = decodeRecord<ClusterEvent>(item);
  return e && typeof e.object === 'string' && triggerOfEvent(e) ? `event/${item.key.slice(STORE_PREFIX.events.length)}` : undefined;
};

const statusKeyOf = (item: KeyValue): string | undefined => {
  const rest = item.key.slice(STORE_PREFIX.status.length);
  return WORKLOAD_KINDS.includes(rest.split('/')[0] ?? '') && item.value.length > 0 ? `status/${rest}` : undefined;
};

/** The notify controller, not started. Keys: `event/<ns>/<id>`, `status/<Kind>/<ns>/<name>`, `sync/<source>`. */
export function notifyController(options: NotifyControllerOptions): Controller {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: 'notify-controller', clock, logger });
  const resync = options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {};
  const retry = options.retry ?? {};
  const maxAttempts = Math.max(1, retry.maxAttempts ?? DEFAULT_DELIVERY_RETRY.maxAttempts);
  const records = new NotifyRecords(kv, () => clock.now());
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));

  /** The workload's labels, and the commit of the occurrence's revision (history, else Git's record). */
  async function enrich(o: Occurrence): Promise<{ occurrence: Occurrence; labels: Record<string, string> }> {
    if (o.kind === 'Source' || o.namespace === undefined) return { occurrence: o, labels: {} };
    const desired = decodeRecord<DesiredView>(await kv.get(`${STORE_PREFIX.desired}${o.kind}/${o.namespace}/${o.name}`));
    const labels = { ...(desired?.object?.metadata?.labels ?? {}) };
    if (o.commit) return { occurrence: o, labels };
    let commit: string | undefined;
    if (o.revision !== undefined) {
      const h = decodeRecord<HistoryEntry>(await kv.get(`${STORE_PREFIX.history}${o.namespace}/${o.name}/${String(o.revision).padStart(8, '0')}`));
      commit = h?.commit;
    }
    commit ??= desired?.commit;
    return { occurrence: commit ? { ...o, commit } : o, labels };
  }

  async function deliver(n: AppliedNotification, o: Occurrence, labels: Record<string, string>, ctx: ReconcileContext): Promise<number> {
    const meta = n.notification.metadata;
    const namespace = meta.namespace ?? 'default';
    const key = deliveredKey(namespace, meta.name, o.id);
    const done = (await records.delivered(key))?.sinks ?? {};
    const attempt = ctx.failures + 1;
    const object = `Notification/${meta.name}`;
    const about = `${o.trigger} of ${o.kind}/${o.namespace && o.kind !== 'Source' ? `${o.namespace}/` : ''}${o.name}`;
    let pending = 0;
    let message: RenderedMessage | undefined;
    for (const [i, sink] of n.notification.spec.sinks.entries()) {
      const type = sinkType(sink);
      if (!type || !sinkApplies(type, o) || done[String(i)]) continue;
      let creds: SinkCredentials = {};
      let result: SendResult;
      try {
        creds = await sinkCredentials(kv, namespace, sink);
        message ??= await renderMessage(n.notification.spec.template, { ...occurrenceFields(o, labels), notification: meta.name });
        result = await sendToSink(sink, creds, { notification: { namespace, name: meta.name }, occurrence: o, message, deliveryId: key.slice(key.lastIndexOf('/') + 1) }, { fetch: doFetch, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
      } catch (err) {
        if (!isCapstanError(err)) throw err;
        result = { ok: false, detail: `${err.message} [${err.code}]`, permanent: true };
      }
      const secrets = [creds.url, creds.token, creds.hmacKey];
      const log = { notification: `${namespace}/${meta.name}`, sink: type, trigger: o.trigger, attempt };
      const base = { occurrence: o.id, trigger: o.trigger };
      if (result.ok) {
        await records.markSink(key, base, i, { state: 'sent', at: new Date(clock.now()).toISOString(), attempts: attempt });
        ctx.logger.info(log, 'notification sent');
        await events.record({ namespace, object, type: 'Normal', reason: REASON_SENT, message: `${about} sent to ${type} (spec.sinks[${i}])` });
        continue;
      }
      const detail = scrub(result.detail, secrets);
      if (!result.permanent && attempt < maxAttempts) {
        pending++;
        ctx.logger.warn({ ...log, ...(result.status !== undefined ? { status: result.status } : {}), detail }, 'notification not delivered; retrying');
        continue;
      }
      await records.markSink(key, base, i, { state: 'failed', at: new Date(clock.now()).toISOString(), attempts: attempt });
      ctx.logger.warn({ ...log, ...(result.status !== undefined ? { status: result.status } : {}), detail }, 'notification not delivered');
      await events.record({
        namespace,
        object,
        type: 'Warning',
        reason: REASON_FAILED,
        message: `${type} sink (spec.sinks[${i}]): ${about} not delivered after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${detail}`,
      });
    }
    return pending;
  }

  async function occurrencesOf(key: string): Promise<{ occurrences: Occurrence[]; after?: () => Promise<void> }> {
    const slash = key.indexOf('/');
    const type = key.slice(0, slash);
    const rest = key.slice(slash + 1);
    if (type === 'event') {
      const e = decodeRecord<ClusterEvent>(await kv.get(`${STORE_PREFIX.events}${rest}`));
      const o = e ? occurrenceFromEvent(rest, e) : undefined;
      return { occurrences: o ? [o] : [] };
    }
    if (type === 'sync') {
      const s = decodeRecord<SyncStateView>(await kv.get(`${STORE_PREFIX.sync}${rest}`));
      const o = s && typeof s.phase === 'string' ? occurrenceFromSync({ ...s, errors: Array.isArray(s.errors) ? s.errors : [] }) : undefined;
      return { occurrences: o ? [o] : [] };
    }
    if (type === 'status') {
      const st = decodeRecord<WorkloadStatus>(await kv.get(`${STORE_PREFIX.status}${rest}`));
      if (!st || typeof st.revision !== 'number') return { occurrences: [] };
      const sk = seenKey(st.kind, st.namespace, st.name);
      const prev = await records.seen(sk);
      const next = seenOf(st);
      const changed = !prev || prev.revision !== next.revision || prev.phase !== next.phase || prev.step !== next.step;
      return { occurrences: occurrencesFromStatus(prev, st), ...(changed ? { after: () => records.setSeen(sk, next) } : {}) };
    }
    return { occurrences: [] };
  }

  const reconciler: Reconciler = {
    name: NOTIFY_CONTROLLER,
    async reconcile(key, ctx) {
      const { occurrences, after } = await occurrencesOf(key);
      let pending = 0;
      if (occurrences.length > 0) {
        const all = await appliedNotifications(kv);
        for (const raw of occurrences) {
          if (!all.some((n) => n.notification.spec.triggers.includes(raw.trigger))) continue;
          const { occurrence, labels } = await enrich(raw);
          for (const n of all) if (notificationWants(n, occurrence, labels)) pending += await deliver(n, occurrence, labels, ctx);
        }
      }
      if (pending > 0) throw new CapstanError('CAPSTAN_ERR_NOTIFY_DELIVERY', `${pending} notification deliveries failed; retrying`);
      await after?.();
    },
  };

  return new Controller({
    reconciler,
    sources: [
      watchSource({ kv, prefix: STORE_PREFIX.events, keysOf: eventKeyOf, clock, logger, ...resync }),
      watchSource({ kv, prefix: STORE_PREFIX.status, keysOf: statusKeyOf, clock, logger, ...resync }),
      watchSource({ kv, prefix: STORE_PREFIX.sync, keysOf: (item) => (item.value.length > 0 ? `sync/${item.key.slice(STORE_PREFIX.sync.length)}` : undefined), clock, logger, ...resync }),
    ],
    clock,
    logger,
    ...(options.registry ? { registry: options.registry } : {}),
    workers: 2,
    rateLimiter: () => new JitteredBackoff(retry),
  });
}
