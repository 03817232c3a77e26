// Periodic compaction of the store's history, as the Kubernetes API server does with etcd:
// every interval, compact to the revision that was current one interval ago. Watchers that
// fell further behind get a "compacted" error and list again; history never grows unbounded.

import { systemClock, type Clock, type Logger } from '../common/index.js';
import type { KV } from '../store/types.js';

export interface CompactorOptions {
  kv: KV;
  logger: Logger;
  /** Default 5 minutes (the Kubernetes API server's default --etcd-compaction-interval). */
  intervalMs?: number;
  clock?: Clock;
}

export function startCompactor(options: CompactorOptions): { stop(): void } {
  const clock = options.clock ?? systemClock;
  const interval = options.intervalMs ?? 5 * 60_000;
  let previous: number | undefined;
  let timer: unknown;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      const current = await options.kv.revision();
      if (previous !== undefined && previous > 1) {
        await options.kv.compact(previous);
        options.logger.debug({ revision: previous }, 'store history compacted');
      }
      previous = current;
    } catch (err) {
      options.logger.warn({ err }, 'store compaction failed; will try again');
    } finally {
      if (!stopped) timer = clock.setTimeout(() => void tick(), interval);
    }
  };
  timer = clock.setTimeout(() => void tick(), interval);
  return {
    stop: () => {
      stopped = true;
      clock.clearTimeout(timer);
    },
  };
}
