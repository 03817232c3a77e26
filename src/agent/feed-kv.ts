// The store as a node's Service router reads it, over the API's router feed: `range` and
// `watch` of the three prefixes the Router follows (Services, pods, traffic policies), so the
// unchanged Router runs in the agent. Everything else, writes above all, throws: the agent
// never writes the store. Pods it passes on also fill a `PodDnsNames` table when given one
// (their hostnames and subdomains, for the node's DNS).
import { STORE_PREFIX } from '../api/cluster.js';
import { CapstanError } from '../common/index.js';
import type { DeleteResult, KV, KeyValue, LeaseGrant, PutResult, RangeOptions, RangeResult, TxnResult, Watch, WatchBatch, WatchOptions } from '../store/types.js';
import type { AgentApiClient, ApiEvent } from './api-client.js';
import type { PodDnsNames } from './pod-dns-names.js';

/** One feed item as the API sends it (src/server/router-feed.ts). */
interface FeedItem {
  key: string;
  value: unknown;
}

const FEEDS: Record<string, string> = {
  [`${STORE_PREFIX.desired}Service/`]: 'services',
  [STORE_PREFIX.pods]: 'pods',
  [STORE_PREFIX.traffic]: 'traffic',
};

const encoder = new TextEncoder();

function feedOf(key: string, prefix: boolean | undefined): string {
  const feed = FEEDS[key];
  if (feed === undefined || prefix === false) {
    throw new CapstanError('CAPSTAN_ERR_STORE_INVALID_KEY', `the agent's router feed serves only the prefixes ${Object.keys(FEEDS).join(', ')}, not ${key}`);
  }
  return feed;
}

function keyValue(prefix: string, item: FeedItem, revision: number): KeyValue {
  const value = item.value === null || item.value === undefined ? new Uint8Array() : encoder.encode(JSON.stringify(item.value));
  return { key: prefix + item.key, value, createRevision: revision, modRevision: revision, version: 1, lease: 0 };
}

function readOnly(what: string): never {
  throw new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `the agent's router feed is read-only: ${what} is not possible here`);
}

type ReadApi = Pick<AgentApiClient, 'call' | 'watch'>;

/** A KV whose `range` and `watch` read the API's router feed; every other call throws. */
export class FeedKV implements KV {
  /** `podNames`: filled from every list and watch event of the pods feed. */
  constructor(
    private readonly api: ReadApi,
    private readonly podNames?: PodDnsNames,
  ) {}

  async range(key: string, options: RangeOptions = {}): Promise<RangeResult> {
    const feed = feedOf(key, options.prefix);
    if (options.revision) readOnly('a read at an older revision');
    const body = await this.api.call<{ items: FeedItem[]; resourceVersion: number }>('GET', `/api/v1/routerfeed/${feed}`);
    if (feed === 'pods') this.podNames?.reset(body.items);
    const kvs = body.items.map((item) => keyValue(key, item, body.resourceVersion));
    const limited = options.limit !== undefined && options.limit > 0 ? kvs.slice(0, options.limit) : kvs;
    return { kvs: limited, count: kvs.length, more: limited.length < kvs.length, revision: body.resourceVersion };
  }

  /**
   * Streams the feed from `fromRevision` (inclusive). Ends when closed or aborted, or when the
   * server ends the stream; throws what the stream failed with (a 410 when the resume point
   * was compacted: the Router lists again).
   */
  watch(key: string, options: WatchOptions = {}): Watch {
    const feed = feedOf(key, options.prefix);
    const abort = new AbortController();
    const outer = options.signal;
    const onOuter = (): void => abort.abort();
    if (outer?.aborted) abort.abort();
    else outer?.addEventListener('abort', onOuter, { once: true });
    const queue: WatchBatch[] = [];
    let ended = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    abort.signal.addEventListener('abort', () => wake?.(), { once: true });
    const after = options.fromRevision === undefined ? undefined : options.fromRevision - 1;
    const toBatch = (events: ApiEvent<FeedItem>[]): WatchBatch => ({
      revision: events[0]!.revision,
      events: events.map((e) => ({ type: e.type === 'DELETED' ? 'delete' : 'put', kv: keyValue(key, e.object, e.revision) })),
    });
    void this.api
      .watch<FeedItem>(`/api/v1/routerfeed/${feed}?watch=1`, after, abort.signal, (events) => {
        if (feed === 'pods') for (const e of events) this.podNames?.put(e.object.key, e.type === 'DELETED' ? null : e.object.value);
        if (events.length > 0) queue.push(toBatch(events));
        wake?.();
      })
      .catch((err: unknown) => {
        failure = err;
      })
      .finally(() => {
        ended = true;
        outer?.removeEventListener('abort', onOuter);
        wake?.();
      });
    return {
      close: () => abort.abort(),
      [Symbol.asyncIterator]: async function* () {
        try {
          for (;;) {
            while (queue.length > 0) yield queue.shift()!;
            if (ended || abort.signal.aborted) {
              if (failure !== undefined && !abort.signal.aborted) throw failure;
              return;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        } finally {
          abort.abort();
        }
      },
    };
  }

  get(): Promise<KeyValue | undefined> {
    return Promise.reject(new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', "the agent's router feed serves range and watch of its prefixes only"));
  }

  async put(): Promise<PutResult> {
    return readOnly('put');
  }

  async delete(): Promise<DeleteResult> {
    return readOnly('delete');
  }

  async txn(): Promise<TxnResult> {
    return readOnly('a transaction');
  }

  async compact(): Promise<void> {
    return readOnly('compaction');
  }

  async grant(): Promise<LeaseGrant> {
    return readOnly('a lease grant');
  }

  async keepAlive(): Promise<LeaseGrant> {
    return readOnly('a lease keep-alive');
  }

  async revoke(): Promise<void> {
    return readOnly('a lease revoke');
  }

  async revision(): Promise<number> {
    return (await this.range(`${STORE_PREFIX.desired}Service/`, { prefix: true, limit: 1 })).revision;
  }

  async close(): Promise<void> {
    // Nothing of its own to close: watches end with their signals.
  }
}
