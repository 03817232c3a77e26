// HorizontalPodAutoscaler: schema, checks with positions, the checks across a commit and the
// normalised spec (v1 converted, Kubernetes' default behavior).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeHpaSpec } from '../../src/api/index.js';
import type { HorizontalPodAutoscaler } from '../../src/api/index.js';
import { loadDesired } from '../../src/render/index.js';
import { tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function load(files: Record<string, string>) {
  const dir = tempDir('capstan-hpa-');
  dirs.push(dir);
  writeFiles(dir, files);
  const state = await loadDesired(dir);
  // HPAs scale: none says otherwise.
  expect(state.warnings.filter((w) => w.message.includes('does not scale yet'))).toEqual([]);
  return state;
}

const deployment = (requests: boolean) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: web:1
${requests ? '          resources:\n            requests: { cpu: 100m }\n' : ''}`;

const HPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: { type: Utilization, averageUtilization: 50 }
    - type: Pods
      pods:
        metric: { name: capstan_requests_per_second }
        target: { type: AverageValue, averageValue: "100" }
`;

describe('HorizontalPodAutoscaler validation', () => {
  it('accepts an autoscaling/v2 HPA whose target is in the commit', async () => {
    const state = await load({ 'web.yaml': deployment(true), 'hpa.yaml': HPA });
    expect(state.errors).toEqual([]);
    expect(state.warnings).toEqual([]);
    expect(state.objects.map((o) => o.object.kind).sort()).toEqual(['Deployment', 'HorizontalPodAutoscaler']);
  });

  it('refuses a target missing from the commit, at scaleTargetRef.name', async () => {
    const state = await load({ 'hpa.yaml': HPA });
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_REFERENCE', file: 'hpa.yaml', line: 9, column: 5, field: 'spec.scaleTargetRef.name' });
    expect(state.errors[0]!.message).toContain('Deployment default/web, which is not in this commit');
  });

  it('warns (FailedGetResourceMetric) when the target sets no cpu request, at the metric', async () => {
    const state = await load({ 'web.yaml': deployment(false), 'hpa.yaml': HPA });
    expect(state.errors).toEqual([]);
    expect(state.warnings).toHaveLength(1);
    expect(state.warnings[0]).toMatchObject({ file: 'hpa.yaml', line: 13, column: 7, field: 'spec.metrics[0]' });
    expect(state.warnings[0]!.message).toContain('FailedGetResourceMetric');
    expect(state.warnings[0]!.message).toContain('container web');
  });

  it('refuses minReplicas over maxReplicas and a missing maxReplicas, at the field', async () => {
    const bad = HPA.replace('minReplicas: 2', 'minReplicas: 12');
    const state = await load({ 'web.yaml': deployment(true), 'hpa.yaml': bad });
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', line: 10, column: 3, field: 'spec.minReplicas' });
    const none = await load({ 'web.yaml': deployment(true), 'hpa.yaml': HPA.replace('  maxReplicas: 10\n', '') });
    expect(none.errors.map((e) => [e.code, e.field])).toEqual([['CAPSTAN_ERR_API_REQUIRED', 'spec.maxReplicas']]);
  });

  it('warns that External metrics are not supported and a Pods metric it has no figure for gets none', async () => {
    const text = `${HPA.replace('capstan_requests_per_second', 'queue_depth')}    - type: External
      external: { metric: { name: q } }
`;
    const state = await load({ 'web.yaml': deployment(true), 'hpa.yaml': text });
    expect(state.errors).toEqual([]);
    const messages = state.warnings.map((w) => `${w.line}:${w.column} ${w.message}`);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/^19:19 .*"queue_depth" is not a metric Capstan has/);
    expect(messages[1]).toMatch(/^21:7 spec\.metrics\[2\]: External metrics are not supported/);
  });

  it('refuses a Pods target of type Utilization and an unsupported target kind', async () => {
    const text = HPA.replace('target: { type: AverageValue, averageValue: "100" }', 'target: { type: Utilization, averageUtilization: 5 }').replace('kind: Deployment\n    name', 'kind: DaemonSet\n    name');
    const state = await load({ 'web.yaml': deployment(true), 'hpa.yaml': text });
    const codes = state.errors.map((e) => `${e.field} ${e.message}`);
    expect(codes.some((c) => c.startsWith('spec.scaleTargetRef.kind spec.scaleTargetRef.kind must be one of Deployment, StatefulSet, Rollout'))).toBe(true);
    expect(codes.some((c) => c.startsWith('spec.metrics[1].pods.target.type') && c.includes('must be AverageValue for this metric, got "Utilization"'))).toBe(true);
  });

  it('accepts autoscaling/v1 and converts targetCPUUtilizationPercentage', async () => {
    const v1 = `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  maxReplicas: 5
  targetCPUUtilizationPercentage: 70
`;
    const state = await load({ 'web.yaml': deployment(true), 'hpa.yaml': v1 });
    expect(state.errors).toEqual([]);
    const hpa = state.objects.find((o) => o.object.kind === 'HorizontalPodAutoscaler')!.object as HorizontalPodAutoscaler;
    const spec = normalizeHpaSpec(hpa);
    expect(spec.minReplicas).toBe(1);
    expect(spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
    expect(spec.behavior.scaleDown).toEqual({ stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] });
    expect(spec.behavior.scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(spec.behavior.scaleUp.policies).toEqual([
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ]);
  });
});
