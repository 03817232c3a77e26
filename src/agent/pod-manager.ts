// The node agent's core: `sync(pods)` hands over the desired pods for this node; one
// PodWorker per pod converges it and reports status through `onStatus`. On the first sync,
// containers a previous agent instance left running are adopted (or stopped when no pod
// wants them).

import { silentLogger, type Logger } from '../common/index.js';
import type { Pod, PodStatus } from '../api/cluster.js';
import { systemClock, type AgentClock } from './clock.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { EnvSourceRef } from './env.js';
import { PodWorker } from './pod-worker.js';
import type { ContainerHandle, RuntimeDriver } from './runtime.js';

export interface PodManagerOptions {
  driver: RuntimeDriver;
  /** This node's name: pods bound to another node are ignored. */
  node: string;
  onStatus: (pod: Pod, status: PodStatus) => void;
  /** Called once a pod's containers are all stopped and removed. */
  onRemoved?: (pod: Pod) => void;
  /** ConfigMap and Secret data for env references, by namespace. Defaults to "nothing exists". */
  envLookup?: (namespace: string, ref: EnvSourceRef) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  /** The Service variables of a pod's containers, read as each one starts (see service-env.ts); none when absent. */
  serviceEnv?: (pod: Pod) => Record<string, string>;
  clock?: AgentClock;
  logger?: Logger;
  /** Where probes reach container ports. */
  probeHost?: string;
  /** Reported as `status.hostIP`. */
  hostIP?: string;
  backoff?: BackoffOptions;
  /** How often each pod is looked at when nothing is due sooner. */
  resyncMs?: number;
  /** Grace period for containers found at start-up that no pod wants. */
  orphanGraceMs?: number;
  /** Run privileged containers (`--allow-privileged`); by default they are refused with CreateContainerConfigError. */
  allowPrivileged?: boolean;
  /** Where pod volumes are made (the agent's data dir); without one, volumes are not mounted. */
  dataDir?: string;
  /** How often configMap, secret and downwardAPI volumes are written again from their sources (default 10 s). */
  volumeSyncMs?: number;
}

