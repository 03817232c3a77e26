import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function deployment(podSpec: string) {
  const text = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
${podSpec.replace(/^/gm, '      ')}
`;
  const parsed = parseManifestFile({ path: 'apps/web.yaml', content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof deployment>) => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: ReturnType<typeof deployment>) => r.diagnostics.filter((d) => d.severity === 'warning');

describe('pod volumes and volumeMounts', () => {
  it('accepts every supported source with no warning for the plain ones', () => {
    const r = deployment(`containers:
- name: app
  image: app:1
  volumeMounts:
  - { name: cache, mountPath: /cache }
  - { name: config, mountPath: /etc/app, readOnly: true }
  - { name: creds, mountPath: /run/creds }
  - { name: data, mountPath: /data, subPath: app }
  - { name: info, mountPath: /etc/podinfo }
  - { name: all, mountPath: /all }
volumes:
- name: cache
  emptyDir: {}
- name: config
  configMap:
    name: app-config
    items: [{ key: app.yaml, path: conf/app.yaml, mode: 0o400 }]
    defaultMode: 420
- name: creds
  secret: { secretName: creds, optional: true }
- name: data
  persistentVolumeClaim: { claimName: data }
- name: info
  downwardAPI:
    items:
    - { path: labels, fieldRef: { fieldPath: metadata.labels } }
    - { path: app, fieldRef: { fieldPath: "metadata.labels['app']" } }
- name: all
  projected:
    sources:
    - configMap: { name: app-config }
    - secret: { name: creds }
    - downwardAPI: { items: [{ path: name, fieldRef: { fieldPath: metadata.name } }] }
`);
    // Every one of these sources is mounted by the agent: no warning.
    expect(r.diagnostics.map((d) => [d.severity, d.field, d.message])).toEqual([]);
    const spec = (r.object!.object as unknown as { spec: { template: { spec: { volumes: unknown[] } } } }).spec.template.spec;
    expect(spec.volumes).toHaveLength(6);
  });

  it('reports a mount of an undeclared volume, a relative mountPath and a duplicate volume at their lines', () => {
    const r = deployment(`containers:
- name: app
  image: app:1
  volumeMounts:
  - { name: missing, mountPath: /x }
  - { name: cache, mountPath: relative/path }
volumes:
- name: cache
  emptyDir: {}
- name: cache
  emptyDir: {}
`);
    const e = errors(r);
    expect(e.map((d) => d.message)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('volumeMounts[0].name "missing" names no volume'),
        expect.stringContaining('mountPath "relative/path" must be an absolute path'),
        expect.stringContaining('"cache" is already used by volumes[0]'),
      ]),
    );
    const missing = e.find((d) => d.message.includes('missing'))!;
    expect(missing).toMatchObject({ file: 'apps/web.yaml', line: 16 });
    expect(missing.column).toBeGreaterThan(0);
  });

  it('refuses a volume with no supported source or with two, and item paths leaving the volume', () => {
    const r = deployment(`containers:
- name: app
  image: app:1
volumes:
- name: nfs
  nfs: { server: x, path: /y }
- name: two
  emptyDir: {}
  hostPath: { path: /tmp }
- name: cm
  configMap:
    name: c
    items: [{ key: a, path: ../escape }]
`);
    const messages = errors(r).map((d) => d.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining('needs one volume source'),
        expect.stringContaining('sets emptyDir and hostPath'),
        expect.stringContaining('"../escape" must not contain ".."'),
      ]),
    );
  });

  it('warns that hostPath reaches the host and that medium Memory is a folder on disk', () => {
    const r = deployment(`containers:
- name: app
  image: app:1
volumes:
- name: host
  hostPath: { path: /var/log, type: Directory }
- name: mem
  emptyDir: { medium: Memory }
`);
    expect(errors(r)).toEqual([]);
    const w = warnings(r).map((d) => d.message);
    expect(w).toEqual(expect.arrayContaining([expect.stringContaining('hostPath reaches the host'), expect.stringContaining('not tmpfs')]));
  });

  it('reads 0644 as octal like Kubernetes; 644 without the zero is taken as octal with a warning, 400 as decimal with a warning', () => {
    const r = deployment(`containers:
- name: app
  image: app:1
volumes:
- name: a
  secret: { secretName: s, defaultMode: 0644, items: [{ key: k, path: k, mode: 0400 }, { key: l, path: l, mode: 400 }] }
- name: c
  configMap: { name: c, defaultMode: 644 }
- name: b
  configMap: { name: c, defaultMode: 999 }
`);
    expect(errors(r).map((d) => d.message)).toEqual([expect.stringContaining('999 is not a file mode')]);
    const w = warnings(r).map((d) => d.message);
    expect(w.filter((m) => /\.(mode|defaultMode) /.test(m))).toEqual([expect.stringContaining('400 is decimal (0o620); write 0400'), expect.stringContaining('644 is read as octal 0o644')]);
  });
});
