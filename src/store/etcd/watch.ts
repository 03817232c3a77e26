// One contract watch on its own etcd watch stream. We do not use etcd3's Watcher: on
// reconnect it resumes from the last response header's revision + 1, and during catch-up
// that header is the store's current revision, not the last event sent, so a drop mid
// catch-up would skip events. Here the resume point is the revision after the last batch
// handed to the consumer, so a reconnect has no gap, and replayed events are dropped, so it
// has no duplicates.

import type { IWatchRequest, IWatchResponse, IEvent } from 'etcd3';
import { CapstanError, type Logger } from '../../common/index.js';
import type { Watch, WatchBatch, WatchEvent, WatchOptions } from '../types.js';
import { headerRevision, num, type KeySpace } from './codec.js';
import { mapEtcdError, type ErrorScope } from './errors.js';

/** The part of grpc-js's duplex stream a watch uses. */
export interface WatchStream {
  write(request: IWatchRequest): unknown;
  on(event: 'data', listener: (response: IWatchResponse) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  cancel(): void;
}

export interface WatchDeps {
  openStream(): Promise<WatchStream>;
  keys: KeySpace;
  scope: ErrorScope;
  logger: Logger;
  /** Revision to start from when the caller gave none: just after the last one this client saw. */
  startRevision(): number;
  /** Reconnect backoff. */
  backoff: { initialMs: number; maxMs: number };
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  onClose(watch: EtcdWatch): void;
}

type State = 'connecting' | 'open' | 'waiting' | 'closed';

// Pause the stream when the consumer falls this far behind, resume when it catches up.
const HIGH_WATER = 1024;
const LOW_WATER = 256;

export class EtcdWatch implements Watch {
  private state: State = 'connecting';
  private stream: WatchStream | undefined;
  private paused = false;
  /** First revision not yet handed out; undefined until etcd tells us where "now" is. */
  private nextRevision: number | undefined;
  private readonly queue: WatchBatch[] = [];
  private failure: CapstanError | undefined;
  private waiter: { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: unknown) => void } | undefined;
  private timer: unknown;
  private delay: number;
  /**
   * The start came from the client's last seen revision, not from the caller: if another
   * client compacted past it meanwhile, start at the compaction point instead of failing a
   * watch that never asked for history.
   */
  private implicitStart = false;
  private readonly request: { key: Buffer; range_end?: Buffer };
  private readonly onAbort = (): void => this.close();

