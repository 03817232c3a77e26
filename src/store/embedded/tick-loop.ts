// The tick loop the single-member store and the members of a Raft group share: every `tickMs`
// the core ticks (elections, heartbeats), the leader checks for leases due (LeaseExpiry puts
// their expiry into the log), then the owner does its own per-tick work. Stops once the owner
// is closed or `stop()` is called.
import type { MvccState } from '../mvcc/index.js';
import type { RaftCore } from '../raft/index.js';
import type { StoreClock } from './store.js';
import type { LeaseExpiry } from './write-loop.js';

export interface TickHost {
  clock: StoreClock;
  tickMs: number;
  raft: RaftCore;
  expiry: LeaseExpiry;
  /** The state machine now (a member replaces it when it installs a snapshot). */
  state(): MvccState;
  closed(): boolean;
  /** After the core's tick and the lease check: `ticks` counts ticks since start; `leader` as at the tick. */
  after(ticks: number, now: number, leader: boolean): void;
}

export class TickLoop {
  private handle: unknown;
  private ticks = 0;

  constructor(private readonly host: TickHost) {}

  start(): void {
    if (this.host.closed()) return;
    this.handle = this.host.clock.setTimeout(() => this.tick(), this.host.tickMs);
  }

  stop(): void {
    if (this.handle !== undefined) this.host.clock.clearTimeout(this.handle);
  }

  private tick(): void {
    const h = this.host;
    if (h.closed()) return;
    h.raft.tick();
    this.ticks++;
    const now = h.clock.now();
    const leader = h.raft.isLeader;
    if (leader) h.expiry.check(h.state(), now);
    h.after(this.ticks, now, leader);
    this.start();
  }
}
