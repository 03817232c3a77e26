// Leader election through a store lease, so controllers run on one instance only.
// Acquire: grant a lease, then create the election key only if it is absent (txn on
// createRevision == 0) with the lease attached. Lead: keepAlive every renewMs and check the
// key still carries our lease. Lose: keepAlive fails (lease expired) or, while the store is
// unreachable, a whole TTL passes without a renewal. Followers retry every retryMs and win
// once the old lease has expired and the store has deleted the key.
import { sleep } from '../../common/clock.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../../api/cluster.js';
import { isCapstanError, silentLogger } from '../../common/index.js';
import type { KV } from '../../store/index.js';
import { systemClock, type Clock } from './clock.js';
import { controllerMetrics } from './metrics.js';

export const CONTROLLER_LEASE_KEY = `${STORE_PREFIX.leases}controllers`;

export interface LeaderElectorOptions {
  kv: KV;
  /** Who this instance is (host name and pid, say); stored in the election key. */
  identity: string;
  key?: string;
  /**
   * Lease TTL (default 15 s): how long a dead leader keeps the role. A store whose own leader
   * changes may give the lease a full TTL again from then (a Raft group does).
   */
  ttlSeconds?: number;
  /** How often the leader renews (default a third of the TTL). */
  renewMs?: number;
  /** How often a follower tries to take over (default 2 s). */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  /** Called on winning; `signal` aborts when leadership ends. */
  onStartedLeading?: (signal: AbortSignal) => void | Promise<void>;
  /** Called once leadership has ended (lost or stopped). */
  onStoppedLeading?: () => void | Promise<void>;
}

export type LeaderState = 'STOPPED' | 'FOLLOWER' | 'LEADING';

/** What the election key holds. */
export interface LeaderRecord {
  holder: string;
  leaseId: number;
  acquiredAt: string;
}


export class LeaderElector {
  readonly identity: string;
  readonly key: string;
  private readonly kv: KV;
  private readonly ttlSeconds: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly options: LeaderElectorOptions;
  private stateNow: LeaderState = 'STOPPED';
  private leaseId: number | undefined;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.options = options;
    this.kv = options.kv;
    this.identity = options.identity;
    this.key = options.key ?? CONTROLLER_LEASE_KEY;
    this.ttlSeconds = options.ttlSeconds ?? 15;
    this.renewMs = options.renewMs ?? Math.max(1, Math.floor((this.ttlSeconds * 1000) / 3));
    this.retryMs = options.retryMs ?? 2000;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'leader-election', identity: this.identity });
  }

  get state(): LeaderState {
    return this.stateNow;
  }

  get isLeader(): boolean {
    return this.stateNow === 'LEADING';
  }

  /** The current holder as the store has it (whoever it is). */
  async holder(): Promise<LeaderRecord | undefined> {
    const kv = await this.kv.get(this.key);
    if (!kv) return undefined;
    try {
      return JSON.parse(Buffer.from(kv.value).toString('utf8')) as LeaderRecord;
    } catch {
      return undefined;
    }
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.stateNow = 'FOLLOWER';
    const signal = this.abort.signal;
    this.loop = this.run(signal).catch((err: unknown) => this.logger.error({ err }, 'leader election loop failed'));
  }

  /**
   * Stops campaigning. With `release` (the default) the lease is revoked so another
   * instance takes over at once; without it the lease is left to expire, as after a crash.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.loop) return;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
    const lease = this.leaseId;
    this.leaseId = undefined;
    this.stateNow = 'STOPPED';
    if (lease !== undefined && (options.release ?? true)) {
      // Bounded: past a TTL the lease is gone anyway, released or not.
      await this.within(this.kv.revoke(lease), this.ttlSeconds * 1000).catch((err: unknown) => this.logger.warn({ err }, 'could not release the leadership lease'));
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let won = false;
      try {
        won = await this.tryAcquire();
      } catch (err) {
        this.logger.warn({ err }, 'leader election attempt failed');
      }
      if (won && !signal.aborted) await this.lead(signal);
      else await sleep(this.clock, this.retryMs, signal);
    }
  }

  private async tryAcquire(): Promise<boolean> {
    const lease = await this.kv.grant(this.ttlSeconds);
    const record: LeaderRecord = { holder: this.identity, leaseId: lease.id, acquiredAt: new Date(this.clock.now()).toISOString() };
    const r = await this.kv.txn({
      compare: [{ key: this.key, target: 'createRevision', op: '==', value: 0 }],
      success: [{ type: 'put', key: this.key, value: JSON.stringify(record), lease: lease.id }],
      failure: [],
    });
    if (!r.succeeded) {
      await this.kv.revoke(lease.id).catch(() => undefined); // someone else leads; do not leak the lease
      return false;
    }
    this.leaseId = lease.id;
    return true;
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const leaseId = this.leaseId!;
    const leading = new AbortController();
    const stopLeading = (): void => leading.abort();
    signal.addEventListener('abort', stopLeading, { once: true });
    this.stateNow = 'LEADING';
    this.gauge(1);
    this.logger.info({ leaseId }, 'became leader');
    try {
      await this.options.onStartedLeading?.(leading.signal);
      let lastRenew = this.clock.now();
      while (!signal.aborted) {
        await sleep(this.clock, this.renewMs, signal);
        if (signal.aborted) break;
        try {
          // A renewal that hangs (no store leader) must not keep us leading past the TTL.
          const left = lastRenew + this.ttlSeconds * 1000 - this.clock.now();
          const current = await this.within(
            this.kv.keepAlive(leaseId).then(() => this.kv.get(this.key)),
            Math.max(1, left),
          );
          if (!current || current.lease !== leaseId) {
            this.logger.warn('the election key no longer carries our lease; stepping down');
            break;
          }
          lastRenew = this.clock.now();
        } catch (err) {
          if (isCapstanError(err, 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND')) {
            this.logger.warn('leadership lease expired; stepping down');
            break;
          }
          // Store unreachable: we may still hold the lease, but once a TTL has passed
          // another instance may lead, so stop before two leaders act.
          if (this.clock.now() - lastRenew >= this.ttlSeconds * 1000) {
            this.logger.warn({ err }, 'could not renew leadership within the TTL; stepping down');
            break;
          }
          this.logger.warn({ err }, 'leadership renewal failed; retrying');
        }
      }
    } catch (err) {
      this.logger.error({ err }, 'starting as leader failed; stepping down');
    } finally {
      signal.removeEventListener('abort', stopLeading);
      leading.abort();
      const lost = !signal.aborted;
      if (lost) {
        // Lost (not stopped): forget the lease; stop() must not revoke a lease we no longer hold.
        this.leaseId = undefined;
        this.stateNow = 'FOLLOWER';
      }
      // Stop acting as leader before any further store call: with no store leader such a call
      // can wait for long, and another instance may already lead.
      this.gauge(0);
      this.logger.info('stopped leading');
      try {
        await this.options.onStoppedLeading?.();
      } catch (err) {
        this.logger.error({ err }, 'onStoppedLeading failed');
      }
      if (lost) await this.within(this.kv.revoke(leaseId), this.ttlSeconds * 1000).catch(() => undefined);
    }
  }

  /** `work`'s outcome, or a rejection once `ms` pass first (the work itself goes on). */
  private within<T>(work: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new Error(`no answer from the store within ${ms} ms`)), ms);
      work.then(
        (v) => {
          this.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  private gauge(value: number): void {
    if (this.options.registry) controllerMetrics(this.options.registry).leader.set({ identity: this.identity }, value);
  }
}
