// The plan record's pure core: bounds on objects, fields and bytes said as `truncated`, long
// strings shown around their first difference, a Secret's data hidden even when the change
// does not say it is sensitive, and which older records go.
import { describe, expect, it } from 'vitest';
import { diffObjects, SENSITIVE, type Change } from '../../src/plan/index.js';
import { buildPlanRecord, PLAN_RECORD_MAX_BYTES, PLAN_RECORD_MAX_OBJECTS, parseSyncPlanKey, syncPlanKey } from '../../src/sync/index.js';
import { planRecordsToDelete, recordField } from '../../src/sync/plan-record.js';

const at = new Date('2026-12-01T10:00:00Z');
const summary = (n: number) => ({ create: 0, update: n, delete: 0, unchanged: 0 });

function update(name: string, fields: Change['fields'], kind = 'ConfigMap'): Change {
  return { action: 'update', apiVersion: 'v1', kind, namespace: 'default', name, fields };
}

const input = (changes: Change[]) => ({ sourceId: 's', location: '/repo', commit: 'a'.repeat(40), at, plan: { changes, summary: summary(changes.length) } });

describe('buildPlanRecord', () => {
  it('keeps a small plan whole', () => {
    const r = buildPlanRecord({ ...input([update('a', [{ path: 'data.X', from: '1', to: '2' }])]), previousCommit: 'b'.repeat(40), author: 'A <a@x>', message: 'm' });
    expect(r).toEqual({
      sourceId: 's', location: '/repo', commit: 'a'.repeat(40), previousCommit: 'b'.repeat(40), author: 'A <a@x>', message: 'm', at: at.toISOString(),
      summary: summary(1), changedObjects: 1, truncated: false,
      objects: [{ action: 'update', apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a', fields: [{ path: 'data.X', before: '"1"', after: '"2"' }] }],
    });
  });

  it(`keeps at most ${PLAN_RECORD_MAX_OBJECTS} objects and says it is truncated`, () => {
    const changes = Array.from({ length: 250 }, (_, i) => update(`cm-${i}`, [{ path: 'data.X', to: 'y' }]));
    const r = buildPlanRecord(input(changes));
    expect(r.objects).toHaveLength(PLAN_RECORD_MAX_OBJECTS);
    expect(r.objects[199]!.name).toBe('cm-199');
    expect(r).toMatchObject({ changedObjects: 250, truncated: true });
  });

  it(`stays within ${PLAN_RECORD_MAX_BYTES / 1024} KiB with large values and many fields`, () => {
    const big = 'x'.repeat(10_000);
    const changes = Array.from({ length: 120 }, (_, i) =>
      update(`cm-${i}`, Array.from({ length: 80 }, (_, j) => ({ path: `data.${'k'.repeat(500)}${j}`, from: `${big}${j}`, to: { nested: big } }))),
    );
    const r = buildPlanRecord(input(changes));
    const bytes = Buffer.byteLength(JSON.stringify(r));
    expect(bytes).toBeLessThanOrEqual(PLAN_RECORD_MAX_BYTES);
    expect(r.truncated).toBe(true);
    expect(r.objects.length).toBeGreaterThan(0);
    expect(r.objects.length).toBeLessThan(120);
    const first = r.objects[0]!;
    expect(first.fields).toHaveLength(50);
    expect(first.fieldsOmitted).toBe(30);
    for (const f of first.fields) {
      expect(f.path.length).toBeLessThanOrEqual(300);
      expect(f.before!.length).toBeLessThanOrEqual(200);
      expect(f.after!.length).toBeLessThanOrEqual(200);
    }
  });

  it('says truncated when only fields were left out', () => {
    const r = buildPlanRecord(input([update('a', Array.from({ length: 51 }, (_, j) => ({ path: `data.k${j}`, to: 'v' })))]));
    expect(r).toMatchObject({ truncated: true, changedObjects: 1 });
    expect(r.objects[0]!.fieldsOmitted).toBe(1);
  });

  it('shows two long strings from a little before where they differ', () => {
    const script = (v: string) => `${'const a = 1;\n'.repeat(30)}res.end(JSON.stringify({ version: '${v}' }));\n`;
    const f = recordField('Deployment', { path: 'spec.template.spec.containers[0].args[0]', from: script('v1'), to: script('v2') });
    expect(f.before).toMatch(/^….*version: 'v1'/);
    expect(f.after).toMatch(/^….*version: 'v2'/);
    expect(f.before!.length).toBeLessThanOrEqual(200);
  });

  it("hides a Secret's data even when the change does not say it is sensitive", () => {
    const secret = update('db', [
      { path: 'data.password', from: 'c2VjcmV0', to: 'bmV3' },
      { path: 'stringData', to: { token: 'plain' } },
      { path: 'metadata.labels.app', from: 'db', to: 'db2' },
      { path: 'type', from: 'Opaque', to: 'kubernetes.io/tls' },
      { path: 'extra', to: 'anything else' },
    ], 'Secret');
    const r = buildPlanRecord(input([secret]));
    expect(r.objects[0]!.fields).toEqual([
      { path: 'data.password', before: SENSITIVE, after: SENSITIVE, sensitive: true },
      { path: 'stringData', after: SENSITIVE, sensitive: true },
      { path: 'metadata.labels.app', before: '"db"', after: '"db2"' },
      { path: 'type', before: '"Opaque"', after: '"kubernetes.io/tls"' },
      { path: 'extra', after: SENSITIVE, sensitive: true },
    ]);
    expect(JSON.stringify(r)).not.toMatch(/c2VjcmV0|bmV3|plain|anything else/);
  });

  it("keeps the plan diff's own placeholder for a created Secret", () => {
    const created: Change = {
      action: 'create', apiVersion: 'v1', kind: 'Secret', namespace: 'default', name: 'db',
      fields: diffObjects(undefined, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, data: { password: 'c2VjcmV0' } } as never),
    };
    const text = JSON.stringify(buildPlanRecord(input([created])));
    expect(text).not.toContain('c2VjcmV0');
    expect(text).toContain(SENSITIVE);
  });
});

describe('record keys and pruning', () => {
  it('parses the keys it makes, with a source id that has a slash', () => {
    expect(parseSyncPlanKey(syncPlanKey('team/app', 'abc'))).toEqual({ sourceId: 'team/app', commit: 'abc' });
    expect(parseSyncPlanKey('/capstan/sync/default')).toBeUndefined();
    expect(parseSyncPlanKey('/capstan/syncplans/abc')).toBeUndefined();
  });

  it('deletes all but the newest ones, counting the new record', () => {
    const existing = Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, modRevision: 100 + i }));
    const gone = planRecordsToDelete(existing, 'new', 20);
    expect(gone.sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].sort());
    // Writing a commit already kept replaces it: it does not count twice.
    expect(planRecordsToDelete(existing.slice(0, 20), 'k3', 20)).toEqual([]);
    expect(planRecordsToDelete([], 'new', 20)).toEqual([]);
  });
});
