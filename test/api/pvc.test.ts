import { describe, expect, it } from 'vitest';
import { isKnownKind, validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/data.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'warning');

const claim = (spec: string) => `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
${spec}`;

describe('PersistentVolumeClaim (v1)', () => {
  it('is a known kind and a plain claim passes with no diagnostics, defaulted to the default namespace', () => {
    expect(isKnownKind('v1', 'PersistentVolumeClaim')).toBe(true);
    const r = one(claim(`  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
  storageClassName: local
  volumeMode: Filesystem
`));
    expect(r.diagnostics).toEqual([]);
    expect(r.object?.object).toMatchObject({ kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'default' }, spec: { resources: { requests: { storage: '1Gi' } } } });
  });

  it('a bad access mode, storage quantity and volumeMode are errors at file:line:col', () => {
    const r = one(claim(`  accessModes: [ReadWriteAll]
  resources:
    requests:
      storage: lots
  volumeMode: Block
`));
    const e = errors(r);
    expect(r.object).toBeUndefined();
    expect(e.map((d) => [d.file, d.line, d.field])).toEqual([
      ['apps/data.yaml', 6, 'spec.accessModes[0]'],
      ['apps/data.yaml', 9, 'spec.resources.requests.storage'],
      ['apps/data.yaml', 10, 'spec.volumeMode'],
    ]);
    expect(e[0]!.message).toMatch(/must be one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod/);
    expect(e[0]!.column).toBe(17);
    expect(e[1]!.message).toMatch(/quantity/);
  });

  it('spec is required', () => {
    const r = one(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
`);
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_REQUIRED', field: 'spec' });
  });

  it('fields with no effect are warnings naming the field; the claim is still accepted', () => {
    const r = one(claim(`  accessModes: [ReadWriteMany]
  storageClassName: fast-ssd
  selector:
    matchLabels: { tier: db }
  dataSource:
    kind: VolumeSnapshot
    name: snap
`));
    expect(errors(r)).toEqual([]);
    expect(r.object).toBeDefined();
    const w = warnings(r);
    expect(w.map((d) => d.field)).toEqual(['spec.accessModes[0]', 'spec.storageClassName', 'spec.selector', 'spec.dataSource']);
    expect(w[0]!.message).toMatch(/local to the one node/);
    expect(w[1]!.message).toMatch(/"fast-ssd" has no effect/);
    expect(w[1]!.line).toBe(7);
  });

  it('an empty storage class and no class are the local volumes, with no warning', () => {
    expect(warnings(one(claim(`  storageClassName: ""\n  accessModes: [ReadWriteOnce]\n`)))).toEqual([]);
    expect(warnings(one(claim(`  accessModes: [ReadOnlyMany, ReadWriteOncePod]\n`)))).toEqual([]);
  });
});

describe('StatefulSet volumeClaimTemplates', () => {
  it('get the same warnings as a claim, at the template field; Block is warned (the volume is a folder)', () => {
    const r = one(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "db:16"}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        storageClassName: gp3
        volumeMode: Block
        resources: {requests: {storage: 1Gi}}
`);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => [d.field, d.line])).toEqual([
      ['spec.volumeClaimTemplates[0].spec.storageClassName', 14],
      ['spec.volumeClaimTemplates[0].spec.volumeMode', 15],
    ]);
    expect(warnings(r)[0]!.message).toMatch(/"gp3" has no effect/);
  });
});
