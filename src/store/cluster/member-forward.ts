// Writes on a group member: proposed here while this member leads, otherwise forwarded to the
// leader, which answers once the entry is applied; the caller's answer waits until this
// member has applied it too, so a client reading here next sees its own write.
import { isCapstanError } from '../../common/index.js';
import { tooLarge } from '../embedded/index.js';
import { decodeCommand, encodeCommand, type Command } from '../mvcc/index.js';
import { closedError, shuttingDown, type Applied, type Proposal } from './member-base.js';
import { MemberReads } from './member-reads.js';

export abstract class MemberForwarding extends MemberReads {
  /** Proposals on their way to the leader (forwarded or waiting for one to be known). */
  protected forwarding = new Set<Proposal>();

  propose<T>(cmd: Command): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (this.drained) return Promise.reject(shuttingDown());
    const large = tooLarge(cmd);
    if (large) return Promise.reject(large);
    return this.submit(encodeCommand(cmd)).then((a) => a.result as T);
  }

  protected submit(data: Uint8Array): Promise<Applied> {
    return new Promise<Applied>((resolve, reject) => {
      const p: Proposal = { data, resolve, reject };
      if (this.raft.isLeader) {
        this.pending.push(p);
        void this.kick();
      } else void this.forward(p);
    });
  }

  protected async forward(p: Proposal): Promise<void> {
    const deadline = this.deadline();
    this.forwarding.add(p);
    try {
      for (;;) {
        const leader = await this.waitForLeader(deadline);
        if (leader === this.id) {
          this.pending.push(p);
          void this.kick();
          return;
        }
        try {
          const r = await this.transport.forwardPropose(leader, p.data, Math.max(1, deadline - this.clock.now()));
          // Read-your-writes here: answer once this member has the entry applied too.
          await this.waitApplied(r.index, deadline).catch(() => undefined);
          p.resolve(r);
          return;
        } catch (err) {
          // Not proposed at all (a leader that had just stepped down, or a refused
          // connection): safe to try the next leader. Anything else may have happened.
          const retry = isCapstanError(err, 'CAPSTAN_ERR_STORE_NOT_LEADER') || refused(err);
          if (!retry || this.clock.now() >= deadline || this.closed) throw err;
          await this.pause(this.tickMs);
        }
      }
    } catch (err) {
      p.reject(err);
    } finally {
      this.forwarding.delete(p);
    }
  }

  protected async onForwardedProposal(data: Uint8Array): Promise<Applied> {
    if (this.closed) throw closedError();
    if (!this.raft.isLeader) throw this.notLeader();
    let cmd = decodeCommand(data);
    // Lease time is the leader's clock, whoever received the request.
    if ('now' in cmd) {
      cmd = { ...cmd, now: this.clock.now() };
      data = encodeCommand(cmd);
    }
    return new Promise<Applied>((resolve, reject) => {
      this.pending.push({ data, resolve, reject });
      void this.kick();
    });
  }
}

function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}
