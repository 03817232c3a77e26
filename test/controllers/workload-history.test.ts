import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../src/api/cluster.js';
import { MAX_HISTORY, planHistory } from '../../src/controllers/index.js';

const workload = { kind: 'Deployment', namespace: 'default', name: 'web' };
const keyOf = (n: number): string => `/h/${String(n).padStart(8, '0')}`;

function entry(revision: number, outcome: HistoryEntry['outcome']): { key: string; value: HistoryEntry; modRevision: number } {
  return {
    key: keyOf(revision),
    value: { ...workload, revision, images: ['web:1'], createdAt: '2026-01-01T00:00:00.000Z', outcome, trigger: 'push' },
    modRevision: 10 + revision,
  };
}

const puts = (ops: ReturnType<typeof planHistory>['ops']) =>
  ops.filter((o) => o.type === 'put').map((o) => [o.key, (JSON.parse(o.value as string) as HistoryEntry).outcome]);

describe('planHistory', () => {
  it('starts a Progressing entry and supersedes the one still Progressing', () => {
    const r = planHistory({ workload, entries: [entry(1, 'Healthy'), entry(2, 'Progressing')], revision: 3, starting: true, phase: 'Progressing', commit: 'c3', images: ['web:3'], now: 'T', keyOf });
    expect(puts(r.ops)).toEqual([
      [keyOf(2), 'Superseded'],
      [keyOf(3), 'Progressing'],
    ]);
    const created = JSON.parse((r.ops[1] as { value: string }).value) as HistoryEntry;
    expect(created).toMatchObject({ namespace: 'default', name: 'web', kind: 'Deployment', revision: 3, commit: 'c3', images: ['web:3'], author: '', message: '', trigger: 'push' });
    expect(r.compare).toContainEqual({ key: keyOf(2), target: 'modRevision', op: '==', value: 12 });
    expect(r.compare).toContainEqual({ key: keyOf(3), target: 'modRevision', op: '==', value: 0 });
  });

  it('follows the rollout to Healthy or Degraded and writes nothing in a steady state', () => {
    const healthy = planHistory({ workload, entries: [entry(1, 'Progressing')], revision: 1, starting: false, phase: 'Healthy', images: [], now: 'T', keyOf });
    expect(puts(healthy.ops)).toEqual([[keyOf(1), 'Healthy']]);
    const degraded = planHistory({ workload, entries: [entry(1, 'Progressing')], revision: 1, starting: false, phase: 'Degraded', images: [], now: 'T', keyOf });
    expect(puts(degraded.ops)).toEqual([[keyOf(1), 'Degraded']]);
    const steady = planHistory({ workload, entries: [entry(1, 'Healthy')], revision: 1, starting: false, phase: 'Healthy', images: [], now: 'T', keyOf });
    expect(steady.ops).toEqual([]);
    // A healthy workload losing pods later is not a failed rollout.
    const later = planHistory({ workload, entries: [entry(1, 'Healthy')], revision: 1, starting: false, phase: 'Degraded', images: [], now: 'T', keyOf });
    expect(later.ops).toEqual([]);
  });

  it('keeps only the newest entries', () => {
    const entries = Array.from({ length: MAX_HISTORY }, (_, i) => entry(i + 1, 'Healthy'));
    const r = planHistory({ workload, entries, revision: MAX_HISTORY + 1, starting: true, phase: 'Progressing', images: [], now: 'T', keyOf });
    expect(r.ops.filter((o) => o.type === 'delete').map((o) => o.key)).toEqual([keyOf(1)]);
    expect(new Set(r.ops.map((o) => o.key)).size).toBe(r.ops.length); // one op per key in a txn
  });

  it('a rollback starts its entry with its trigger and marks the entry it leaves RolledBack', () => {
    const r = planHistory({
      workload, entries: [entry(1, 'Healthy'), entry(2, 'Degraded')], revision: 3, starting: true, phase: 'Progressing', images: [], now: 'T', keyOf, trigger: 'rollback', rolledBackFrom: 2,
    });
    expect(puts(r.ops)).toEqual([
      [keyOf(2), 'RolledBack'],
      [keyOf(3), 'Progressing'],
    ]);
    expect(JSON.parse((r.ops[1] as { value: string }).value)).toMatchObject({ revision: 3, trigger: 'rollback' });
    // The first Healthy end is remembered, so a later RolledBack still counts as once healthy.
    const done = planHistory({ workload, entries: [entry(3, 'Progressing')], revision: 3, starting: false, phase: 'Healthy', images: [], now: 'T2', keyOf });
    expect(JSON.parse((done.ops[0] as { value: string }).value)).toMatchObject({ outcome: 'Healthy', healthyAt: 'T2' });
  });
});
