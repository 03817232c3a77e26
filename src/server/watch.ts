// Watches as Server-Sent Events, with Kubernetes' semantics: `resourceVersion=N` (or the
// Last-Event-ID a reconnecting EventSource sends) streams every change after N; without it
// the stream opens with an ADDED event per existing object. Each event carries the store
// revision as its id, so a client resumes without gaps. A compacted N is 410 Gone.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isCapstanError } from '../common/index.js';
import type { KV, WatchEvent } from '../store/index.js';
import { apiError } from './http.js';
import type { ApiEvent, Resource } from './resources.js';

export interface WatchRequest {
  kv: KV;
  resource: Resource;
  /** Resume point: events after this revision; undefined → list first. */
  after: number | undefined;
  /** Keep an item (namespace filter, agent's own pods). */
  keep: (item: unknown) => boolean;
  heartbeatMs: number;
  logger: Logger;
  /** Aborted when the server shuts down. */
  signal: AbortSignal;
}

/** The resume point from Last-Event-ID or `resourceVersion`; 400 when not a revision. */
export function resumePoint(req: IncomingMessage, query: URLSearchParams): number | undefined {
  const raw = (req.headers['last-event-id'] as string | undefined) ?? query.get('resourceVersion') ?? undefined;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `resourceVersion must be a revision number, not ${JSON.stringify(raw)}`);
  const n = Number(raw);
  return n === 0 ? undefined : n; // 0 means "from now", as Kubernetes' "any"
}

/** Throws CAPSTAN_ERR_API_GONE when `after` is older than the store keeps. */
export async function checkNotCompacted(kv: KV, resource: Resource, after: number): Promise<void> {
  if (after >= (await kv.revision())) return; // a future revision just waits
  try {
    await kv.range(resource.watchPrefix, { prefix: true, revision: after, limit: 1, keysOnly: true });
  } catch (err) {
    if (isCapstanError(err, 'CAPSTAN_ERR_STORE_COMPACTED')) {
      throw apiError('CAPSTAN_ERR_API_GONE', `resourceVersion ${after} is too old (compacted); list again and watch from its resourceVersion`, {
        resourceVersion: after,
      });
    }
    throw err;
  }
}

function frame(e: ApiEvent, revision: number): string {
  return `event: ${e.type}\nid: ${revision}\ndata: ${JSON.stringify(e.object)}\n\n`;
}

/**
 * Decoded events and their frames, shared by every watcher of a pure resource: the store hands
 * each watcher the same event objects, so ten agents watching pods decode and encode each pod
 * change once instead of ten times. Entries go with the store's events.
 */
const shared = new WeakMap<Resource, WeakMap<WatchEvent, { event: ApiEvent | undefined; frame?: string }>>();

async function eventFor(w: WatchRequest, e: WatchEvent, revision: number): Promise<{ event: ApiEvent | undefined; frame?: string }> {
  if (!w.resource.pure) return { event: await w.resource.event(w.kv, e, revision) };
  let memo = shared.get(w.resource);
  if (!memo) shared.set(w.resource, (memo = new WeakMap()));
  let hit = memo.get(e);
  if (!hit) memo.set(e, (hit = { event: await w.resource.event(w.kv, e, revision) }));
  return hit;
}

/** Streams until the client goes away, the server stops or the store watch fails. */
export async function streamWatch(req: IncomingMessage, res: ServerResponse, w: WatchRequest): Promise<void> {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  req.once('close', stop);
  res.once('close', stop);
  w.signal.addEventListener('abort', stop, { once: true });

  let after = w.after;
  let initial = '';
  if (after === undefined) {
    after = await w.kv.revision();
    for (const object of await w.resource.list(w.kv, after, undefined)) {
      if (w.keep(object)) initial += frame({ type: 'ADDED', object }, after);
    }
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'close', // a stream's connection is not reused: it closes with the stream
    'x-accel-buffering': 'no', // proxies must not buffer the stream
  });
  res.write(`: watching ${w.resource.name} after revision ${after}\n\n${initial}`);

  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), w.heartbeatMs);
  heartbeat.unref();
  const watch = w.kv.watch(w.resource.watchPrefix, { prefix: true, prevKv: true, fromRevision: after + 1, signal: abort.signal });
  try {
    for await (const batch of watch) {
      let out = '';
      for (const e of batch.events) {
        const hit = await eventFor(w, e, batch.revision);
        if (hit.event && w.keep(hit.event.object)) out += hit.frame ??= frame(hit.event, batch.revision);
      }
      if (out === '') continue;
      // One write per revision, so a client never sees half a revision.
      if (!res.write(out)) await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          abort.signal.removeEventListener('abort', done);
          resolve();
        };
        res.once('drain', done);
        abort.signal.addEventListener('abort', done, { once: true });
      });
      if (abort.signal.aborted) break;
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      const gone = isCapstanError(err, 'CAPSTAN_ERR_STORE_COMPACTED');
      const code = gone ? 'CAPSTAN_ERR_API_GONE' : isCapstanError(err) ? err.code : 'CAPSTAN_ERR_INTERNAL_ERROR';
      const message = gone ? 'the watch fell behind compaction; list again' : isCapstanError(err) ? err.message : 'the watch failed; resume from the last event id';
      w.logger.warn({ err, resource: w.resource.name }, 'watch stream ended with an error');
      res.write(`event: ERROR\ndata: ${JSON.stringify({ error: { code, message, status: gone ? 410 : 500 } })}\n\n`);
    }
  } finally {
    clearInterval(heartbeat);
    watch.close();
    req.off('close', stop);
    w.signal.removeEventListener('abort', stop);
    res.end();
  }
}
