import { describe, expect, it } from 'vitest';
import type { ManifestObject, SourcedObject } from '../../src/api/types.js';
import { computePlan, diffObjects, renderMarkdown, renderText, SENSITIVE } from '../../src/plan/index.js';

function deployment(image: string, extra: Record<string, unknown> = {}): ManifestObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 10,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
      },
      ...extra,
    },
  };
}

function sourced(object: ManifestObject, file = 'apps/web.yaml'): SourcedObject {
  return { object, source: { file, index: 0, line: 1, column: 1 } };
}

describe('diffObjects', () => {
  it('reports the exact field path of a changed image', () => {
    expect(diffObjects(deployment('web:1'), deployment('web:2'))).toEqual([
      { path: 'spec.template.spec.containers[0].image', from: 'web:1', to: 'web:2' },
    ]);
  });

  it('ignores key order and capstan.dev annotations', () => {
    const a = deployment('web:1');
    const b = JSON.parse(JSON.stringify(a)) as ManifestObject;
    b.metadata = { annotations: { 'capstan.dev/phase': 'Healthy', 'capstan.dev/revision': '4' }, ...b.metadata };
    const reordered = Object.fromEntries(Object.entries(b).reverse()) as ManifestObject;
    expect(diffObjects(a, reordered)).toEqual([]);
  });

  it('still reports other annotations', () => {
    const b = deployment('web:1');
    b.metadata.annotations = { 'capstan.dev/phase': 'Healthy', owner: 'team-a' };
    expect(diffObjects(deployment('web:1'), b)).toEqual([{ path: 'metadata.annotations', to: { owner: 'team-a' } }]);
  });

  it('matches containers by name, so inserting one shows only the insertion', () => {
    const a = deployment('web:1');
    const b = deployment('web:1');
    const spec = (b.spec as any).template.spec;
    spec.containers = [{ name: 'sidecar', image: 'proxy:1' }, ...spec.containers];
    expect(diffObjects(a, b)).toEqual([
      { path: 'spec.template.spec.containers[0]', to: { name: 'sidecar', image: 'proxy:1' } },
    ]);
  });

  it('never shows secret data, but still reports that it changed', () => {
    const secret = (v: string): ManifestObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'default' },
      data: { password: v },
    });
    const changes = diffObjects(secret('aHVudGVyMg=='), secret('c2VjcmV0'));
    expect(changes).toEqual([{ path: 'data.password', from: SENSITIVE, to: SENSITIVE, sensitive: true }]);
    const created = diffObjects(undefined, secret('aHVudGVyMg=='));
    expect(JSON.stringify(created)).not.toContain('aHVudGVyMg==');
  });
});

describe('computePlan', () => {
  const base = { source: { location: 'repo' }, errors: [], warnings: [], base: { kind: 'empty' as const } };

  it('creates, updates and deletes, and counts unchanged objects', () => {
    const svc: ManifestObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }] } };
    const old: ManifestObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: 'default' }, data: {} };
    const plan = computePlan({
      ...base,
      desired: [sourced(deployment('web:2')), sourced(svc), sourced({ ...svc, metadata: { name: 'new', namespace: 'default' } })],
      current: [sourced(deployment('web:1')), sourced(svc), sourced(old)],
    });
    expect(plan.summary).toEqual({ create: 1, update: 1, delete: 1, unchanged: 1 });
    expect(plan.changes.map((c) => `${c.action} ${c.kind}/${c.name}`)).toEqual([
      'create Service/new',
      'update Deployment/web',
      'delete ConfigMap/old',
    ]);
  });

  it('does not call an object of a file with errors a deletion: it warns that it was not compared', () => {
    const cm: ManifestObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'gone', namespace: 'default' }, data: {} };
    const plan = computePlan({
      ...base,
      errors: [{ severity: 'error', code: 'CAPSTAN_ERR_API_SCHEMA', message: 'spec.replicas must be an integer', file: 'apps/web.yaml', line: 6, column: 3 }],
      desired: [],
      current: [sourced(deployment('web:1')), sourced(cm, 'apps/config.yaml')],
    });
    // The ConfigMap's file is fine and it is gone from it: a deletion. The Deployment's file is broken.
    expect(plan.changes.map((c) => `${c.action} ${c.kind}/${c.name}`)).toEqual(['delete ConfigMap/gone']);
    expect(plan.warnings).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_PLAN_NOT_COMPARED', file: 'apps/web.yaml', message: expect.stringContaining('Deployment/default/web') })]);
  });

  it('previews a rolling update with Kubernetes rounding (10 pods, 25%/25% → surge 3, unavailable 2)', () => {
    const plan = computePlan({ ...base, desired: [sourced(deployment('web:2'))], current: [sourced(deployment('web:1'))] });
    const rollout = plan.changes[0]!.rollout!;
    expect(rollout).toMatchObject({ strategy: 'RollingUpdate', maxSurge: 3, maxUnavailable: 2, replicas: 10 });
  });

  it('treats a replica change as a scale, not a new revision', () => {
    const plan = computePlan({
      ...base,
      desired: [sourced(deployment('web:1', { replicas: 4 }))],
      current: [sourced(deployment('web:1'))],
    });
    expect(plan.changes[0]!.rollout).toMatchObject({ scaleOnly: true });
  });

  it('previews canary steps with pod counts and marks manual pauses', () => {
    const rollout = (steps: unknown[], image: string): ManifestObject => ({
      ...deployment(image, { replicas: 4, strategy: { canary: { steps } } }),
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
    });
    const steps = [{ setWeight: 20 }, { pause: { duration: 30 } }, { setWeight: 50 }, { pause: {} }];
    const plan = computePlan({ ...base, desired: [sourced(rollout(steps, 'api:2'))], current: [sourced(rollout(steps, 'api:1'))] });
    const r = plan.changes[0]!.rollout!;
    expect(r.strategy).toBe('Canary');
    expect(r.manualSteps).toBe(true);
    expect(r.steps[0]).toContain('1 canary pod');
    expect(r.steps[1]).toBe('pause 30s');
    expect(r.steps[2]).toContain('2 canary pods');
  });

  it('renders deletions in bold in Markdown and lists every change in text', () => {
    const old: ManifestObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: 'default' }, data: {} };
    const plan = computePlan({ ...base, desired: [sourced(deployment('web:2'))], current: [sourced(deployment('web:1')), sourced(old, 'config/old.yaml')] });
    const md = renderMarkdown(plan);
    expect(md).toContain('**🗑️ DELETE**');
    expect(md).toContain('**default/old**');
    expect(md).toContain('- spec.template.spec.containers[0].image: "web:1"');
    const text = renderText(plan);
    expect(text).toContain('~ spec.template.spec.containers[0].image: "web:1" → "web:2"');
    expect(text).toContain('- ConfigMap default/old');
    expect(text).toContain('Plan: 0 to create, 1 to update, 1 to delete, 0 unchanged.');
  });
});
