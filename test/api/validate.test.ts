import { describe, expect, it } from 'vitest';
import { KNOWN_KINDS, applyDefaults, findDuplicateObjects, validateDocument } from '../../src/api/index.js';
import type { ManifestObject, SourcedObject } from '../../src/api/index.js';
import { parseManifestFile } from '../../src/render/yaml.js';

function validateText(text: string, path = 'apps/web.yaml') {
  const parsed = parseManifestFile({ path, content: text });
  expect(parsed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return parsed.documents.map((d) => validateDocument(d));
}

function one(text: string) {
  const [r] = validateText(text);
  return r;
}

const GOOD = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
    spec:
      containers:
        - name: web
          image: registry.local:5000/team/web:1.4.2
          args: ["--port", "8080"]
          env:
            - name: MODE
              value: production
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db, key: password}
          envFrom:
            - configMapRef: {name: web-config}
          ports:
            - containerPort: 8080
              name: http
          resources:
            requests: {cpu: 250m, memory: 128Mi}
            limits: {cpu: "1", memory: 1Gi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
          livenessProbe:
            tcpSocket: {port: 8080}
            periodSeconds: 5
          lifecycle:
            preStop:
              exec: {command: ["sleep", "2"]}
        - name: sidecar
          image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - name: http
      port: 80
      targetPort: http
    - name: admin
      port: 9000
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data:
  LOG_LEVEL: info
---
apiVersion: v1
kind: Secret
metadata: {name: db}
data:
  password: aHVudGVyMg==
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "30 2 * * MON-FRI"
  timeZone: Europe/Berlin
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: busybox:1.36
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "api:2"}]
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 30s}
        - analysis: {templates: [{templateName: success-rate}]}
        - setCanaryScale: {replicas: 2}
        - setHeaderRoute: {name: beta, match: [{headerName: x-beta, headerValue: {exact: "1"}}]}
        - pause: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: admin}
spec:
  selector: {matchLabels: {app: admin}}
  template:
    metadata: {labels: {app: admin}}
    spec:
      containers: [{name: admin, image: "admin:latest"}]
  strategy:
    blueGreen:
      activeService: admin
      previewService: admin-preview
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  metrics:
    - name: success-rate
      interval: 1m
      count: 5
      successCondition: result >= 0.95
      failureLimit: 1
      provider:
        capstan: {metric: success-rate}
---
apiVersion: capstan.dev/v1
kind: ChartRelease
metadata: {name: shop}
spec:
  chart: charts/shop
  namespace: shop
  valuesFiles: [envs/prod/values.yaml]
  values:
    replicas: 2
    anything: {goes: [here]}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: shop}
spec:
  hard: {pods: "20", requests.cpu: "4", requests.memory: 8Gi, limits.memory: 16Gi, count/services: "10"}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: shop}
imagePullSecrets: [{name: regcred}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: shop}
spec:
  containers: [{name: sh, image: "busybox:1.36", command: [sleep, "3600"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  completions: 2
  parallelism: 2
  backoffLimit: 3
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 3600
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: migrate, image: "registry.local:5000/shop/migrate:2.0.0"}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 5
  targetCPUUtilizationPercentage: 60
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "registry.local:5000/db:16"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logs}
spec:
  selector: {matchLabels: {app: logs}}
  template:
    metadata: {labels: {app: logs}}
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: agent, image: "registry.local:5000/logs:1"}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: shop}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: capstan.dev/v1
kind: Notification
metadata: {name: team-alerts}
spec:
  triggers: [sync-failed, degraded, healthy]
  selector: {matchLabels: {app: web}}
  sinks:
    - slack: {urlFrom: {secretKeyRef: {name: slack, key: url}}}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high-priority}
