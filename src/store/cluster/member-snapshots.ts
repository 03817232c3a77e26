// Snapshots on a group member: followers that need compacted entries get the state as applied
// here (MVCC state and member table); a follower installs one from its leader; the in-memory
// log is dropped only up to what followers that are not far behind still need.
import { CapstanError } from '../../common/index.js';
import type { RaftSnapshot } from '../raft/index.js';
import { memberIdFor } from './ids.js';
import { MemberMembership } from './member-membership.js';
import { decodePayload, encodePayload } from './payload.js';

export abstract class MemberSnapshots extends MemberMembership {
  /** For a follower that needs compacted entries: the state as applied here now. */
  protected snapshotForPeer(): RaftSnapshot | undefined {
    const index = this.raft.applied;
    const term = this.raft.termAt(index);
    if (term === undefined) return undefined;
    return { index, term, config: this.appliedConfig, data: encodePayload(this.mvcc, this.members(this.appliedConfig), this.appliedConfig) };
  }

  protected async installSnapshot(s: RaftSnapshot): Promise<void> {
    await this.snapshots.settle();
    if (this.wal) {
      await this.wal.writeSnapshot(s.index, s.term, s.data);
      await this.wal.releaseBefore(s.index);
    }
    const payload = decodePayload(s.data);
    this.mvcc = payload.mvcc;
    this.appliedConfig = s.config;
    for (const p of payload.members) {
      const id = memberIdFor(p.name);
      this.names.set(id, p);
      if (id !== this.id) this.transport.setPeer(id, p.url);
    }
    this.snapshots.index = s.index;
    // Watchers here missed the entries the snapshot replaced: they re-watch from their
    // last revision, which the snapshot's history serves.
    this.hub.closeAll(
      new CapstanError('CAPSTAN_ERR_STORE_WATCH_OVERFLOW', 'this member caught up from a snapshot; watch again from the last revision seen'),
    );
    this.logger?.info({ index: s.index, term: s.term, bytes: s.data.length }, 'installed a snapshot from the leader');
    this.releaseApplied();
  }

  /**
   * Drops the in-memory log up to `index`, keeping what followers that are not far behind
   * still need (one that is far behind gets a snapshot instead).
   */
  protected compactLog(index: number): void {
    let upTo = index;
    const s = this.raft.state;
    if (s.role === 'leader') {
      for (const p of s.progress.values()) if (p.match < upTo && index - p.match < this.snapshotEvery) upTo = p.match;
    }
    if (upTo > 0) this.raft.compact(upTo);
  }
}
