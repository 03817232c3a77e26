// Watch and revision checkers, after etcd's watch guarantees: events arrive in revision
// order, none is missing or repeated, a watch resumed after the last revision seen gets
// exactly the rest, and revisions never go backwards.
//
// What was committed is known from two sources: writes acknowledged with their revision, and
// events any watcher received (checked against each other and against the writes whose
// outcome is unknown). A watcher must have received every committed write in its range from
// its start up to the last revision it saw (or its declared `until`).

import type {
  ReadRevisionOptions,
  RevisionObservation,
  RevisionedWrite,
  WatchCheckInput,
  WatchCheckResult,
  WatchViolation,
  WatcherHistory,
} from './types.js';

function slot(revision: number, key: string): string {
  return `${revision}\u0000${key}`;
}

function same(a: RevisionedWrite, b: RevisionedWrite): boolean {
  return a.type === b.type && (a.type === 'delete' || a.value === b.value);
}

function describe(w: RevisionedWrite): string {
  return w.type === 'delete' ? `delete ${JSON.stringify(w.key)}` : `put ${JSON.stringify(w.key)}=${JSON.stringify(w.value)}`;
}

function inRange(watcher: WatcherHistory, key: string): boolean {
  return watcher.prefix ? key.startsWith(watcher.key) : key === watcher.key;
}

export function checkWatches(input: WatchCheckInput): WatchCheckResult {
  const violations: WatchViolation[] = [];
  // Every committed (revision, key) with what was written there.
  const committed = new Map<string, RevisionedWrite>();
  for (const w of input.acknowledged) {
    const at = slot(w.revision, w.key);
    const prior = committed.get(at);
    if (prior !== undefined && !same(prior, w)) {
      violations.push({
        kind: 'mismatch',
        key: w.key,
        revision: w.revision,
        message: `two acknowledged writes at revision ${w.revision}: ${describe(prior)} and ${describe(w)}`,
      });
    }
    if (prior === undefined) committed.set(at, w);
  }
  const acknowledged = new Set(committed.keys());
  const unknown = input.unacknowledged ?? [];
  const explainedByUnknown = (e: RevisionedWrite): boolean =>
    unknown.some((u) => u.key === e.key && u.type === e.type && (e.type === 'delete' || u.value === e.value));

  // Events first pass: per watcher stream properties, and what they reveal as committed.
  for (const watcher of input.watchers) {
    const seen = new Set<string>();
    let last: number | undefined;
    let resumeAt = watcher.segments[0]?.fromRevision;
    watcher.segments.forEach((segment, s) => {
      if (s > 0 && segment.fromRevision !== resumeAt) {
        violations.push({
          kind: 'resume',
          watcher: watcher.watcher,
          revision: segment.fromRevision,
          message: `${watcher.watcher}: resumption ${s} starts at revision ${segment.fromRevision}, not ${resumeAt} (right after the last one seen)`,
        });
      }
      for (const e of segment.events) {
        const where = { watcher: watcher.watcher, key: e.key, revision: e.revision };
        if (!inRange(watcher, e.key)) {
          violations.push({ kind: 'range', ...where, message: `${watcher.watcher}: event for ${JSON.stringify(e.key)} outside its range` });
        }
        if (e.revision < segment.fromRevision) {
          violations.push({
            kind: 'order',
            ...where,
            message: `${watcher.watcher}: event at revision ${e.revision} on a connection opened from ${segment.fromRevision}`,
          });
        } else if (last !== undefined && e.revision < last) {
          violations.push({
            kind: 'order',
            ...where,
            message: `${watcher.watcher}: event at revision ${e.revision} after one at ${last}`,
          });
        }
        const at = slot(e.revision, e.key);
        if (seen.has(at)) {
          violations.push({
            kind: 'duplicate',
            ...where,
            message: `${watcher.watcher}: ${describe(e)} at revision ${e.revision} delivered twice`,
          });
        }
        seen.add(at);
        last = last === undefined ? e.revision : Math.max(last, e.revision);
        const known = committed.get(at);
        if (known !== undefined) {
          if (!same(known, e)) {
            violations.push({
              kind: 'mismatch',
              ...where,
              message: `${watcher.watcher}: got ${describe(e)} at revision ${e.revision}, but ${acknowledged.has(at) ? 'the acknowledged write was' : 'another watcher got'} ${describe(known)}`,
            });
          }
        } else {
          if (!explainedByUnknown(e)) {
            violations.push({
              kind: 'phantom',
              ...where,
              message: `${watcher.watcher}: got ${describe(e)} at revision ${e.revision}, which no client wrote`,
            });
          }
          committed.set(at, e);
        }
      }
      resumeAt = last === undefined ? segment.fromRevision : last + 1;
    });
  }

  // Second pass: gaps, against everything known to be committed.
  const all = [...committed.values()].sort((a, b) => a.revision - b.revision || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const watcher of input.watchers) {
    if (watcher.segments.length === 0) continue;
    const start = watcher.segments[0].fromRevision;
    const got = new Set<string>();
    let lastSeen = start - 1;
    for (const segment of watcher.segments) {
      for (const e of segment.events) {
        got.add(slot(e.revision, e.key));
        lastSeen = Math.max(lastSeen, e.revision);
      }
    }
    const end = watcher.until ?? lastSeen;
    const missing = all.filter((w) => w.revision >= start && w.revision <= end && inRange(watcher, w.key) && !got.has(slot(w.revision, w.key)));
    for (const w of missing) {
      violations.push({
        kind: 'gap',
        watcher: watcher.watcher,
        key: w.key,
        revision: w.revision,
        message: `${watcher.watcher}: never got ${describe(w)} at revision ${w.revision} (watching from ${start} up to ${end})`,
      });
    }
  }
  return { ok: violations.length === 0, violations };
}

