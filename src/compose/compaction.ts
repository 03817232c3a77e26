// Compaction of the store's history, two ways at once:
// - periodic, as the Kubernetes API server does with etcd: every interval, compact to the
//   revision that was current one interval ago;
// - by revision count, as etcd's --auto-compaction-mode=revision: every few seconds, when
//   more than `retainRevisions` revisions (plus a tenth, so it does not compact on every
//   check) lie after the compaction point, compact so that the newest `retainRevisions` stay.
// Watchers that fell further behind get a "compacted" error and list again; history never
// grows unbounded, however fast the revisions come.

import { isCapstanError, systemClock, type Clock, type Logger } from '../common/index.js';
import type { KV } from '../store/types.js';

export interface CompactorOptions {
  kv: KV;
  logger: Logger;
  /** Default 5 minutes (the Kubernetes API server's default --etcd-compaction-interval). */
  intervalMs?: number;
  /** Revisions of history kept by the revision-count check (default 5,000; 0 turns it off). */
  retainRevisions?: number;
  /** How often the revision-count check runs (default 5 s). */
  checkMs?: number;
  clock?: Clock;
}

export const DEFAULT_RETAIN_REVISIONS = 5_000;

/** The revision to compact to so that `retain` revisions stay, or undefined when not yet worth it. */
export function retentionTarget(current: number, compacted: number, retain: number): number | undefined {
  if (retain <= 0) return undefined;
  const target = current - retain;
  const slack = Math.max(1, Math.floor(retain / 10));
  return target > 1 && target >= compacted + slack ? target : undefined;
}

export function startCompactor(options: CompactorOptions): { stop(): void } {
  const clock = options.clock ?? systemClock;
  const interval = options.intervalMs ?? 5 * 60_000;
  const retain = options.retainRevisions ?? DEFAULT_RETAIN_REVISIONS;
  const checkMs = options.checkMs ?? 5000;
  let previous: number | undefined;
  /** The newest revision this compactor compacted to (or found already compacted). */
  let compacted = 0;
  let timer: unknown;
  let checkTimer: unknown;
  let stopped = false;
  let busy = false;

  const compactTo = async (revision: number, why: string): Promise<void> => {
    if (revision <= compacted) return;
    try {
      await options.kv.compact(revision);
      options.logger.debug({ revision, why }, 'store history compacted');
    } catch (err) {
      // Someone else (the other check, another member, an operator) compacted further already.
      if (!isCapstanError(err, 'CAPSTAN_ERR_STORE_COMPACTED')) throw err;
    }
    compacted = Math.max(compacted, revision);
  };

  /** Runs one compaction at a time; the two checks never overlap. */
  const exclusive = async (work: () => Promise<void>): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      await work();
    } catch (err) {
      options.logger.warn({ err }, 'store compaction failed; will try again');
    } finally {
      busy = false;
    }
  };

  const tick = async (): Promise<void> => {
    await exclusive(async () => {
      const current = await options.kv.revision();
      if (previous !== undefined && previous > 1) await compactTo(previous, 'interval');
      previous = current;
    });
    if (!stopped) timer = clock.setTimeout(() => void tick(), interval);
  };

  const check = async (): Promise<void> => {
    await exclusive(async () => {
      const target = retentionTarget(await options.kv.revision(), compacted, retain);
      if (target !== undefined) await compactTo(target, 'revisions');
    });
    if (!stopped) checkTimer = clock.setTimeout(() => void check(), checkMs);
  };

  timer = clock.setTimeout(() => void tick(), interval);
  if (retain > 0) checkTimer = clock.setTimeout(() => void check(), checkMs);
  return {
    stop: () => {
      stopped = true;
      clock.clearTimeout(timer);
      clock.clearTimeout(checkTimer);
    },
  };
}
