// The watch and revision checkers on clean histories and on ones with each kind of fault,
// and the public surface of test/lincheck.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/scheduler/index.js';
import * as lincheck from './index.js';
import { checkReadRevisions, checkWatches, type RevisionedWrite, type WatcherHistory } from './index.js';

it('exports exactly the checkers and the formatters', () => {
  // The simulation and the etcd test import these; the surface grows only on purpose.
  expect(Object.keys(lincheck).sort()).toEqual(['checkLinearizable', 'checkReadRevisions', 'checkWatches', 'formatCounterexample', 'formatOperation']);
});

/** Revisions 2..n+1, one write each, over keys a/0..a/3 and one key outside the prefix. */
function writes(n: number, seed = 1): RevisionedWrite[] {
  const random = seededRandom(seed);
  const out: RevisionedWrite[] = [];
  for (let r = 2; r < n + 2; r++) {
    const key = random() < 0.2 ? 'b/x' : `a/${Math.floor(random() * 4)}`;
    out.push(random() < 0.15 ? { key, revision: r, type: 'delete' } : { key, revision: r, type: 'put', value: `v${r}` });
  }
  return out;
}

function watcher(name: string, all: RevisionedWrite[], from: number, resumeAfter?: number): WatcherHistory {
  const events = all.filter((w) => w.key.startsWith('a/') && w.revision >= from);
  if (resumeAfter === undefined) return { watcher: name, key: 'a/', prefix: true, segments: [{ fromRevision: from, events }] };
  const first = events.filter((e) => e.revision <= resumeAfter);
  const last = first.length > 0 ? first[first.length - 1].revision : from - 1;
  return {
    watcher: name,
    key: 'a/',
    prefix: true,
    segments: [
      { fromRevision: from, events: first },
      { fromRevision: last + 1, events: events.filter((e) => e.revision > last) },
    ],
  };
}

const kinds = (result: ReturnType<typeof checkWatches>): string[] => result.violations.map((v) => v.kind);

