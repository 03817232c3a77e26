// The simulation must be able to find the bug of the Raft paper's figure 8: a leader that
// commits an entry of an earlier term by counting the members that hold it (§5.4.2 allows
// counting replicas only for entries of the leader's own term). For these runs the rule is
// broken from outside: while the core picks its new commit index, every index past the old
// one reads as an entry of the current term. The seeds must then show a violation.
import { describe, expect, it } from 'vitest';
import { RaftCore } from '../../src/store/raft/index.js';
import { runSeed } from './harness.js';

interface CommitInternals {
  maybeCommit(): void;
  termAt(index: number): number | undefined;
  commit: number;
  term: number;
}

/** Breaks the commit rule of every core until the returned function is called. */
function breakCommitRule(): () => void {
  const proto = RaftCore.prototype as unknown as CommitInternals;
  const original = proto.maybeCommit;
  if (typeof original !== 'function') throw new Error('RaftCore.maybeCommit is gone: update this test');
  proto.maybeCommit = function (this: CommitInternals): void {
    const before = this.commit;
    const termAt = proto.termAt;
    this.termAt = (index) => (this.commit === before && index > before ? this.term : termAt.call(this, index));
    try {
      original.call(this);
    } finally {
      delete (this as Partial<CommitInternals>).termAt;
    }
  };
  return () => {
    proto.maybeCommit = original;
  };
}

describe('raft simulation against a broken figure 8 rule', () => {
  it('finds a violation within the CI seeds when leaders commit earlier-term entries by counting replicas', () => {
    const restore = breakCommitRule();
    let found: { seed: number; violation: string } | undefined;
    try {
      for (let seed = 1; seed <= 1000 && !found; seed++) {
        const r = runSeed(seed);
        if (r.violations.length) found = { seed, violation: r.violations[0]! };
      }
    } finally {
      restore();
    }
    expect(found, 'no seed of 1..1000 caught the broken rule').toBeDefined();
    expect(found!.violation).toMatch(/leader completeness|state machine safety|linearizability|log matching|exception/);
    // With the rule intact the same seed runs clean.
    const clean = runSeed(found!.seed);
    expect(clean.violations).toEqual([]);
  }, 300_000);
});
