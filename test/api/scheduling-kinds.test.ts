import { describe, expect, it } from 'vitest';
import { isKnownKind, validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/x.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const brief = (r: ReturnType<typeof one>) => r.diagnostics.map((d) => [d.severity, d.field]);

const deployment = (podSpec: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
${podSpec}
      containers:
        - {name: main, image: nginx}
`;

describe('pod scheduling fields', () => {
  it('accepts inter-pod affinity, topology spread, schedulerName and priority without a warning', () => {
    const r = one(
      deployment(`      schedulerName: default-scheduler
      priorityClassName: high-priority
      preemptionPolicy: Never
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
              topologyKey: kubernetes.io/hostname
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 50
              podAffinityTerm: {labelSelector: {matchLabels: {app: web}}, topologyKey: topology.kubernetes.io/zone, namespaces: [prod], namespaceSelector: {}}
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {labelSelector: {matchLabels: {app: cache}}, topologyKey: topology.kubernetes.io/zone}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: DoNotSchedule
          minDomains: 3
          nodeAffinityPolicy: Honor
          nodeTaintsPolicy: Ignore
          matchLabelKeys: [pod-template-hash]
          labelSelector: {matchLabels: {app: web}}`),
    );
    expect(brief(r)).toEqual([]);
  });

  it('names the field of a bad value, and warns of affinity fields it does not apply', () => {
    const r = one(
      deployment(`      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {labelSelector: {matchLabels: {app: cache}}, matchLabelKeys: [rev]}
      topologySpreadConstraints:
        - {maxSkew: 0, topologyKey: zone, whenUnsatisfiable: Sometimes}`),
    );
    expect(brief(r)).toEqual([
      ['error', 'spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey'],
      ['warning', 'spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys'],
      ['error', 'spec.template.spec.topologySpreadConstraints[0].maxSkew'],
      ['error', 'spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable'],
    ]);
  });
});

describe('PriorityClass and PodDisruptionBudget', () => {
  it('are known kinds', () => {
    expect(isKnownKind('scheduling.k8s.io/v1', 'PriorityClass')).toBe(true);
    expect(isKnownKind('policy/v1', 'PodDisruptionBudget')).toBe(true);
  });

  it('a PriorityClass needs a value within the user range', () => {
    const pc = (extra: string) => `apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\n${extra}`;
    expect(brief(one(pc('value: 1000\nglobalDefault: true\npreemptionPolicy: Never\n')))).toEqual([]);
    expect(brief(one(pc('globalDefault: true\n')))).toEqual([['error', 'value']]);
    expect(brief(one(pc('value: 2000000000\n')))).toEqual([['error', 'value']]);
  });

  it('a PodDisruptionBudget takes minAvailable or maxUnavailable, not both', () => {
    const pdb = (spec: string) => `apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n${spec}`;
    expect(brief(one(pdb('  minAvailable: 50%\n')))).toEqual([]);
    expect(brief(one(pdb('  maxUnavailable: 1\n')))).toEqual([]);
    const both = one(pdb('  minAvailable: 1\n  maxUnavailable: 1\n'));
    expect(both.diagnostics.map((d) => [d.field, d.message])).toEqual([['spec.maxUnavailable', 'set minAvailable or maxUnavailable, not both']]);
    expect(brief(one(pdb('  unhealthyPodEvictionPolicy: AlwaysAllow\n')))).toEqual([['warning', 'spec.unhealthyPodEvictionPolicy']]);
  });
});