value: 1000000
globalDefault: false
preemptionPolicy: PreemptLowerPriority
description: For the web tier.
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}`;

describe('validateDocument', () => {
  it('accepts realistic manifests of every kind with no errors and no warnings', () => {
    const results = validateText(GOOD);
    expect(results).toHaveLength(23);
    for (const r of results) {
      // A ServiceAccount always says that its tokens are not mounted.
      const kind = r.object?.object.kind;
      if (kind === 'ServiceAccount') expect(r.diagnostics.map((d) => d.severity)).toEqual(['warning']);
      else expect(r.diagnostics).toEqual([]);
      expect(r.object).toBeDefined();
    }
    const kinds = new Set(results.map((r) => `${r.object!.object.apiVersion} ${r.object!.object.kind}`));
    for (const k of KNOWN_KINDS) expect(kinds).toContain(`${k.apiVersion} ${k.kind}`);
  });

  it('applies Kubernetes defaults without mutating the parsed input', () => {
    const parsed = parseManifestFile({ path: 'apps/web.yaml', content: GOOD });
    const before = JSON.stringify(parsed.documents.map((d) => d.object));
    const objects = parsed.documents.map((d) => validateDocument(d).object!.object as Record<string, any>);
    expect(JSON.stringify(parsed.documents.map((d) => d.object))).toBe(before);
    const [dep, svc, cm, secret, cron, canary, bg, analysis] = objects;

    expect(dep.metadata.namespace).toBe('default');
    expect(cm.metadata.namespace).toBe('shop');
    expect(dep.spec).toMatchObject({
      replicas: 3,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      minReadySeconds: 0,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    });
    const pod = dep.spec.template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
    const [web, sidecar] = pod.containers;
    expect(web.imagePullPolicy).toBe('IfNotPresent');
    expect(sidecar.imagePullPolicy).toBe('Always');
    expect(web.ports[0].protocol).toBe('TCP');
    expect(web.readinessProbe).toEqual({
      httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(web.livenessProbe.periodSeconds).toBe(5);

    expect(svc.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'admin', port: 9000, targetPort: 9000, protocol: 'TCP' },
    ]);
    expect(secret.type).toBe('Opaque');
    expect(cron.spec).toMatchObject({
      concurrencyPolicy: 'Allow',
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
      jobTemplate: { spec: { backoffLimit: 6, template: { spec: { restartPolicy: 'OnFailure' } } } },
    });
    expect(canary.spec.replicas).toBe(1);
    expect(canary.spec.strategy.type).toBeUndefined();
    expect(canary.spec.strategy.canary).toMatchObject({ maxSurge: '25%', maxUnavailable: '25%' });
    expect(bg.spec.strategy.blueGreen).toMatchObject({ autoPromotionEnabled: true, scaleDownDelaySeconds: 30 });
    expect(bg.spec.template.spec.containers[0].imagePullPolicy).toBe('Always');
    expect(analysis.spec.metrics[0]).toMatchObject({ consecutiveErrorLimit: 4, failureLimit: 1, inconclusiveLimit: 0 });
    expect(analysis.spec.noDataPolicy).toBe('Inconclusive');
  });

  it('refuses a workload name whose pod names would be over 253 characters, and takes the longest that fits', () => {
    const doc = GOOD.split('---')[0];
    const long = 'a'.repeat(237);
    const r = one(doc.replace('name: web\n', `name: ${long}\n`));
    expect(r.object).toBeUndefined();
    expect(r.diagnostics).toMatchObject([{ code: 'CAPSTAN_ERR_API_NAME', line: 4, field: 'metadata.name' }]);
    expect(r.diagnostics[0]!.message).toContain('must be at most 236 characters, got 237: its pods are named <name>-<10-character revision hash>-<5-character suffix>');
    expect(one(doc.replace('name: web\n', `name: ${'a'.repeat(236)}\n`)).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('keeps the source position on the object', () => {
    const results = validateText(GOOD);
    expect(results[0].object!.source).toMatchObject({ file: 'apps/web.yaml', index: 0, line: 1, column: 1 });
    // Fields checked across objects at admission keep their own positions.
    expect(results[0].object!.source.at).toMatchObject({ 'spec.replicas': { line: 8, column: 3 } });
    expect(results[1].object!.source).toMatchObject({ index: 1, line: 47 });
  });

  it('reports type errors at the field with the value and its type', () => {
    const r = one(GOOD.split('---')[0].replace('replicas: 3', 'replicas: "three"'));
    expect(r.object).toBeUndefined();
    expect(r.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'CAPSTAN_ERR_API_SCHEMA',
        message: 'spec.replicas must be an integer, got string "three"',
        file: 'apps/web.yaml',
        line: 8,
        column: 3,
        field: 'spec.replicas',
      },
    ]);
  });

  it('suggests quoting when a number or boolean stands where a string belongs', () => {
    const r = one(GOOD.split('---')[0].replace('tier: front', 'tier: 2'));
    expect(r.diagnostics).toMatchObject([
      {
        field: 'spec.template.metadata.labels.tier',
        message: 'spec.template.metadata.labels.tier must be a string, got number 2; put it in quotes to make it a string',
      },
    ]);
  });

  it('names nested fields with indexes and reports required fields at their parent', () => {
    const r = one(GOOD.split('---')[0].replace('image: busybox', 'imagePullPolicy: Always'));
    expect(r.diagnostics).toMatchObject([
      {
        code: 'CAPSTAN_ERR_API_REQUIRED',
        field: 'spec.template.spec.containers[1].image',
        message: 'spec.template.spec.containers[1].image is required',
        line: 44,
        column: 11,
      },
    ]);
  });

  it('warns about real Kubernetes fields Capstan does not implement; a name no Kubernetes object has is an error, with a suggestion', () => {
    const text = GOOD.split('---')[0]
      .replace('  replicas: 3', '  replica: 3')
      .replace('      containers:', '      hostIPC: true\n      shareProcessNamespace: true\n      containers:')
      .replace('  name: web\n  labels', '  name: web\n  uid: abc\n  labels');
    const r = one(text);
    expect(r.object).toBeDefined();
    expect(r.diagnostics.map((d) => [d.field, d.line, d.severity])).toEqual([
      ['metadata.uid', 5, 'warning'],
      ['spec.replica', 9, 'error'],
      ['spec.template.spec.hostIPC', 19, 'warning'],
      ['spec.template.spec.shareProcessNamespace', 20, 'warning'],
    ]);
    expect(r.diagnostics[1]).toMatchObject({ code: 'CAPSTAN_ERR_API_UNKNOWN_FIELD', message: expect.stringMatching(/^spec\.replica is not a field of Deployment; did you mean replicas\? \(a commit with an unknown field is refused; --allow-unknown-fields/) });
    expect(r.diagnostics[2].message).toBe('spec.template.spec.hostIPC is not implemented by Capstan and is ignored');
    // The unknown field is kept, never silently dropped; the default fills the real one.
    expect(r.object!.object.spec).toMatchObject({ replica: 3, replicas: 1 });
  });

  it('suggests the nearest kind or apiVersion', () => {
    const base = 'metadata: {name: x}\n';
    expect(one(`apiVersion: apps/v1\nkind: Deploymnet\n${base}`).diagnostics).toMatchObject([
      { code: 'CAPSTAN_ERR_API_UNKNOWN_KIND', line: 2, column: 1, message: expect.stringContaining('did you mean Deployment?') },
    ]);
    expect(one(`apiVersion: v1\nkind: Deployment\n${base}`).diagnostics).toMatchObject([
      { code: 'CAPSTAN_ERR_API_UNKNOWN_KIND', line: 1, message: expect.stringContaining('did you mean apps/v1?') },
    ]);
    expect(one(`apiVersion: v1\nkind: Servise\n${base}`).diagnostics[0].message).toContain('did you mean Service?');
    expect(one(`apiVersion: v1\nkind: Gateway\n${base}`).diagnostics[0].message).toContain('Capstan accepts apps/v1 Deployment');
    expect(one(base).diagnostics.map((d) => d.code)).toEqual(['CAPSTAN_ERR_API_REQUIRED', 'CAPSTAN_ERR_API_REQUIRED']);
  });

  it('skips a document that is not a Kubernetes object with a warning, and still fails one that looks like an object', () => {
    const skipped = one('stages: [build]\nimage: node:22\n');
    expect(skipped.object).toBeUndefined();
    expect(skipped.diagnostics).toMatchObject([
      { severity: 'warning', code: 'CAPSTAN_ERR_API_NOT_AN_OBJECT', file: 'apps/web.yaml', line: 1, message: expect.stringContaining('.capstanignore') },
    ]);
    // metadata without apiVersion/kind is a manifest with fields missing, not some other file.
    expect(one('metadata: {name: x}\nspec: {}\n').diagnostics.map((d) => [d.severity, d.code])).toEqual([
      ['error', 'CAPSTAN_ERR_API_REQUIRED'],
      ['error', 'CAPSTAN_ERR_API_REQUIRED'],
    ]);
    expect(one('kind: Deployment\n').diagnostics.map((d) => [d.severity, d.code])).toEqual([['error', 'CAPSTAN_ERR_API_REQUIRED']]);
  });

  it('checks names, namespaces, container names and labels as Kubernetes does', () => {
    const dep = GOOD.split('---')[0];
    const bad = (from: string, to: string) => one(dep.replace(from, to)).diagnostics.filter((d) => d.severity === 'error');
    expect(bad('name: web\n  labels', 'name: Web\n  labels')).toMatchObject([{ code: 'CAPSTAN_ERR_API_NAME', field: 'metadata.name' }]);
    expect(bad('name: web\n  labels', `name: ${'a'.repeat(236)}\n  labels`)).toEqual([]);
    expect(bad('name: web\n  labels', `name: ${'a'.repeat(237)}\n  labels`)).toMatchObject([{ code: 'CAPSTAN_ERR_API_NAME' }]);
    expect(bad('name: web\n  labels', 'name: web\n  namespace: a.b\n  labels')).toMatchObject([
      { code: 'CAPSTAN_ERR_API_NAME', field: 'metadata.namespace' },
    ]);
    expect(bad('- name: sidecar', '- name: side.car')).toMatchObject([
      { code: 'CAPSTAN_ERR_API_NAME', field: 'spec.template.spec.containers[1].name' },
    ]);
    expect(bad('- name: sidecar', '- name: web')[0].message).toContain('already used by containers[0]');
    expect(bad('tier: front', 'tier: "-front"')).toMatchObject([{ code: 'CAPSTAN_ERR_API_SCHEMA', line: 16 }]);
    expect(bad('tier: front', `tier: ${'x'.repeat(64)}`)).toHaveLength(1);
    expect(bad('tier: front', 'bad/key/x: front')).toMatchObject([{ code: 'CAPSTAN_ERR_API_NAME' }]);
    expect(bad('app.kubernetes.io/name: web', 'app.kubernetes.io/name: ""')).toEqual([]);
  });

  it('requires the selector to match the template labels, naming both', () => {
    const r = one(GOOD.split('---')[0].replace('      app: web\n  template', '      app: web\n      track: stable\n  template'));
    expect(r.diagnostics).toMatchObject([
      {
        code: 'CAPSTAN_ERR_API_SELECTOR',
        field: 'spec.selector.matchLabels.track',
        message: expect.stringMatching(/matchLabels \{app=web,track=stable\}.*labels \{app=web,tier=front\}/),
      },
    ]);
  });

  it('checks strategies, probes, env and cron rules', () => {
    const dep = GOOD.split('---')[0];
    const errs = (text: string) => one(text).diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.field]);
    const withStrategy = (s: string) => dep.replace('  template:\n', `  strategy:\n${s}  template:\n`);
    expect(errs(withStrategy('    type: Recreate\n'))).toEqual([]);
    expect(errs(withStrategy('    rollingUpdate: {maxSurge: 0, maxUnavailable: "0%"}\n'))).toEqual([
      ['CAPSTAN_ERR_API_SCHEMA', 'spec.strategy.rollingUpdate.maxUnavailable'],
    ]);
    expect(errs(withStrategy('    rollingUpdate: {maxSurge: 1, maxUnavailable: "150%"}\n'))).toHaveLength(1);
    expect(errs(withStrategy('    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n'))).toHaveLength(1);
    expect(errs(withStrategy('    canary: {steps: [{setWeight: 10, pause: {}}]}\n'))).toEqual([
      ['CAPSTAN_ERR_API_SCHEMA', 'spec.strategy.canary.steps[0].pause'],
    ]);
    expect(errs(withStrategy('    canary: {steps: [{setWeight: 120}]}\n'))).toEqual([
      ['CAPSTAN_ERR_API_SCHEMA', 'spec.strategy.canary.steps[0].setWeight'],
    ]);
    expect(errs(withStrategy('    canary: {}\n    blueGreen: {activeService: web}\n'))).toHaveLength(1);
    expect(errs(withStrategy('    blueGreen: {previewService: p}\n'))).toEqual([
      ['CAPSTAN_ERR_API_REQUIRED', 'spec.strategy.blueGreen.activeService'],
    ]);
    expect(errs(dep.replace('tcpSocket: {port: 8080}', 'initialDelaySeconds: 3'))).toEqual([
      ['CAPSTAN_ERR_API_REQUIRED', 'spec.template.spec.containers[0].livenessProbe'],
    ]);
    expect(errs(dep.replace('value: production', 'value: production\n              valueFrom: {configMapKeyRef: {name: a, key: b}}'))).toHaveLength(1);
    expect(errs(dep.replace('limits: {cpu: "1", memory: 1Gi}', 'limits: {cpu: 1 core, memory: 1Gi}'))).toHaveLength(1);

    const cron = GOOD.split('---')[4];
    expect(errs(cron.replace('30 2 * * MON-FRI', '*/15 * * * *'))).toEqual([]);
    expect(errs(cron.replace('30 2 * * MON-FRI', '@daily'))).toEqual([]);
    expect(errs(cron.replace('30 2 * * MON-FRI', '0 0 * * * *'))).toEqual([['CAPSTAN_ERR_API_SCHEMA', 'spec.schedule']]);
    expect(errs(cron.replace('30 2 * * MON-FRI', '0 5-2 * * *'))).toHaveLength(1);
    expect(errs(cron.replace('Europe/Berlin', 'Mars/Olympus'))).toEqual([['CAPSTAN_ERR_API_SCHEMA', 'spec.timeZone']]);
    expect(errs(cron.replace('          restartPolicy: OnFailure\n', ''))).toEqual([
      ['CAPSTAN_ERR_API_REQUIRED', 'spec.jobTemplate.spec.template.spec.restartPolicy'],
    ]);

    const release = GOOD.split('---')[8];
    expect(errs(release.replace('chart: charts/shop', 'chart: ../outside'))).toEqual([['CAPSTAN_ERR_API_SCHEMA', 'spec.chart']]);
    expect(errs(release.replace('chart: charts/shop', 'chart: /etc'))).toHaveLength(1);
  });

  it('never puts Secret values in messages', () => {
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  token: "s3cr3t-value!"\n  n: 12345\n';
    const r = one(secret);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    for (const d of r.diagnostics) {
      expect(d.message).not.toContain('s3cr3t');
      expect(d.message).not.toContain('12345');
    }
  });

  it('does not mutate its input when defaulting', () => {
    const input = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } as unknown as ManifestObject;
    const frozen = JSON.stringify(input);
    const out = applyDefaults(input);
    expect(JSON.stringify(input)).toBe(frozen);
    expect(out.metadata.namespace).toBe('default');
  });
});

describe('findDuplicateObjects', () => {
  const obj = (kind: string, name: string, file: string, line: number, namespace = 'default'): SourcedObject => ({
    object: { apiVersion: 'v1', kind, metadata: { name, namespace } },
    source: { file, index: 0, line, column: 1 },
  });

  it('reports each repeat at the repeat, naming the first definition', () => {
    const d = findDuplicateObjects([
      obj('ConfigMap', 'a', 'apps/a.yaml', 3),
      obj('ConfigMap', 'a', 'apps/a.yaml', 9, 'other'),
      obj('Secret', 'a', 'apps/a.yaml', 12),
      obj('ConfigMap', 'a', 'apps/b.yaml', 1),
      obj('ConfigMap', 'a', 'apps/c.yaml', 5),
    ]);
    expect(d).toMatchObject([
      { code: 'CAPSTAN_ERR_RENDER_DUPLICATE_OBJECT', file: 'apps/b.yaml', line: 1, column: 1, message: expect.stringContaining('also defined at apps/a.yaml:3:1') },
      { file: 'apps/c.yaml', line: 5, message: expect.stringContaining('also defined at apps/a.yaml:3:1') },
    ]);
  });
});
