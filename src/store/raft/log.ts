// The log of the Raft core and the membership it carries: entries after the snapshot point,
// the hard state, the configuration in effect after the whole log (changes count from when
// they are appended) and at any index, truncation of a conflicting suffix and compaction.
import { decodeConfEntry, isConfChange } from './confchange.js';
import type { Entry, HardState, RaftConfig, RaftMessage, RaftOptions, RaftRole } from './types.js';

export const NOOP = new Uint8Array(0);

export type Msg<T extends RaftMessage['type']> = Extract<RaftMessage, { type: T }>;

export function copyConfig(c: RaftConfig): RaftConfig {
  return { voters: [...c.voters], learners: [...c.learners] };
}

export abstract class RaftLog {
  readonly id: number;

  term = 0;
  vote = 0;
  commit = 0;
  /** Highest index handed out in committed entries (or restored from a snapshot). */
  applied = 0;
  state: RaftRole = { role: 'follower', leader: undefined };

  // The log after the snapshot point: log[i] has index offset + 1 + i.
  protected log: Entry[] = [];
  protected offset = 0;
  protected offsetTerm = 0;
  /** Membership in effect at `offset`, and after the whole log. */
  protected offsetConfig: RaftConfig;
  protected conf: RaftConfig;
  /** Index of the last membership change in the log (0: none after the snapshot). */
  protected confIndex = 0;
  /** Highest index known durable locally. */
  protected stable = 0;
  /** First index not yet handed to the caller for persistence. */
  protected unstableFrom = 1;

  constructor(o: RaftOptions) {
    this.id = o.id;
    const base = o.snapshot?.config ?? { voters: [...o.members], learners: [...(o.learners ?? [])] };
    this.offsetConfig = copyConfig(base);
    this.conf = copyConfig(base);
    const fresh = !o.snapshot && !o.entries?.length;
    if (fresh && !base.voters.includes(o.id) && !base.learners.includes(o.id)) {
      throw new RangeError(`member ${o.id} is not in the member list`);
    }
    if (o.snapshot) {
      this.offset = o.snapshot.index;
      this.offsetTerm = o.snapshot.term;
      this.commit = this.applied = o.snapshot.index;
    }
    if (o.hardState) {
      this.term = o.hardState.term;
      this.vote = o.hardState.vote;
      this.commit = Math.max(this.commit, o.hardState.commit);
    }
    for (const e of o.entries ?? []) if (e.index > this.offset) this.log.push(e);
    this.recomputeConfig();
    this.stable = this.lastIndex;
    this.unstableFrom = this.lastIndex + 1;
    this.commit = Math.min(this.commit, this.lastIndex);
  }

  /** Progress for every member but this one, matching the membership now (replication.ts). */
  protected abstract syncProgress(): void;

  get lastIndex(): number {
    return this.offset + this.log.length;
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex) ?? 0;
  }

  /** First index still in the in-memory log (entries before it are compacted). */
  get firstIndex(): number {
    return this.offset + 1;
  }

  /** Term of the entry at `index`; undefined when it is before the snapshot or past the end. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex) return undefined;
    return this.log[index - this.offset - 1]!.term;
  }

  /** Entries in [from, to] still in memory (for tests and inspection). */
  entries(from: number, to = this.lastIndex): Entry[] {
    return this.log.slice(Math.max(0, from - this.offset - 1), Math.max(0, to - this.offset));
  }

  get hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  get isLeader(): boolean {
    return this.state.role === 'leader';
  }

  /** The leader this member knows of (itself when leading). */
  get leader(): number | undefined {
    if (this.state.role === 'leader') return this.id;
    return this.state.role === 'follower' ? this.state.leader : undefined;
  }

  /** Voting members now (membership changes count from when they are appended). */
  get members(): readonly number[] {
    return this.conf.voters;
  }

  get config(): RaftConfig {
    return copyConfig(this.conf);
  }

  protected get quorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  protected get isVoter(): boolean {
    return this.conf.voters.includes(this.id);
  }

  protected appendEntry(e: Entry): void {
    this.log.push(e);
    if (isConfChange(e.data)) this.applyConfEntry(e);
  }

  protected applyConfEntry(e: Entry): void {
    this.conf = decodeConfEntry(e.data).config;
    this.confIndex = e.index;
    if (this.state.role === 'leader') this.syncProgress();
  }

  /** Membership after the snapshot and every change in the log. */
  protected recomputeConfig(): void {
    this.conf = copyConfig(this.offsetConfig);
    this.confIndex = 0;
    for (const e of this.log) {
      if (!isConfChange(e.data)) continue;
      this.conf = decodeConfEntry(e.data).config;
      this.confIndex = e.index;
    }
  }

  /** Membership in effect at `index` (the compacted offset's for anything before it). */
  configAt(index: number): RaftConfig {
    let c = this.offsetConfig;
    for (const e of this.log) {
      if (e.index > index) break;
      if (isConfChange(e.data)) c = decodeConfEntry(e.data).config;
    }
    return copyConfig(c);
  }

  /** Drops entries from `index` on (a conflicting suffix). */
  protected truncateFrom(index: number): void {
    if (index <= this.commit) throw new Error(`raft: member ${this.id} asked to drop committed entry ${index} (commit ${this.commit})`);
    this.log.length = Math.max(0, index - this.offset - 1);
    this.stable = Math.min(this.stable, index - 1);
    this.unstableFrom = Math.min(this.unstableFrom, index);
    if (this.confIndex >= index) this.recomputeConfig();
  }

  /** Latest index at or below `index` whose term is at most `term` (fast backtracking). */
  protected findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex);
    while (i > this.offset) {
      const t = this.termAt(i)!;
      if (t <= term) return { index: i, term: t };
      i--;
    }
    return { index: this.offset, term: this.offsetTerm };
  }

  /** Discards the in-memory log up to `index` once a snapshot covers it. */
  compact(index: number): void {
    if (index <= this.offset || index > this.applied) return;
    const term = this.termAt(index)!;
    this.offsetConfig = this.configAt(index);
    this.log = this.log.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
    if (this.confIndex <= index) this.confIndex = 0;
  }
}
