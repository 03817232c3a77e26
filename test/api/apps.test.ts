import { describe, expect, it } from 'vitest';
import { isKnownKind, validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/x.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'warning');

const sts = (extra = '') => `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
        - name: main
          image: postgres:16
${extra}`;

const ds = (extra = '') => `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
        - name: main
          image: agent:1
${extra}`;

describe('StatefulSet and DaemonSet are accepted kinds', () => {
  it('knows both kinds in apps/v1', () => {
    expect(isKnownKind('apps/v1', 'StatefulSet')).toBe(true);
    expect(isKnownKind('apps/v1', 'DaemonSet')).toBe(true);
  });

  it('a StatefulSet gets Kubernetes defaults', () => {
    const r = one(sts(`  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        resources:
          requests:
            storage: 1Gi
`));
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    expect(r.object?.object.spec).toMatchObject({
      replicas: 3,
      serviceName: 'db',
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' } }],
      template: { spec: { restartPolicy: 'Always' } },
    });
  });

  it('a DaemonSet defaults to RollingUpdate with maxUnavailable 1 and maxSurge 0', () => {
    const r = one(ds());
    expect(r.diagnostics).toEqual([]);
    expect(r.object?.object.spec).toMatchObject({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } } });
  });

  it('a selector that does not match the template labels is an error at the selector', () => {
    const r = one(sts().replace('      app: db\n  template', '      app: other\n  template'));
    expect(errors(r)).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_API_SELECTOR', line: 10, column: 7 })]);
  });

  it('a bad podManagementPolicy and partition are errors at their fields', () => {
    const r = one(sts(`  podManagementPolicy: Sometimes
  updateStrategy:
    rollingUpdate:
      partition: -1
`));
    const e = errors(r);
    expect(e).toHaveLength(2);
    expect(e[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', line: 19, column: 3 });
    expect(e[0]!.message).toContain('OrderedReady, Parallel');
    expect(e[1]).toMatchObject({ line: 22, column: 7 });
  });

  it('OnDelete with rollingUpdate, and duplicate claim template names, are errors', () => {
    const r = one(sts(`  updateStrategy:
    type: OnDelete
    rollingUpdate:
      partition: 1
  volumeClaimTemplates:
    - metadata:
        name: data
    - metadata:
        name: data
`));
    const e = errors(r);
    expect(e.map((d) => [d.line, d.message])).toEqual([
      [21, expect.stringContaining('may not be set when spec.updateStrategy.type is OnDelete')],
      [27, expect.stringContaining('is already used by volumeClaimTemplates[0]')],
    ]);
  });

  it('a StatefulSet name over 52 characters is refused, saying why', () => {
    const r = one(sts().replace('name: db\nspec', `name: ${'a'.repeat(53)}\nspec`));
    expect(errors(r)).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_API_NAME', line: 4 })]);
    expect(errors(r)[0]!.message).toContain('63-character label value');
  });

  it('a DaemonSet restartPolicy other than Always is an error; maxSurge is a warning; maxUnavailable 0 an error', () => {
    const r = one(ds(`      restartPolicy: Never
  updateStrategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
`));
    expect(errors(r).map((d) => d.line)).toEqual([17, 21]);
    expect(warnings(r)).toEqual([expect.objectContaining({ line: 20, column: 7 })]);
    expect(warnings(r)[0]!.message).toContain('maxSurge');
  });

  it('a container may mount a volumeClaimTemplate by name; a mount of an unknown volume is still an error', () => {
    const mount = (name: string) => `          volumeMounts:
            - name: ${name}
              mountPath: /var/lib/data
  volumeClaimTemplates:
    - metadata:
        name: data
`;
    expect(errors(one(sts(mount('data'))))).toEqual([]);
    expect(errors(one(sts(mount('other')))).map((d) => [d.line, d.field])).toEqual([[20, 'spec.template.spec.containers[0].volumeMounts[0].name']]);
  });

  it('a field of no Kubernetes API version is an error naming the field; a real one Capstan does not model is a warning', () => {
    const r = one(ds('  templateGeneration: 3\n'));
    expect(errors(r).map((d) => [d.code, d.field])).toEqual([['CAPSTAN_ERR_API_UNKNOWN_FIELD', 'spec.templateGeneration']]);
    const real = one(ds().replace('    spec:\n      containers:', '    spec:\n      runtimeClassName: gvisor\n      containers:'));
    expect(errors(real)).toEqual([]);
    expect(warnings(real).map((d) => d.field)).toContain('spec.template.spec.runtimeClassName');
  });
});

describe('admission counts a StatefulSet replicas like a Deployment', () => {
  it('refuses replicas over --max-replicas at spec.replicas', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadDesired } = await import('../../src/render/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'capstan-apps-'));
    try {
      writeFileSync(join(dir, 'db.yaml'), sts().replace('replicas: 3', 'replicas: 5000'));
      const state = await loadDesired(dir, {});
      expect(state.errors).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_API_LIMIT', file: 'db.yaml', line: 7, field: 'spec.replicas' })]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
