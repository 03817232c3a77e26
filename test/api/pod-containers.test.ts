import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function one(text: string, path = 'apps/web.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return validateDocument(parsed.documents[0]!);
}
const errors = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'error');
const warnings = (r: ReturnType<typeof one>) => r.diagnostics.filter((d) => d.severity === 'warning');

const deployment = (podSpec: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
${podSpec}`;

describe('initContainers, securityContext, imagePullSecrets and service accounts in a pod spec', () => {
  it('accepts them without warnings and applies container defaults to init containers', () => {
    const r = one(
      deployment(`      serviceAccountName: web
      imagePullSecrets: [{name: regcred}]
      securityContext: {runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, fsGroup: 2000, supplementalGroups: [3000]}
      initContainers:
        - name: migrate
          image: busybox:1
          command: [sh, -c, 'true']
          securityContext: {runAsUser: 0}
        - name: proxy
          image: busybox:1
          restartPolicy: Always
          readinessProbe: {tcpSocket: {port: 8080}}
      containers:
        - name: app
          image: busybox:1
          securityContext:
            runAsUser: 1234
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
`),
    );
    expect(r.diagnostics).toEqual([]);
    const spec = (r.object!.object as unknown as { spec: { template: { spec: Record<string, any> } } }).spec.template.spec;
    expect(spec.initContainers[0]).toMatchObject({ name: 'migrate', imagePullPolicy: 'IfNotPresent' });
    expect(spec.initContainers[1].readinessProbe).toMatchObject({ periodSeconds: 10, failureThreshold: 3 });
    expect(spec.serviceAccountName).toBe('web');
    expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(spec.containers[0].securityContext.capabilities).toEqual({ add: ['NET_BIND_SERVICE'], drop: ['ALL'] });
  });

  it('refuses probes and lifecycle on an init container that is not a sidecar, at file:line:col', () => {
    const r = one(
      deployment(`      initContainers:
        - name: migrate
          image: busybox:1
          livenessProbe: {exec: {command: ['true']}}
          lifecycle: {preStop: {sleep: {seconds: 1}}}
      containers:
        - name: app
          image: busybox:1
`),
    );
    expect(r.object).toBeUndefined();
    expect(errors(r).map((d) => [d.code, d.field, d.file, d.line, d.column])).toEqual([
      ['CAPSTAN_ERR_API_SCHEMA', 'spec.template.spec.initContainers[0].livenessProbe', 'apps/web.yaml', 15, 11],
      ['CAPSTAN_ERR_API_SCHEMA', 'spec.template.spec.initContainers[0].lifecycle', 'apps/web.yaml', 16, 11],
    ]);
    expect(errors(r)[0].message).toContain('not allowed on an init container');
  });

  it('refuses a name shared by an init container and a container, and restartPolicy on a container', () => {
    const r = one(
      deployment(`      initContainers:
        - name: app
          image: busybox:1
      containers:
        - name: app
          image: busybox:1
          restartPolicy: Always
`),
    );
    expect(errors(r).map((d) => [d.field, d.line])).toEqual([
      ['spec.template.spec.initContainers[0].name', 13],
      ['spec.template.spec.containers[0].restartPolicy', 18],
    ]);
    expect(errors(r)[0].message).toBe('spec.template.spec.initContainers[0].name "app" is already used by containers[0]');
  });

  it('refuses privileged with allowPrivilegeEscalation false, as Kubernetes does', () => {
    const r = one(
      deployment(`      containers:
        - name: app
          image: busybox:1
          securityContext: {privileged: true, allowPrivilegeEscalation: false}
`),
    );
    expect(errors(r)).toMatchObject([
      { field: 'spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation', line: 15, message: expect.stringContaining('cannot set allowPrivilegeEscalation to false and privileged to true') },
    ]);
  });

  it('warns about what is not applied: sysctls, Localhost profiles, the deprecated serviceAccount, token automount, unknown fields', () => {
    const r = one(
      deployment(`      serviceAccount: web
      automountServiceAccountToken: false
      securityContext:
        sysctls: [{name: net.core.somaxconn, value: '1024'}]
        seLinuxOptions: {level: 's0:c123,c456'}
      containers:
        - name: app
          image: busybox:1
          securityContext:
            appArmorProfile: {type: Localhost, localhostProfile: k8s-apparmor}
            procMount: Default
`),
    );
    expect(errors(r)).toEqual([]);
    expect(r.object).toBeDefined();
    expect(warnings(r).map((d) => [d.field, d.line])).toEqual([
      ['spec.template.spec.serviceAccount', 12],
      ['spec.template.spec.automountServiceAccountToken', 13],
      ['spec.template.spec.securityContext.sysctls', 15],
      ['spec.template.spec.securityContext.seLinuxOptions', 16],
      ['spec.template.spec.containers[0].securityContext.appArmorProfile.type', 21],
      ['spec.template.spec.containers[0].securityContext.procMount', 22],
    ]);
    expect(warnings(r)[0].message).toContain('deprecated: use serviceAccountName');
    expect(warnings(r)[1].message).toContain('no service account token');
  });

  it('checks the schema of the new fields', () => {
    const r = one(
      deployment(`      imagePullSecrets: [{}]
      securityContext: {runAsUser: -1}
      containers:
        - name: app
          image: busybox:1
          securityContext: {capabilities: {add: NET_ADMIN}}
`),
    );
    expect(errors(r).map((d) => d.field)).toEqual([
      'spec.template.spec.imagePullSecrets[0].name',
      'spec.template.spec.securityContext.runAsUser',
      'spec.template.spec.containers[0].securityContext.capabilities.add',
    ]);
  });

  it('checks the init containers of a bare Pod too', () => {
    const r = one(`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  initContainers:
    - {name: init, image: busybox:1, startupProbe: {exec: {command: ['true']}}}
  containers:
    - {name: app, image: busybox:1}
`);
    expect(errors(r)).toMatchObject([{ field: 'spec.initContainers[0].startupProbe', line: 7, column: 38 }]);
  });
});
