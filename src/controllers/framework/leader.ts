// Leader election through a record in the store, so controllers run on one instance only.
//
// The election key holds who leads, the term and when it last renewed. The holder renews it
// by compare-and-swap on its mod revision every renewMs. Another instance reads the key every
// retryMs and notes, on its own clock, when it last saw the record change. Once the record
// has not changed for a whole leaseDuration, it takes over by compare-and-swap on the revision
// it saw. No store lease is involved: a store whose own leader changes (a Raft group) would
// give every lease a full TTL again, but this duration is measured by the waiting instance
// and runs while the store elects. Only the rates of the clocks matter, not their offsets.
//
// The holder steps down when it could not renew for renewDeadline (< leaseDuration), so it
// stops before anyone else may take over. Each takeover also writes a fence key. `fence` gives
// its revision, and `fencedKV` makes every write of the controllers conditional on it. A holder
// that was paused past the deadline, and did not notice, has every write refused with
// CAPSTAN_ERR_CONTROLLER_NOT_LEADER.
import { sleep } from '../../common/clock.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../../api/cluster.js';
import { silentLogger } from '../../common/index.js';
import type { KV, KeyValue } from '../../store/index.js';
import { systemClock, type Clock } from './clock.js';
import { controllerMetrics } from './metrics.js';

export const CONTROLLER_LEASE_KEY = `${STORE_PREFIX.leases}controllers`;

export interface LeaderElectorOptions {
  kv: KV;
  /** Who this instance is (host name and pid, say); stored in the election key. */
  identity: string;
  key?: string;
  /**
   * How long a holder that stopped renewing keeps the role (default 15 s). It is measured by
   * each waiting instance from when it last saw the record change.
   */
  leaseDurationMs?: number;
  /**
   * The holder steps down after failing to renew for this long (default 2/3 of the duration,
   * so it stops before anyone may take over). Writes made through `fencedKV` stay safe with a
   * longer deadline: a holder whose store elects a new leader then keeps its term, and does not
   * stop all controllers only to win the record back a moment later.
   */
  renewDeadlineMs?: number;
  /** How often the holder renews (default a fifth of the duration). */
  renewMs?: number;
  /** How often a waiting instance reads the record (default a tenth of the duration, at most 2 s). */
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
  /** Counts takeovers: one more each time another holder (or this one again) wins. */
  term: number;
  acquiredAt: string;
  /** The holder's clock at its last renewal (for people; no one compares it with their clock). */
  renewedAt: string;
  leaseDurationMs: number;
}

/** What a holder's writes are made conditional on: the fence key as its takeover wrote it. */
export interface Fence {
  key: string;
  /** The fence key's mod revision, written by the takeover. */
  revision: number;
  term: number;
}

/** The fence key beside an election key. */
export const fenceKeyOf = (key: string): string => `${key}.fence`;

