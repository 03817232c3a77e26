// Rollout history (`capstan history`): one entry per revision number. A new revision starts
// an entry as Progressing and supersedes any entry still Progressing; the entry follows the
// rollout to Healthy or Degraded; only the newest MAX_HISTORY entries are kept. A rollback
// (to an older revision's template, through Git or live) marks the entry it leaves RolledBack.
import type { HistoryEntry, WorkloadPhase } from '../../api/cluster.js';
import type { Compare, TxnOp } from '../../store/index.js';
import type { Stored } from './observed.js';

export const MAX_HISTORY = 100;

/** What starts a history entry (contract: push, rollback, retry, live rollback). */
export type HistoryTrigger = HistoryEntry['trigger'];

/**
 * An entry as stored: the contract's fields plus `healthyAt`, when the rollout first ended
 * Healthy, which outlives a later RolledBack outcome (the rollback window reads it).
 */
export type StoredHistoryEntry = HistoryEntry & { healthyAt?: string };

/** The entry's revision ended Healthy at some point. */
export function wasHealthy(e: StoredHistoryEntry | undefined): boolean {
  return e !== undefined && (e.outcome === 'Healthy' || e.healthyAt !== undefined);
}

export interface HistoryInput {
  /** The workload the entries belong to. */
  workload: { kind: string; namespace: string; name: string };
  entries: readonly Stored<HistoryEntry>[];
  /** The current revision number. */
  revision: number;
  /** The current revision was created or renumbered in this pass. */
  starting: boolean;
  phase: WorkloadPhase;
  commit?: string;
  /** The commit's author and first message line (empty when unknown). */
  author?: string;
  message?: string;
  images: string[];
  /** ISO time. */
  now: string;
  keyOf(revision: number): string;
  /** The current revision was aborted (canary, blue-green): its entry says Aborted. */
  aborted?: boolean;
  /** Why a starting entry starts (default push). */
  trigger?: HistoryTrigger;
  /** A rollback starts: the entry of this revision number (the one left) becomes RolledBack. */
  rolledBackFrom?: number;
}

export function planHistory(input: HistoryInput): { compare: Compare[]; ops: TxnOp[] } {
  const compare: Compare[] = [];
  const ops: TxnOp[] = [];
  const written = new Set<string>();
  const write = (item: Stored<HistoryEntry> | undefined, key: string, entry: HistoryEntry): void => {
    written.add(key);
    compare.push({ key, target: 'modRevision', op: '==', value: item?.modRevision ?? 0 });
    ops.push({ type: 'put', key, value: JSON.stringify(entry) });
  };
  const byNumber = new Map(input.entries.map((e) => [e.value.revision, e]));
  let current = byNumber.get(input.revision);

  if (input.starting || !current) {
    for (const e of input.entries) {
      if (e.value.revision === input.revision) continue;
      if (input.starting && e.value.revision === input.rolledBackFrom) {
        if (e.value.outcome !== 'RolledBack') write(e, e.key, { ...e.value, outcome: 'RolledBack', finishedAt: e.value.finishedAt ?? input.now });
        continue;
      }
      if (e.value.outcome !== 'Progressing') continue;
      write(e, e.key, { ...e.value, outcome: 'Superseded', finishedAt: input.now });
    }
    const entry: HistoryEntry = {
      namespace: input.workload.namespace,
      name: input.workload.name,
      kind: input.workload.kind,
      revision: input.revision,
      ...(input.commit !== undefined ? { commit: input.commit } : {}),
      author: input.author ?? '',
      message: input.message ?? '',
      images: input.images,
      createdAt: input.now,
      outcome: 'Progressing',
      trigger: input.trigger ?? 'push',
    };
    // A restarted count after a deletion may find an old entry under this number: replace it.
    write(current, input.keyOf(input.revision), entry);
    current = { key: input.keyOf(input.revision), value: entry, modRevision: -1 };
  }

  // The current entry follows the rollout; Degraded can still turn Healthy if the pods recover.
  const { outcome } = current.value;
  let next: HistoryEntry['outcome'] | undefined;
  if (input.aborted && (outcome === 'Progressing' || outcome === 'Degraded')) next = 'Aborted';
  else if (input.phase === 'Healthy' && (outcome === 'Progressing' || outcome === 'Degraded' || outcome === 'Aborted')) next = 'Healthy';
  else if (input.phase === 'Degraded' && outcome === 'Progressing' && !input.aborted) next = 'Degraded';
  if (next) {
    const entry: StoredHistoryEntry = { ...current.value, outcome: next, finishedAt: input.now };
    if (next === 'Healthy' && (current.value as StoredHistoryEntry).healthyAt === undefined) entry.healthyAt = input.now;
    if (current.modRevision === -1) {
      // Written above in this pass: replace that put instead of adding a second one.
      ops[ops.length - 1] = { type: 'put', key: current.key, value: JSON.stringify(entry) };
    } else {
      write(current, current.key, entry);
    }
  }

  // Keep the newest entries (the one written now included).
  const numbers = new Set(input.entries.map((e) => e.value.revision));
  numbers.add(input.revision);
  const excess = numbers.size - MAX_HISTORY;
  if (excess > 0) {
    const oldest = [...input.entries].sort((a, b) => a.value.revision - b.value.revision).slice(0, excess);
    for (const e of oldest) {
      if (e.value.revision === input.revision || written.has(e.key)) continue;
      compare.push({ key: e.key, target: 'modRevision', op: '==', value: e.modRevision });
      ops.push({ type: 'delete', key: e.key });
    }
  }
  return { compare, ops };
}