/**
 * Revisions a client saw never go backwards: per client in call order (a client sends one
 * request at a time), and with `realTime` also across clients, for requests sent after
 * another's answer arrived.
 */
export function checkReadRevisions(observations: readonly RevisionObservation[], options: ReadRevisionOptions = {}): WatchCheckResult {
  const violations: WatchViolation[] = [];
  const byClient = new Map<string, RevisionObservation[]>();
  for (const o of observations) {
    const id = `${typeof o.client}:${String(o.client)}`;
    const list = byClient.get(id) ?? [];
    list.push(o);
    byClient.set(id, list);
  }
  for (const list of byClient.values()) {
    const sorted = [...list].sort((a, b) => a.call - b.call);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].revision < sorted[i - 1].revision) {
        violations.push({
          kind: 'backwards',
          client: sorted[i].client,
          revision: sorted[i].revision,
          message: `client ${String(sorted[i].client)}: revision ${sorted[i].revision} at ${sorted[i].call} after ${sorted[i - 1].revision} at ${sorted[i - 1].call}`,
        });
      }
    }
  }
  if (options.realTime) {
    // Sweep by time: the highest revision among requests answered before each call.
    const byCall = [...observations].sort((a, b) => a.call - b.call);
    const byRet = [...observations].sort((a, b) => a.ret - b.ret);
    let r = 0;
    let best: RevisionObservation | undefined;
    for (const o of byCall) {
      while (r < byRet.length && byRet[r].ret < o.call) {
        if (best === undefined || byRet[r].revision > best.revision) best = byRet[r];
        r++;
      }
      if (best !== undefined && o.revision < best.revision && best.client !== o.client) {
        violations.push({
          kind: 'backwards',
          client: o.client,
          revision: o.revision,
          message: `client ${String(o.client)}: revision ${o.revision} at ${o.call}, after client ${String(best.client)} saw ${best.revision} (answered at ${best.ret})`,
        });
      }
    }
  }
  return { ok: violations.length === 0, violations };
}