export class LeaderElector {
  readonly identity: string;
  readonly key: string;
  readonly leaseDurationMs: number;
  private readonly kv: KV;
  private readonly renewDeadlineMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly options: LeaderElectorOptions;
  private stateNow: LeaderState = 'STOPPED';
  /** While leading: the election key's mod revision after our last write, and the fence. */
  private held: { revision: number; fence: Fence; record: LeaderRecord } | undefined;
  /** While waiting: the record last seen and when (our clock) it was first seen like that. */
  private seen: { modRevision: number; at: number } | undefined;
  private abort: AbortController | undefined;
  /** Aborts the current term's lead loop (stepDown). */
  private term: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.options = options;
    this.kv = options.kv;
    this.identity = options.identity;
    this.key = options.key ?? CONTROLLER_LEASE_KEY;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.floor((this.leaseDurationMs * 2) / 3);
    this.renewMs = options.renewMs ?? Math.max(1, Math.floor(this.leaseDurationMs / 5));
    this.retryMs = options.retryMs ?? Math.max(1, Math.min(2000, Math.floor(this.leaseDurationMs / 10)));
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'leader-election', identity: this.identity });
  }

  get state(): LeaderState {
    return this.stateNow;
  }

  get isLeader(): boolean {
    return this.stateNow === 'LEADING';
  }

  /** The fence of the current term while leading; undefined otherwise. */
  get fence(): Fence | undefined {
    return this.stateNow === 'LEADING' ? this.held?.fence : undefined;
  }

  /**
   * Gives up the current term at once (the record is left as it is, to go stale): for a holder
   * that learned another term took over, e.g. from a write refused by the fence.
   */
  stepDown(reason: string): void {
    if (this.stateNow !== 'LEADING' || this.term?.signal.aborted) return;
    this.logger.warn({ reason }, 'stepping down');
    this.term?.abort();
  }

  /** The current holder as the store has it (whoever it is). */
  async holder(): Promise<LeaderRecord | undefined> {
    return parseRecord(await this.kv.get(this.key));
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.stateNow = 'FOLLOWER';
    this.seen = undefined;
    const signal = this.abort.signal;
    this.loop = this.run(signal).catch((err: unknown) => this.logger.error({ err }, 'leader election loop failed'));
  }

  /**
   * Stops campaigning. With `release` (the default) the record is deleted so another
   * instance takes over at once; without it the record is left to go stale, as after a crash.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.loop) return;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
    const held = this.held;
    this.held = undefined;
    this.stateNow = 'STOPPED';
    if (held !== undefined && (options.release ?? true)) {
      const release = this.kv.txn({ compare: [{ key: this.key, target: 'modRevision', op: '==', value: held.revision }], success: [{ type: 'delete', key: this.key }], failure: [] });
      // Bounded: past the duration another instance may take over anyway.
      await this.within(release, this.leaseDurationMs).catch((err: unknown) => this.logger.warn({ err }, 'could not release leadership'));
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let won = false;
      try {
        // A look that hangs (no store leader) must not hold up stop().
        won = await untilAborted(this.tryAcquire(), signal, false);
      } catch (err) {
        // Unanswered reads are usual while the store elects a leader: not worth a warning each.
        if (err instanceof StoreSilent) this.logger.debug({ err }, 'leader election read unanswered');
        else this.logger.warn({ err }, 'leader election attempt failed');
      }
      if (won && !signal.aborted) await this.lead(signal);
      else await sleep(this.clock, this.retryMs, signal);
    }
  }

  /** One look at the record: take it when it is absent or has not changed for a whole duration. */
  private async tryAcquire(): Promise<boolean> {
    // The record's age counts from when this read was sent, not from when it answered. A
    // renewal first seen in a late answer (the store was electing a leader, and the last
    // renewal of a dead holder shows up only once the next leader commits) is at least
    // that old. Counting from the answer would add a whole duration to every takeover that
    // follows a store election. Erring early is safe: the writes are fenced.
    // A read is given a quarter of the duration. One sent to a member that just died can
    // wait far longer than that, and the next read finds the store's new leader.
    const sent = this.clock.now();
    const current = await this.within(this.kv.get(this.key), Math.max(50, Math.floor(this.leaseDurationMs / 4)));
    const now = this.clock.now();
    let expected: number;
    let term: number;
    if (current === undefined) {
      expected = 0;
      term = 1;
    } else {
      if (this.seen?.modRevision !== current.modRevision) {
        // Changed since our last look (or first look): the holder was alive when we asked.
        this.seen = { modRevision: current.modRevision, at: sent };
        return false;
      }
      if (now - this.seen.at < this.leaseDurationMs) return false;
      expected = current.modRevision;
      term = (parseRecord(current)?.term ?? 0) + 1;
    }
    const stamp = new Date(now).toISOString();
    const record: LeaderRecord = { holder: this.identity, term, acquiredAt: stamp, renewedAt: stamp, leaseDurationMs: this.leaseDurationMs };
    const fenceKey = fenceKeyOf(this.key);
    const r = await this.kv.txn({
      compare: [{ key: this.key, target: 'modRevision', op: '==', value: expected }],
      success: [
        { type: 'put', key: this.key, value: JSON.stringify(record) },
        { type: 'put', key: fenceKey, value: JSON.stringify({ holder: this.identity, term }) },
      ],
      failure: [],
    });
    if (!r.succeeded) {
      this.seen = undefined; // someone else wrote it first: watch the new record from now
      return false;
    }
    if (current !== undefined) this.logger.info({ previous: parseRecord(current)?.holder, term }, 'the previous holder stopped renewing; taking over');
    this.held = { revision: r.revision, fence: { key: fenceKey, revision: r.revision, term }, record };
    return true;
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const leading = new AbortController();
    this.term = leading;
    const stopLeading = (): void => leading.abort();
    signal.addEventListener('abort', stopLeading, { once: true });
    this.stateNow = 'LEADING';
    this.gauge(1);
    this.logger.info({ term: this.held?.fence.term }, 'became leader');
    try {
      await this.options.onStartedLeading?.(leading.signal);
      let lastRenew = this.clock.now();
      while (!leading.signal.aborted) {
        await sleep(this.clock, this.renewMs, leading.signal);
        if (leading.signal.aborted) break;
        // A renewal that hangs (no store leader) must not keep us leading past the deadline.
        const left = lastRenew + this.renewDeadlineMs - this.clock.now();
        try {
          if (!(await this.within(this.renew(), Math.max(1, left)))) {
            this.logger.warn('the election key was changed by someone else; stepping down');
            break;
          }
          lastRenew = this.clock.now();
        } catch (err) {
          if (this.clock.now() - lastRenew >= this.renewDeadlineMs) {
            this.logger.warn({ err }, 'could not renew leadership within the deadline; stepping down');
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
        // Lost (not stopped): stop() must not delete a record we no longer hold.
        this.held = undefined;
        this.seen = undefined;
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
    }
  }

  /** Rewrites the record if it is still ours as we last wrote it; false when it is not. */
  private async renew(): Promise<boolean> {
    const held = this.held!;
    const record: LeaderRecord = { ...held.record, renewedAt: new Date(this.clock.now()).toISOString() };
    const r = await this.kv.txn({
      compare: [{ key: this.key, target: 'modRevision', op: '==', value: held.revision }],
      success: [{ type: 'put', key: this.key, value: JSON.stringify(record) }],
      failure: [],
    });
    if (!r.succeeded) return false;
    // The answer may arrive after the deadline: then the loop has moved on and `held` is gone.
    if (this.held === held) this.held = { ...held, revision: r.revision, record };
    return true;
  }

  /** `work`'s outcome, or a rejection once `ms` pass first (the work itself goes on). */
  private within<T>(work: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new StoreSilent(ms)), ms);
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

/** No answer from the store in time (the call itself may still complete). */
class StoreSilent extends Error {
  constructor(ms: number) {
    super(`no answer from the store within ${ms} ms`);
  }
}

/** `work`'s outcome, or `fallback` as soon as `signal` aborts (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, fallback: T): Promise<T> {
  if (signal.aborted) return Promise.resolve(fallback);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => resolve(fallback);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function parseRecord(kv: KeyValue | undefined): LeaderRecord | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(Buffer.from(kv.value).toString('utf8')) as LeaderRecord;
  } catch {
    return undefined;
  }
}