export class PodManager {
  private readonly workers = new Map<string, PodWorker>();
  private readonly clock: AgentClock;
  private readonly logger: Logger;
  private adopted: Map<string, ContainerHandle[]> | undefined;
  private readonly background = new Set<Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: PodManagerOptions) {
    this.clock = options.clock ?? systemClock();
    this.logger = (options.logger ?? silentLogger()).child({ component: 'agent', node: options.node });
  }

  /**
   * Converge on `pods`: start what is missing, stop and remove pods that are gone or have
   * `deletionRequestedAt`. Resolves once every worker has been kicked (see `idle()`).
   */
  async sync(pods: Pod[]): Promise<void> {
    if (this.closed) return;
    if (this.adopted === undefined) await this.adopt(pods);
    const wanted = new Set<string>();
    for (const pod of pods) {
      if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== this.options.node) continue;
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      wanted.add(key);
      const existing = this.workers.get(key);
      if (existing !== undefined) {
        existing.update(pod);
        continue;
      }
      const adopted = this.adopted?.get(key) ?? [];
      this.adopted?.delete(key);
      if (pod.metadata.deletionRequestedAt !== undefined && adopted.length === 0) continue;
      const worker = new PodWorker(pod, this.workerDeps(), adopted);
      this.workers.set(key, worker);
      worker.update(pod);
    }
    for (const [key, worker] of this.workers) if (!wanted.has(key)) worker.requestDeletion();
    // Anything adopted that no pod wants is stopped.
    if (this.adopted !== undefined && this.adopted.size > 0) {
      const orphans = [...this.adopted.values()].flat();
      this.adopted.clear();
      this.track(this.removeOrphans(orphans));
    }
  }

  /** Runs a pass of every pod now (e.g. the runtime answers again). */
  kickAll(): void {
    for (const w of this.workers.values()) w.kick();
  }

  /**
   * Removes containers labelled for this node that no worker knows, e.g. one a create call
   * made before the daemon went away and never answered for. A container is only taken for
   * unknown when two listings agree with the workers idle in between, so one being created
   * right now is never removed. Returns how many went.
   */
  async sweep(): Promise<number> {
    if (this.closed || this.adopted === undefined) return 0;
    const unknown = async (): Promise<ContainerHandle[]> => {
      const found = await this.options.driver.list();
      const workers = [...this.workers.values()];
      return found.filter((h) => !workers.some((w) => w.owns(h.id)));
    };
    const first = await unknown();
    if (first.length === 0) return 0;
    await this.idle();
    const suspects = new Set(first.map((h) => h.id));
    const orphans = (await unknown()).filter((h) => suspects.has(h.id));
    if (orphans.length === 0 || this.closed) return 0;
    this.logger.warn({ containers: orphans.map((h) => h.id) }, 'removing containers no pod owns');
    await this.removeOrphans(orphans);
    return orphans.length;
  }

  /** The last status reported for a pod. */
  status(namespace: string, name: string): PodStatus | undefined {
    return this.workers.get(`${namespace}/${name}`)?.status;
  }

  /** The worker of a pod, for logs and exec (undefined when this node runs no such pod). */
  worker(namespace: string, name: string): Pick<PodWorker, 'containerNames' | 'containerHandles'> | undefined {
    return this.workers.get(`${namespace}/${name}`);
  }

  /** Pods with a worker (running, starting or terminating). */
  podKeys(): string[] {
    return [...this.workers.keys()];
  }

  /** Resolves when no worker pass and no background removal is running. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.workers.values()].filter((w) => w.busy).map((w) => w.idle());
      pending.push(...this.background);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /**
   * Stop all timers. With `stopContainers`, every pod is terminated first (preStop, grace);
   * without, containers keep running for the next agent instance to adopt.
   */
  async close(options: { stopContainers?: boolean } = {}): Promise<void> {
    if (options.stopContainers) {
      for (const w of this.workers.values()) w.requestDeletion();
      await this.idle();
    }
    this.closed = true;
    for (const w of this.workers.values()) w.detach();
    await this.idle();
    this.workers.clear();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private workerDeps(): ConstructorParameters<typeof PodWorker>[1] {
    return {
      driver: this.options.driver,
      clock: this.clock,
      logger: this.logger,
      probeHost: this.options.probeHost ?? '127.0.0.1',
      hostIP: this.options.hostIP,
      backoff: this.options.backoff ?? DEFAULT_BACKOFF,
      resyncMs: this.options.resyncMs ?? 1000,
      envLookup: this.options.envLookup ?? (() => undefined),
      ...(this.options.serviceEnv !== undefined ? { serviceEnv: this.options.serviceEnv } : {}),
      allowPrivileged: this.options.allowPrivileged === true,
      ...(this.options.dataDir !== undefined ? { dataDir: this.options.dataDir } : {}),
      ...(this.options.volumeSyncMs !== undefined ? { volumeSyncMs: this.options.volumeSyncMs } : {}),
      onStatus: this.options.onStatus,
      onRemoved: (pod) => {
        const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
        this.workers.delete(key);
        this.options.onRemoved?.(pod);
      },
    };
  }

  private async adopt(pods: Pod[]): Promise<void> {
    this.adopted = new Map();
    this.unsubscribe = this.options.driver.onExit?.((id) => {
      for (const w of this.workers.values()) if (w.owns(id)) w.kick();
    });
    let found: ContainerHandle[];
    try {
      found = await this.options.driver.list();
    } catch (err) {
      this.logger.error({ err }, 'could not list containers to adopt');
      return;
    }
    for (const handle of found) {
      const key = `${handle.ref.namespace}/${handle.ref.pod}`;
      const list = this.adopted.get(key) ?? [];
      list.push(handle);
      this.adopted.set(key, list);
    }
    if (found.length > 0) this.logger.info({ containers: found.length, pods: pods.length }, 'found containers from a previous run');
  }

  private async removeOrphans(handles: ContainerHandle[]): Promise<void> {
    await Promise.all(
      handles.map(async (h) => {
        try {
          this.logger.info({ id: h.id, pod: `${h.ref.namespace}/${h.ref.pod}` }, 'stopping a container no pod wants');
          await this.options.driver.stop(h, this.options.orphanGraceMs ?? 30_000);
          await this.options.driver.remove(h);
        } catch (err) {
          this.logger.warn({ err, id: h.id }, 'could not remove an orphaned container');
        }
      }),
    );
  }

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }
}