  constructor(
    private readonly key: string,
    private readonly options: WatchOptions,
    private readonly deps: WatchDeps,
  ) {
    this.request = deps.keys.range(key, options.prefix ?? false);
    this.delay = deps.backoff.initialMs;
    if (options.fromRevision !== undefined && options.fromRevision > 0) {
      this.nextRevision = options.fromRevision;
    } else {
      const start = deps.startRevision();
      if (start > 0) {
        this.nextRevision = start;
        this.implicitStart = true;
      }
    }
    if (options.signal?.aborted) {
      this.state = 'closed';
      return;
    }
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.connect();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  close(): void {
    if (this.state === 'closed') return;
    this.shutdown();
    // Closing means "stop": batches not yet taken are dropped.
    this.queue.length = 0;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ done: true, value: undefined });
  }

  private next(): Promise<IteratorResult<WatchBatch>> {
    const batch = this.queue.shift();
    if (batch) {
      if (this.paused && this.queue.length <= LOW_WATER) {
        this.paused = false;
        this.stream?.resume();
      }
      return Promise.resolve({ done: false, value: batch });
    }
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.state === 'closed') return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private async connect(): Promise<void> {
    let stream: WatchStream;
    try {
      stream = await this.deps.openStream();
    } catch (err) {
      this.retryOrFail(err);
      return;
    }
    if (this.state === 'closed') {
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.state = 'open';
    stream.on('data', (response) => this.onResponse(stream, response));
    stream.on('error', (err) => this.onBroken(stream, err));
    stream.on('end', () => this.onBroken(stream, new Error('the watch stream ended')));
    try {
      stream.write({
        create_request: {
          ...this.request,
          start_revision: this.nextRevision ?? 0,
          prev_kv: this.options.prevKv ?? false,
          progress_notify: true,
        },
      });
    } catch (err) {
      this.onBroken(stream, err);
    }
  }

  private onResponse(stream: WatchStream, response: IWatchResponse): void {
    if (stream !== this.stream || this.state === 'closed') return;
    if (response.canceled) {
      const compacted = num(response.compact_revision);
      if (compacted > 0 && this.implicitStart) {
        this.implicitStart = false;
        this.nextRevision = compacted;
        this.restart(stream);
        return;
      }
      if (compacted > 0) {
        this.fail(
          new CapstanError(
            'CAPSTAN_ERR_STORE_COMPACTED',
            `cannot watch ${JSON.stringify(this.key)} from revision ${this.nextRevision}: compacted up to ${compacted}`,
            { context: { key: this.key, fromRevision: this.nextRevision, compactRevision: compacted } },
          ),
        );
      } else {
        this.fail(mapEtcdError(new Error(response.cancel_reason || 'watch canceled by etcd'), 'watch', this.deps.scope));
      }
      return;
    }
    this.delay = this.deps.backoff.initialMs;
    const header = headerRevision(response.header);
    const events = response.events ?? [];
    if (events.length === 0) {
      // The creation reply says where "now" is; a progress notification says every event up
      // to its revision has been sent (etcd only sends it to watchers that caught up).
      if (response.created) {
        if (this.nextRevision === undefined) this.nextRevision = header + 1;
      } else if (this.nextRevision !== undefined) {
        this.nextRevision = Math.max(this.nextRevision, header + 1);
      }
      return;
    }
    if (response.created && this.nextRevision === undefined) this.nextRevision = header + 1;
    for (const batch of this.group(events)) {
      if (this.nextRevision !== undefined && batch.revision < this.nextRevision) continue;
      this.implicitStart = false;
      this.nextRevision = batch.revision + 1;
      this.deliver(batch);
    }
  }

  /** Consecutive events with the same revision form one batch: etcd never splits a revision. */
  private group(events: IEvent[]): WatchBatch[] {
    const batches: WatchBatch[] = [];
    for (const raw of events) {
      const event: WatchEvent = {
        type: raw.type === 'Delete' || (raw.type as unknown) === 1 ? 'delete' : 'put',
        kv: this.deps.keys.kv(raw.kv),
      };
      if (raw.prev_kv && this.options.prevKv) event.prevKv = this.deps.keys.kv(raw.prev_kv);
      const revision = event.kv.modRevision;
      const last = batches[batches.length - 1];
      if (last && last.revision === revision) last.events.push(event);
      else batches.push({ revision, events: [event] });
    }
    return batches;
  }

  private deliver(batch: WatchBatch): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve({ done: false, value: batch });
      return;
    }
    this.queue.push(batch);
    if (!this.paused && this.queue.length >= HIGH_WATER) {
      this.paused = true;
      this.stream?.pause();
    }
  }

  /** Drops the stream and opens a new one at once (nextRevision already set). */
  private restart(stream: WatchStream): void {
    this.stream = undefined;
    this.paused = false;
    stream.on('error', () => undefined);
    stream.cancel();
    this.state = 'connecting';
    void this.connect();
  }

  private onBroken(stream: WatchStream, err: unknown): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    this.paused = false;
    stream.on('error', () => undefined);
    stream.cancel();
    if (this.state === 'closed') return;
    this.retryOrFail(err);
  }

  private retryOrFail(err: unknown): void {
    if (this.state === 'closed') return;
    const mapped = mapEtcdError(err, 'watch', this.deps.scope);
    if (mapped.code !== 'CAPSTAN_ERR_STORE_UNAVAILABLE' && mapped.code !== 'CAPSTAN_ERR_INTERNAL_ERROR') {
      this.fail(mapped);
      return;
    }
    this.state = 'waiting';
    this.deps.logger.warn(
      { key: this.key, resumeFrom: this.nextRevision, retryInMs: this.delay, err: mapped.message },
      'etcd watch stream lost, reconnecting',
    );
    this.timer = this.deps.setTimer(() => {
      this.timer = undefined;
      if (this.state !== 'waiting') return;
      this.state = 'connecting';
      void this.connect();
    }, this.delay);
    this.delay = Math.min(this.delay * 2, this.deps.backoff.maxMs);
  }

  private fail(err: CapstanError): void {
    if (this.state === 'closed') return;
    this.shutdown();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter && this.queue.length === 0) waiter.reject(err);
    else this.failure = err;
  }

  private shutdown(): void {
    this.state = 'closed';
    if (this.timer !== undefined) this.deps.clearTimer(this.timer);
    this.timer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.on('error', () => undefined);
      stream.cancel();
    }
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.deps.onClose(this);
  }
}
