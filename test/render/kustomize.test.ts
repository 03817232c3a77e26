// Kustomize folders rendered through the same path a sync takes (loadDesired on a folder):
// the argocd-example-apps style guestbook, a base with dev and prod overlays, and errors at
// the kustomization field that caused them.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../../src/render/index.js';
import { tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function folder(files: Record<string, string>): string {
  const dir = tempDir('capstan-kustomize-');
  dirs.push(dir);
  writeFiles(dir, files);
  return dir;
}

type Obj = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

describe('kustomize', () => {
  it('renders top-level kustomizations only, with prefixes, namespaces, patches, images and generators', async () => {
    const s = await loadDesired('test/fixtures/kustomize');
    expect(s.errors).toEqual([]);
    const ids = s.objects.map((o) => `${o.object.kind} ${o.object.metadata.namespace}/${o.object.metadata.name}`).sort();
    // The base is used by both overlays, so it is not rendered on its own, and its files are
    // not read again as plain manifests (no "default/web").
    expect(ids).toEqual([
      expect.stringMatching(/^ConfigMap dev\/dev-web-config-[a-z0-9]{10}$/),
      expect.stringMatching(/^ConfigMap prod\/web-config-prod-[a-z0-9]{10}$/),
      'Deployment default/kustomize-guestbook-ui',
      'Deployment dev/dev-web',
      'Deployment prod/web-prod',
      'Namespace default/dev',
      'Namespace default/prod',
      'Service default/kustomize-guestbook-ui',
      'Service dev/dev-web',
      'Service prod/web-prod',
    ]);
    const get = (kind: string, ns: string) => s.objects.find((o) => o.object.kind === kind && o.object.metadata.namespace === ns)!.object as unknown as Obj;

    const dev = get('Deployment', 'dev');
    const devConfig = get('ConfigMap', 'dev');
    // commonLabels reach the selector and the template, as kustomize does.
    expect(dev.spec.selector.matchLabels).toEqual({ tier: 'frontend', app: 'web' });
    expect(dev.spec.template.metadata.labels).toEqual({ tier: 'frontend', app: 'web' });
    // A strategic merge patch: replicas replaced, env merged by name.
    expect(dev.spec.replicas).toBe(2);
    expect(dev.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).toEqual(['GREETING', 'MODE']);
    // The generated, hash-suffixed name replaces every reference to it.
    expect(dev.spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.name).toBe(devConfig.metadata.name);
    expect(dev.spec.template.spec.volumes[0].configMap.name).toBe(devConfig.metadata.name);
    // behavior: merge over the base's generator; the overlay's env file wins.
    expect(devConfig.data).toEqual({ GREETING: 'hello from dev', LOG_LEVEL: 'debug', 'index.html': '<h1>hello</h1>\n' });

    const prod = get('Deployment', 'prod');
    const prodConfig = get('ConfigMap', 'prod');
    expect(prod.spec.replicas).toBe(3);
    expect(prod.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    expect(prod.spec.template.spec.containers[0].resources).toEqual({ limits: { memory: '128Mi' } });
    expect(prod.spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.name).toBe(prodConfig.metadata.name);
    // Different content, different suffix.
    expect(prodConfig.metadata.name.slice(-10)).not.toBe(devConfig.metadata.name.slice(-10));
    // Rendered objects keep their own file and line for messages.
    expect(s.objects.find((o) => o.object.metadata.name === 'dev-web' && o.object.kind === 'Deployment')!.source).toMatchObject({ file: 'base/deployment.yaml', line: 1 });
  });

  it('gives a generated name a suffix that changes with the content, and none with disableNameSuffixHash', async () => {
    const files = (greeting: string, disable = false) => ({
      'app/kustomization.yaml': `configMapGenerator:\n  - name: cfg\n    literals: [GREETING=${greeting}]\n${disable ? 'generatorOptions:\n  disableNameSuffixHash: true\n' : ''}`,
    });
    const name = async (f: Record<string, string>) => (await loadDesired(folder(f))).objects.map((o) => o.object.metadata.name);
    const [a] = await name(files('a'));
    const [again] = await name(files('a'));
    const [b] = await name(files('b'));
    expect(a).toMatch(/^cfg-[a-z0-9]{10}$/);
    expect(again).toBe(a);
    expect(b).not.toBe(a);
    expect(await name(files('a', true))).toEqual(['cfg']);
  });

  it('finds a kustomization named `Kustomization` (no extension) as a top-level root', async () => {
    const s = await loadDesired(
      folder({
        'app/Kustomization': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: k-\nresources: [cm.yaml]\n',
        'app/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata: { a: "1" }\n',
      }),
    );
    expect(s.errors).toEqual([]);
    expect(s.objects.map((o) => o.object.metadata.name)).toEqual(['k-cfg']);
  });

  it('reports a missing resource, a remote base and a path out of the repository at the kustomization line', async () => {
    const s = await loadDesired(
      folder({
        'app/kustomization.yaml': 'resources:\n  - missing.yaml\n  - github.com/org/repo//base?ref=v1\n  - ../../outside\n',
      }),
    );
    const found = s.errors.map((e) => [e.file, e.line, e.code]);
    expect(found).toEqual([
      ['app/kustomization.yaml', 2, 'CAPSTAN_ERR_KUSTOMIZE_RESOURCE'],
      ['app/kustomization.yaml', 3, 'CAPSTAN_ERR_KUSTOMIZE_RESOURCE'],
      ['app/kustomization.yaml', 4, 'CAPSTAN_ERR_KUSTOMIZE_RESOURCE'],
    ]);
    expect(s.errors[1]!.message).toMatch(/remote/i);
    expect(s.objects).toEqual([]);
  });

  it('reports a patch whose target is not there and a JSON patch that does not apply', async () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: "web:1"}]}\n';
    const s = await loadDesired(
      folder({
        'app/d.yaml': deployment,
        'app/kustomization.yaml':
          'resources: [d.yaml]\npatches:\n  - target: {kind: Deployment, name: nope}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 2\n  - target: {kind: Deployment, name: web}\n    patch: |-\n      - op: replace\n        path: /spec/template/spec/containers/5/image\n        value: x\n',
      }),
    );
    expect(s.errors.map((e) => [e.file, e.code])).toEqual([
      ['app/kustomization.yaml', 'CAPSTAN_ERR_KUSTOMIZE_PATCH'],
      ['app/kustomization.yaml', 'CAPSTAN_ERR_KUSTOMIZE_PATCH'],
    ]);
    expect(s.errors.map((e) => e.line)).toEqual([3, 8]);
  });

  it('warns about kustomization fields it does not implement, naming them', async () => {
    const s = await loadDesired(folder({ 'app/kustomization.yaml': 'replacements: []\nconfigMapGenerator:\n  - name: c\n    literals: [A=1]\n' }));
    expect(s.errors).toEqual([]);
    expect(s.warnings.some((w) => w.file === 'app/kustomization.yaml' && w.line === 1 && w.message.includes('replacements'))).toBe(true);
    expect(s.objects).toHaveLength(1);
  });
});
