// The Services the agent knows, for its pods' Service environment variables: listed, then
// watched from the list's revision (resumed after the last event; listed again after 410
// Gone), as the pod watch does. A server that refuses the list (403/404: one older than
// agents reading Services) leaves the cache empty but ready, so pods still start.
import type { Logger } from '../common/index.js';
import type { DnsService } from '../dns/index.js';
import { statusOf, type AgentApiClient, type ApiEvent } from './api-client.js';
import { serviceFromView } from './service-env.js';

export interface ServiceCacheOptions {
  api: Pick<AgentApiClient, 'call' | 'watch'>;
  logger: Logger;
  /** Waits `ms`, or less when `signal` aborts. */
  delay: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The wait after `failures` failures in a row. */
  backoffMs: (failures: number) => number;
  /** Called once, when the first list has been read (or refused). */
  onReady?: () => void;
  /** Called after each list and each batch of watch events (the node's DNS answers from the cache). */
  onChange?: () => void;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export class ServiceCache {
  private readonly services = new Map<string, DnsService>();
  private revision: number | undefined;
  private isReady = false;

  constructor(private readonly options: ServiceCacheOptions) {}

  /** True once the Services have been read at least once (or the server refused them). */
  get ready(): boolean {
    return this.isReady;
  }

  /** Every known Service, of every namespace. */
  snapshot(): DnsService[] {
    return [...this.services.values()];
  }

  /** Lists and watches until `signal` aborts; never throws. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.options.logger;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.revision === undefined) await this.list(signal);
        failures = 0;
        await this.options.api.watch<unknown>('/api/v1/services?watch=1', this.revision, signal, (events) => this.apply(events));
        if (signal.aborted) return;
      } catch (err) {
        if (signal.aborted) return;
        const status = statusOf(err);
        if (status === 410) {
          this.revision = undefined;
          continue;
        }
        failures++;
        if (status === 403 || status === 404) {
          if (!this.isReady) log.warn({ err }, 'the API server does not let this agent read Services; pods start without Service environment variables');
          this.markReady();
        } else {
          log.warn({ err, failures }, 'service watch failed; retrying');
        }
      }
      await this.options.delay(this.options.backoffMs(failures), signal);
    }
  }

  private async list(signal: AbortSignal): Promise<void> {
    const body = await this.options.api.call<{ items: unknown[]; resourceVersion: number }>('GET', '/api/v1/services', undefined, signal);
    this.services.clear();
    for (const item of body.items) {
      const svc = serviceFromView(item);
      if (svc !== undefined) this.services.set(key(svc.namespace, svc.name), svc);
    }
    this.revision = body.resourceVersion;
    this.options.onChange?.();
    this.markReady();
  }

  private apply(events: ApiEvent<unknown>[]): void {
    for (const e of events) {
      const svc = serviceFromView(e.object);
      if (svc !== undefined) {
        if (e.type === 'DELETED') this.services.delete(key(svc.namespace, svc.name));
        else this.services.set(key(svc.namespace, svc.name), svc);
      }
      this.revision = e.revision;
    }
    this.options.onChange?.();
  }

  private markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    this.options.onReady?.();
  }
}
