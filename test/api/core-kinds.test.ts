import { describe, expect, it } from 'vitest';
import { isKnownKind, validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/x.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');
// Pods and Jobs from Git run (controllers/barepod, controllers/job): no 'not run yet' warning is left.
const NOT_RUN_YET = /not run yet/;
const notRunYet = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => NOT_RUN_YET.test(d.message));
const warnings = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'warning' && !NOT_RUN_YET.test(d.message));

describe('Namespace, ServiceAccount, Pod and Job are accepted kinds', () => {
  it('knows the four kinds', () => {
    expect(isKnownKind('v1', 'Namespace')).toBe(true);
    expect(isKnownKind('v1', 'ServiceAccount')).toBe(true);
    expect(isKnownKind('v1', 'Pod')).toBe(true);
    expect(isKnownKind('batch/v1', 'Job')).toBe(true);
  });

  it('stores a Namespace with its labels and annotations', () => {
    const r = one(`apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    team: a
  annotations:
    owner: ops
`);
    expect(r.diagnostics).toEqual([]);
    expect(r.object?.object.metadata).toMatchObject({ name: 'team-a', labels: { team: 'a' }, annotations: { owner: 'ops' } });
  });

  it('a Namespace name must be a DNS label', () => {
    const r = one(`apiVersion: v1
kind: Namespace
metadata:
  name: Team_A
`);
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_NAME', line: 4 });
  });
});

describe('ServiceAccount', () => {
  it('warns once that tokens are not mounted, at the object', () => {
    const r = one(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: builder
imagePullSecrets:
  - name: regcred
secrets:
  - name: token
`, 'sa.yaml');
    expect(errors(r)).toEqual([]);
    expect(r.object).toBeDefined();
    const w = warnings(r);
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toContain('ServiceAccount tokens are not mounted into pods');
    expect(w[0]).toMatchObject({ file: 'sa.yaml', line: 2, column: 1 });
  });

  it('automountServiceAccountToken is ignored with the same warning, at that field', () => {
    const r = one(`apiVersion: v1
kind: ServiceAccount
metadata:
  name: builder
automountServiceAccountToken: false
`);
    const w = warnings(r);
    expect(w).toHaveLength(1);
    expect(w[0]!.message).toMatch(/ServiceAccount tokens are not mounted into pods: automountServiceAccountToken is ignored/);
    expect(w[0]).toMatchObject({ line: 5, column: 1 });
  });
});

describe('Pod', () => {
  it('a bare Pod gets the pod defaults (restartPolicy Always)', () => {
    const r = one(`apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: sh
      image: busybox:1.36
`);
    expect(notRunYet(r)).toEqual([]);
    expect(r.diagnostics.filter((d) => !NOT_RUN_YET.test(d.message))).toEqual([]);
    expect(r.object?.object).toMatchObject({ spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 30, containers: [{ imagePullPolicy: 'IfNotPresent' }] } });
  });

  it('reports a bad container field at its line', () => {
    const r = one(`apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: sh
      image: 7
`);
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', line: 8 });
  });

  it('requires spec', () => {
    const r = one(`apiVersion: v1
kind: Pod
metadata:
  name: debug
`);
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_REQUIRED' });
  });
});

const JOB = (extra: string, restart = 'Never') => `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
${extra}  template:
    spec:
      restartPolicy: ${restart}
      containers:
        - name: m
          image: busybox:1.36
`;

describe('Job', () => {
  it('defaults completions, parallelism, backoffLimit and completionMode like Kubernetes', () => {
    const r = one(JOB(''));
    expect(notRunYet(r)).toEqual([]);
    expect(r.diagnostics.filter((d) => !NOT_RUN_YET.test(d.message))).toEqual([]);
    expect(r.object?.object).toMatchObject({ spec: { completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed' } });
  });

  it('accepts completions, parallelism, backoffLimit, activeDeadlineSeconds and ttlSecondsAfterFinished', () => {
    const r = one(JOB('  completions: 3\n  parallelism: 2\n  backoffLimit: 1\n  activeDeadlineSeconds: 60\n  ttlSecondsAfterFinished: 30\n'));
    expect(notRunYet(r)).toEqual([]);
    expect(r.diagnostics.filter((d) => !NOT_RUN_YET.test(d.message))).toEqual([]);
    expect(r.object?.object).toMatchObject({ spec: { completions: 3, parallelism: 2, backoffLimit: 1, activeDeadlineSeconds: 60, ttlSecondsAfterFinished: 30 } });
  });

  it('requires restartPolicy OnFailure or Never', () => {
    const always = one(JOB('', 'Always'));
    expect(errors(always)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', line: 8, field: 'spec.template.spec.restartPolicy' });
    const missing = one(JOB('').replace('      restartPolicy: Never\n', ''));
    expect(errors(missing)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_REQUIRED' });
  });

  it('accepts Indexed completion without a warning (the Job controller runs it)', () => {
    const r = one(JOB('  completionMode: Indexed\n'));
    expect(errors(r)).toEqual([]);
    expect(warnings(r)).toEqual([]);
    expect(r.object?.object).toMatchObject({ spec: { completionMode: 'Indexed' } });
  });

  it('a negative backoffLimit is an error at its line', () => {
    const r = one(JOB('  backoffLimit: -1\n'));
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_SCHEMA', line: 6 });
  });

  it('a Job name is at most 63 characters (the pods carry it as a label value)', () => {
    const r = one(JOB('').replace('name: migrate', `name: ${'j'.repeat(64)}`));
    expect(errors(r)[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_NAME' });
    expect(errors(r)[0]!.message).toContain('63');
  });
});
