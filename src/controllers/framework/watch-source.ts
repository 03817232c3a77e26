// A controller source over a store prefix: list everything (a full resync), then watch from
// the listed revision, and list again every `resyncMs`. Only keys reach the queue, never the
// events themselves (level-based). When the watch fails (compacted, overflow, store down)
// the source lists again after a pause and watches from the new revision.
import { sleep } from '../../common/clock.js';
import type { Logger } from 'pino';
import { silentLogger } from '../../common/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { systemClock, type Clock } from './clock.js';
import type { Source } from './controller.js';

export interface WatchSourceOptions {
  kv: KV;
  prefix: string;
  /**
   * The controller keys a stored object maps to (e.g. a pod → its owning deployment).
   * Called with the current value on puts and the previous value on deletes (the value is
   * empty when the store no longer has it). Absent: the store key with the prefix removed.
   */
  keysOf?: (kv: KeyValue) => string | string[] | undefined;
  /** List everything again this often (default 10 min; 0 disables). */
  resyncMs?: number;
  /** Pause before re-listing after a failed watch (default 1 s). */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
}


export function watchSource(options: WatchSourceOptions): Source {
  const { kv, prefix } = options;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger()).child({ component: 'watch-source', prefix });
  const resyncMs = options.resyncMs ?? 10 * 60 * 1000;
  const retryMs = options.retryMs ?? 1000;
  const keysOf = options.keysOf ?? ((item: KeyValue) => item.key.slice(prefix.length));

  function emit(item: KeyValue, enqueue: (key: string) => void): void {
    const keys = keysOf(item);
    if (keys === undefined) return;
    for (const k of Array.isArray(keys) ? keys : [keys]) if (k !== '') enqueue(k);
  }

  async function list(enqueue: (key: string) => void): Promise<number> {
    const r = await kv.range(prefix, { prefix: true });
    for (const item of r.kvs) emit(item, enqueue);
    return r.revision;
  }

  return {
    async run(enqueue, signal) {
      let resyncHandle: unknown;
      const scheduleResync = (): void => {
        if (resyncMs <= 0 || signal.aborted) return;
        resyncHandle = clock.setTimeout(() => {
          void list(enqueue)
            .catch((err: unknown) => logger.warn({ err }, 'periodic resync failed'))
            .finally(scheduleResync);
        }, resyncMs);
      };
      signal.addEventListener('abort', () => clock.clearTimeout(resyncHandle), { once: true });
      let first = true;
      while (!signal.aborted) {
        try {
          const revision = await list(enqueue);
          if (first) {
            first = false;
            scheduleResync();
          }
          const watch = kv.watch(prefix, { prefix: true, prevKv: true, fromRevision: revision + 1, signal });
          for await (const batch of watch) {
            for (const e of batch.events) {
              if (e.type === 'put') emit(e.kv, enqueue);
              // A put can move an object to another key (e.g. a new owner): the old one too.
              if (e.prevKv) emit(e.prevKv, enqueue);
              else if (e.type === 'delete') emit(e.kv, enqueue);
            }
          }
        } catch (err) {
          if (signal.aborted) break;
          logger.warn({ err, retryInMs: retryMs }, 'watch failed; listing again');
        }
        // Also after a watch that simply ended (store closing): never spin.
        await sleep(clock, retryMs, signal);
      }
    },
  };
}
