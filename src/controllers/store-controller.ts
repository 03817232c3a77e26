// The shape most controllers of a kind share: watch some store prefixes, map each change to
// work-queue keys, reconcile with an event recorder, two workers. One place to build it.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { silentLogger } from '../common/index.js';
import type { KV, KeyValue } from '../store/index.js';
import { EventRecorder } from './events.js';
import { Controller, systemClock, watchSource, type Clock, type Reconciler } from './framework/index.js';

/** What a caller may give any store-watching controller. */
export interface StoreControllerOptions {
  kv: KV;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  resyncMs?: number;
  events?: EventRecorder;
}

type KeysOf = (item: KeyValue) => string | string[] | undefined;

export interface StoreControllerSpec {
  /** The event recorder's source name when the caller gives none (`job-controller`). */
  eventSource: string;
  /** Each watched prefix, with its key mapping (default `keysOf`). */
  prefixes: (string | [string, KeysOf])[];
  keysOf?: KeysOf;
  reconciler: (deps: { kv: KV; clock: Clock; events: EventRecorder }) => Reconciler;
  /** Concurrent reconciles (default 2). */
  workers?: number;
}

/** A controller over store prefixes, not started. */
export function storeController(options: StoreControllerOptions, spec: StoreControllerSpec): Controller {
  const { kv } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const events = options.events ?? new EventRecorder({ kv, source: spec.eventSource, clock, logger });
  const resync = options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {};
  const sources = spec.prefixes.map((p) => {
    const [prefix, keysOf] = typeof p === 'string' ? [p, spec.keysOf] : p;
    return watchSource({ kv, prefix, ...(keysOf ? { keysOf } : {}), clock, logger, ...resync });
  });
  return new Controller({
    reconciler: spec.reconciler({ kv, clock, events }),
    sources,
    clock,
    logger,
    ...(options.registry ? { registry: options.registry } : {}),
    workers: spec.workers ?? 2,
  });
}
