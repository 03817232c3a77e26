// Reads on a group member: a linearizable read asks the core for a ReadIndex (a heartbeat
// round a majority answers; no clock leases) and is served once this member has applied that
// index. Also the waits for "applied up to" that read-your-writes use.
import { isCapstanError } from '../../common/index.js';
import type { ReadState } from '../raft/index.js';
import { closedError, MemberBase, shuttingDown, unavailable, type Waiter } from './member-base.js';

interface ReadWaiter extends Waiter<number> {
  deadline: number;
}

/** One read attempt waits this long for the leader's answer before asking again. */
const READ_ATTEMPT_MS = 2000;

export abstract class MemberReads extends MemberBase {
  protected reads = new Map<string, ReadWaiter>();
  protected readSeq = 0;
  protected appliedWaiters: { index: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /** Resolves once this member has applied everything acknowledged before the call. */
  async readBarrier(): Promise<void> {
    if (this.closed) throw closedError();
    if (this.drained) throw shuttingDown();
    const index = await this.readIndex();
    await this.waitApplied(index, this.deadline());
  }

  protected waitApplied(index: number, deadline: number): Promise<void> {
    if (this.raft.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { index, resolve, reject };
      this.appliedWaiters.push(w);
      this.clock.setTimeout(
        () => {
          const i = this.appliedWaiters.indexOf(w);
          if (i < 0) return;
          this.appliedWaiters.splice(i, 1);
          reject(unavailable(`this member did not apply index ${index} in time`, { index, applied: this.raft.applied }));
        },
        Math.max(1, deadline - this.clock.now()),
      );
    });
  }

  /** A confirmed read index (ReadIndex through the core; forwarded to the leader by it). */
  private async readIndex(): Promise<number> {
    const deadline = this.deadline();
    for (;;) {
      await this.waitForLeader(deadline);
      const requestId = `${this.id.toString(16)}.${++this.readSeq}`;
      if (this.raft.readIndex(requestId)) {
        const attempt = Math.min(READ_ATTEMPT_MS, Math.max(1, deadline - this.clock.now()));
        const index = await new Promise<number>((resolve, reject) => {
          this.reads.set(requestId, { resolve, reject, deadline: this.clock.now() + attempt });
          void this.kick();
        }).catch((err: unknown) => {
          if (isCapstanError(err, 'CAPSTAN_ERR_STORE_CLOSED')) throw err;
          return -1;
        });
        if (index >= 0) return index;
      }
      if (this.clock.now() >= deadline) throw unavailable('a majority did not confirm the read in time', { member: this.name });
      await this.pause(this.tickMs);
    }
  }

  /** Reads the core confirmed in this pass. */
  protected answerReads(readStates: ReadState[]): void {
    for (const rs of readStates) {
      const w = this.reads.get(rs.requestId);
      if (!w) continue;
      this.reads.delete(rs.requestId);
      w.resolve(rs.index);
    }
  }

  protected releaseApplied(): void {
    if (!this.appliedWaiters.length) return;
    const applied = this.raft.applied;
    const keep: typeof this.appliedWaiters = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve();
      else keep.push(w);
    }
    this.appliedWaiters = keep;
  }

  /** Reads that outlived their deadline. */
  protected expireReads(now: number): void {
    for (const [id, r] of this.reads) {
      if (r.deadline > now) continue;
      this.reads.delete(id);
      r.reject(unavailable('the leader did not confirm the read in time'));
    }
  }
}