describe('checkWatches', () => {
  it('accepts watchers that got every write in range, in order, including resumed ones', () => {
    const all = writes(200);
    const result = checkWatches({
      acknowledged: all,
      watchers: [watcher('w1', all, 2), watcher('w2', all, 50), watcher('w3', all, 2, 120), { ...watcher('w4', all, 10), until: 201 }],
    });
    expect(result).toEqual({ ok: true, violations: [] });
  });

  it('accepts events of writes whose outcome was unknown, and learns them as committed', () => {
    const all = writes(50);
    const hidden = all[20]; // its client timed out, but it committed
    const acknowledged = all.filter((w) => w !== hidden);
    const unacknowledged = [{ key: hidden.key, type: hidden.type, value: hidden.value }];
    const clean = checkWatches({ acknowledged, unacknowledged, watchers: [watcher('w1', all, 2), watcher('w2', all, 2)] });
    expect(clean.ok).toBe(true);
    // One watcher saw it and another did not: the other has a gap.
    const other = watcher('w2', all, 2);
    other.segments[0].events = other.segments[0].events.filter((e) => e !== hidden);
    const gap = checkWatches({ acknowledged, unacknowledged, watchers: [watcher('w1', all, 2), other] });
    if (hidden.key.startsWith('a/')) expect(gap.violations).toMatchObject([{ kind: 'gap', watcher: 'w2', revision: hidden.revision }]);
  });

  it('finds a gap', () => {
    const all = writes(100);
    const w = watcher('w1', all, 2);
    const dropped = w.segments[0].events.splice(30, 1)[0];
    const result = checkWatches({ acknowledged: all, watchers: [w] });
    expect(result.violations).toMatchObject([{ kind: 'gap', watcher: 'w1', revision: dropped.revision, key: dropped.key }]);
    expect(result.violations[0].message).toContain(`at revision ${dropped.revision}`);
  });

  it('finds a gap at the tail when the watcher should have read further', () => {
    const all = writes(100);
    const w = watcher('w1', all, 2);
    const tail = w.segments[0].events.pop() as RevisionedWrite;
    expect(checkWatches({ acknowledged: all, watchers: [w] }).ok).toBe(true);
    expect(kinds(checkWatches({ acknowledged: all, watchers: [{ ...w, until: tail.revision }] }))).toEqual(['gap']);
  });

  it('finds a duplicate and a reordering', () => {
    const all = writes(100);
    const dup = watcher('w1', all, 2);
    dup.segments[0].events.splice(10, 0, dup.segments[0].events[10]);
    expect(kinds(checkWatches({ acknowledged: all, watchers: [dup] }))).toEqual(['duplicate']);
    const swapped = watcher('w2', all, 2);
    const ev = swapped.segments[0].events;
    [ev[20], ev[21]] = [ev[21], ev[20]];
    expect(kinds(checkWatches({ acknowledged: all, watchers: [swapped] }))).toEqual(['order']);
  });

  it('finds an event from before the revision the watch started at', () => {
    const all = writes(100);
    const w = watcher('w1', all, 40);
    const early = all.filter((x) => x.key.startsWith('a/') && x.revision < 40).pop() as RevisionedWrite;
    w.segments[0].events.unshift(early);
    expect(kinds(checkWatches({ acknowledged: all, watchers: [w] }))).toEqual(['order']);
  });

  it('finds a resumption that skipped events, and one that repeated them', () => {
    const all = writes(100);
    const skipped = watcher('w1', all, 2, 50);
    const second = skipped.segments[1];
    const lost = second.events.shift() as RevisionedWrite;
    second.fromRevision = lost.revision + 1;
    expect(kinds(checkWatches({ acknowledged: all, watchers: [skipped] })).sort()).toEqual(['gap', 'resume']);

    const repeated = watcher('w2', all, 2, 50);
    const seen = repeated.segments[0].events;
    const lastSeen = seen[seen.length - 1];
    repeated.segments[1] = { fromRevision: lastSeen.revision, events: [lastSeen, ...repeated.segments[1].events] };
    expect(kinds(checkWatches({ acknowledged: all, watchers: [repeated] })).sort()).toEqual(['duplicate', 'resume']);
  });

  it('finds events that disagree with the acknowledged write, phantoms, and events out of range', () => {
    const all = writes(60);
    const w = watcher('w1', all, 2);
    const i = w.segments[0].events.findIndex((e) => e.type === 'put');
    w.segments[0].events[i] = { ...w.segments[0].events[i], value: 'other' };
    expect(kinds(checkWatches({ acknowledged: all, watchers: [w] }))).toEqual(['mismatch']);

    const phantom = watcher('w2', all, 2);
    phantom.segments[0].events.push({ key: 'a/9', revision: 1000, type: 'put', value: 'x' });
    expect(kinds(checkWatches({ acknowledged: all, watchers: [phantom] }))).toEqual(['phantom']);

    const outside = watcher('w3', all, 2);
    const b = all.find((x) => x.key === 'b/x') as RevisionedWrite;
    outside.segments[0].events = outside.segments[0].events.filter((e) => e.revision < b.revision).concat([b], outside.segments[0].events.filter((e) => e.revision > b.revision));
    expect(kinds(checkWatches({ acknowledged: all, watchers: [outside] }))).toEqual(['range']);
  });

  it('finds two watchers that saw different writes at one revision', () => {
    const all = writes(30);
    const hidden = all.find((w) => w.key.startsWith('a/') && w.type === 'put') as RevisionedWrite;
    const acknowledged = all.filter((w) => w !== hidden);
    const unacknowledged = [{ key: hidden.key, type: 'put' as const, value: hidden.value }, { key: hidden.key, type: 'put' as const, value: 'other' }];
    const a = watcher('w1', all, 2);
    const b = watcher('w2', all, 2);
    b.segments[0].events = b.segments[0].events.map((e) => (e === hidden ? { ...e, value: 'other' } : e));
    expect(kinds(checkWatches({ acknowledged, unacknowledged, watchers: [a, b] }))).toEqual(['mismatch']);
  });

  it('finds random faults in random histories', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const all = writes(80, seed);
      const random = seededRandom(seed * 31);
      const w = watcher('w', all, 2, 40);
      const events = w.segments[1].events;
      if (events.length < 3) continue;
      const at = 1 + Math.floor(random() * (events.length - 2));
      const fault = seed % 3;
      if (fault === 0) events.splice(at, 1);
      else if (fault === 1) events.splice(at, 0, events[at]);
      else [events[at - 1], events[at]] = [events[at], events[at - 1]];
      const found = kinds(checkWatches({ acknowledged: all, watchers: [w] }));
      expect(found).toContain(['gap', 'duplicate', 'order'][fault]);
    }
  });
});

describe('checkReadRevisions', () => {
  it('accepts revisions that only grow per client', () => {
    const reads = [
      { client: 1, call: 0, ret: 1, revision: 5 },
      { client: 1, call: 2, ret: 3, revision: 5 },
      { client: 2, call: 0, ret: 10, revision: 4 },
      { client: 1, call: 4, ret: 5, revision: 9 },
    ];
    expect(checkReadRevisions(reads)).toEqual({ ok: true, violations: [] });
    // Client 2's read overlaps client 1's: no order between them.
    expect(checkReadRevisions(reads, { realTime: true }).ok).toBe(true);
  });

  it('finds one client going backwards, and with realTime a later client seeing less', () => {
    const back = [
      { client: 'a', call: 0, ret: 1, revision: 7 },
      { client: 'a', call: 2, ret: 3, revision: 6 },
    ];
    expect(checkReadRevisions(back).violations).toMatchObject([{ kind: 'backwards', client: 'a', revision: 6 }]);
    const stale = [
      { client: 'a', call: 0, ret: 1, revision: 7 },
      { client: 'b', call: 2, ret: 3, revision: 6 },
    ];
    expect(checkReadRevisions(stale).ok).toBe(true);
    expect(checkReadRevisions(stale, { realTime: true }).violations).toMatchObject([{ kind: 'backwards', client: 'b' }]);
  });
});
