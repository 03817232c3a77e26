// A team's repository in the upstream styles, run by `capstan server` and two `capstan agent`s
// spawned from the built binary (process runtime): a kustomize overlay over a base with a
// generated ConfigMap, a StatefulSet with a claim per pod behind a headless Service, a
// DaemonSet on both nodes, an Ingress with two hosts over TLS from kubernetes.io/tls Secrets, and
// a HorizontalPodAutoscaler taking a Deployment 1 → 4 → 1 as generated CPU load comes and goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type tls from 'node:tls';
import { join } from 'node:path';
import { haveOpenssl, selfSigned } from '../helpers/tls.js';
import { startGitServer, freePort, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import { NEVER, apiCall, cleanupCluster, tempDataDir, waitFor } from '../helpers/cluster.js';
import { BUILT, CapstanProcesses } from '../helpers/spawn.js';

const NODES = ['node-a', 'node-b'];
const HOSTS = ['shop.capstan.test', 'db.capstan.test'];
const runnable = BUILT && haveOpenssl;
if (!runnable) console.warn('[manifests e2e skipped] needs dist/ (`npm run build`) and openssl');

let git: GitServer;
let repo: TestRepo;
let dir: string;
let url: string;
let adminToken: string;
let procs: CapstanProcesses;
let httpsPort: number;
const certs = new Map<string, { crt: string; key: string }>();

/** A process that runs `setup`, then serves `reply` (a JS expression) on $PORT. */
function server(reply: string, setup = ''): string {
  return JSON.stringify([
    process.execPath,
    '-e',
    `${setup}const http=require('http');http.createServer((q,s)=>s.end(String(${reply}))).listen(Number(process.env.PORT),'127.0.0.1');process.on('SIGTERM',()=>process.exit(0));`,
  ]);
}

function container(reply: string, extra: string[] = [], setup = ''): string[] {
  return [
    '      containers:',
    '        - name: main',
    '          image: node:20',
    `          command: ${server(reply, setup)}`,
    ...extra,
    '          ports:',
    '            - name: http',
    '              containerPort: 8080',
    '          readinessProbe:',
    '            httpGet: { path: /, port: http }',
    '            periodSeconds: 1',
  ];
}

function repoFiles(): Record<string, string> {
  const lines = (...l: string[]) => l.join('\n') + '\n';
  const files: Record<string, string> = {
    'base/kustomization.yaml': lines('resources:', '  - web.yaml', '  - service.yaml'),
    'base/web.yaml': lines(
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: web }',
      'spec:',
      '  replicas: 1',
      '  selector: { matchLabels: { app: web } }',
      '  template:',
      '    metadata: { labels: { app: web } }',
      '    spec:',
      '      terminationGracePeriodSeconds: 2',
      ...container('process.env.GREETING', ['          env:', '            - name: GREETING', '              valueFrom: { configMapKeyRef: { name: web-config, key: greeting } }']),
    ),
    'base/service.yaml': lines('apiVersion: v1', 'kind: Service', 'metadata: { name: web }', 'spec:', '  selector: { app: web }', '  ports: [{ port: 80, targetPort: http }]'),
    'overlays/prod/kustomization.yaml': lines(
      'resources: [../../base]',
      'namePrefix: prod-',
      'commonLabels: { env: prod }',
      'replicas: [{ name: web, count: 2 }]',
      'configMapGenerator:',
      '  - name: web-config',
      '    literals: [greeting=hello-from-prod]',
    ),
    'db/statefulset.yaml': lines(
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: db }',
      'spec:',
      '  clusterIP: None',
      '  selector: { app: db }',
      '  ports: [{ port: 80, targetPort: http }]',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: db-http }',
      'spec:',
      '  selector: { app: db }',
      '  ports: [{ port: 80, targetPort: http }]',
      '---',
      'apiVersion: apps/v1',
      'kind: StatefulSet',
      'metadata: { name: db }',
      'spec:',
      '  serviceName: db',
      '  replicas: 2',
      '  selector: { matchLabels: { app: db } }',
      '  template:',
      '    metadata: { labels: { app: db } }',
      '    spec:',
      '      terminationGracePeriodSeconds: 2',
      // The first start writes an id into the claim's volume; every later start serves that same id.
      ...container(
        "'db:'+require('fs').readFileSync(process.env.CAPSTAN_VOLUME_DATA+'/id','utf8')",
        ['          volumeMounts:', '            - { name: data, mountPath: /var/lib/db }'],
        "const f=process.env.CAPSTAN_VOLUME_DATA+'/id';if(!require('fs').existsSync(f))require('fs').writeFileSync(f,String(Math.random()).slice(2));",
      ),
      '  volumeClaimTemplates:',
      '    - metadata: { name: data }',
      '      spec:',
      '        accessModes: [ReadWriteOnce]',
      '        resources: { requests: { storage: 1Gi } }',
    ),
    'node/daemonset.yaml': lines(
      'apiVersion: apps/v1',
      'kind: DaemonSet',
      'metadata: { name: node-logger }',
      'spec:',
      '  selector: { matchLabels: { app: node-logger } }',
      '  template:',
      '    metadata: { labels: { app: node-logger } }',
      '    spec:',
      '      nodeSelector: { kubernetes.io/os: linux }',
      '      terminationGracePeriodSeconds: 2',
      ...container("'logger'"),
    ),
    // Busy while the flag file exists: about 10% of a core each against a request of 20m.
    'hpa/busy.yaml': lines(
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: busy }',
      'spec:',
      '  replicas: 1',
      '  selector: { matchLabels: { app: busy } }',
      '  template:',
      '    metadata: { labels: { app: busy } }',
      '    spec:',
      '      terminationGracePeriodSeconds: 1',
      '      containers:',
      '        - name: main',
      '          image: node:20',
      `          command: ${JSON.stringify([process.execPath, '-e', `const fs=require('fs');const flag=${JSON.stringify(flagFile())};setInterval(()=>{if(!fs.existsSync(flag))return;const end=Date.now()+10;while(Date.now()<end){}},100);process.on('SIGTERM',()=>process.exit(0));`])}`,
      '          resources: { requests: { cpu: 20m } }',
      '---',
      'apiVersion: autoscaling/v2',
      'kind: HorizontalPodAutoscaler',
      'metadata: { name: busy }',
      'spec:',
      '  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: busy }',
      '  minReplicas: 1',
      '  maxReplicas: 4',
      '  metrics:',
      '    - type: Resource',
      '      resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }',
      '  behavior:',
      '    scaleDown:',
      '      stabilizationWindowSeconds: 5',
      '      policies: [{ type: Percent, value: 100, periodSeconds: 1 }]',
    ),
    'ingress/ingress.yaml': lines(
      'apiVersion: networking.k8s.io/v1',
      'kind: Ingress',
      'metadata: { name: front }',
      'spec:',
      '  tls:',
      `    - { hosts: [${HOSTS[0]}], secretName: shop-tls }`,
      `    - { hosts: [${HOSTS[1]}], secretName: db-tls }`,
      '  rules:',
      `    - host: ${HOSTS[0]}`,
      '      http:',
      '        paths:',
      '          - { path: /, pathType: Prefix, backend: { service: { name: prod-web, port: { number: 80 } } } }',
      `    - host: ${HOSTS[1]}`,
      '      http:',
      '        paths:',
      '          - { path: /, pathType: Prefix, backend: { service: { name: db-http, port: { number: 80 } } } }',
    ),
  };
  for (const [host, secret] of [[HOSTS[0], 'shop-tls'], [HOSTS[1], 'db-tls']] as const) {
    const pair = certs.get(host)!;
    files[`ingress/${secret}.yaml`] = lines(
      'apiVersion: v1',
      'kind: Secret',
      `metadata: { name: ${secret} }`,
      'type: kubernetes.io/tls',
      'data:',
      `  tls.crt: ${Buffer.from(pair.crt).toString('base64')}`,
      `  tls.key: ${Buffer.from(pair.key).toString('base64')}`,
    );
  }
  return files;
}

/** GET https://host/ through the Ingress port with SNI `host`, trusting only that host's certificate. */
function httpsGet(host: string): Promise<{ cn: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: httpsPort, servername: host, headers: { host }, ca: certs.get(host)!.crt, path: '/', agent: false, timeout: 3000 }, (res) => {
      const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject.CN);
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ cn, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Where the busy pods look for their load switch. */
function flagFile(): string {
  return join(dir, 'load-on');
}

interface PodRow {
  name: string;
  node: string | null;
  phase: string;
  ready: boolean;
}

async function get<T>(kind: string): Promise<T[]> {
  const out = await runCli(['get', kind, '--server', url, '--token', adminToken, '-o', 'json']);
  if (out.code !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout) as T[];
}

const readyPods = async (prefix: string) => (await get<PodRow>('pods')).filter((p) => p.name.startsWith(prefix) && p.ready);

beforeAll(async () => {
  if (!runnable) return;
  dir = tempDataDir('capstan-e2e-manifests-');
  // Pods run as another user (nobody, when the tests run as root) and reach their claims by
  // absolute path below here, as `capstan up` lets them through its data dir.
  chmodSync(dir, 0o711);
  procs = new CapstanProcesses(dir, 'manifests e2e');
  for (const host of HOSTS) certs.set(host, selfSigned(dir, host));
  git = await startGitServer();
  repo = createRepo(git, 'team', { 'README.md': '# team deploy repo\n' });
  const port = await freePort();
  httpsPort = await freePort();
  const serverDir = join(dir, 'server');
  mkdirSync(serverDir);
  await procs.start(
    'server',
    ['server', '--source', repo.url, '--data-dir', serverDir, '--port', String(port), '--sync-schedule', NEVER, '--ingress-port', String(await freePort()), '--ingress-https-port', String(httpsPort), '--no-status-write', '--hpa-sync-period', '1'],
    /Capstan server: http/,
  );
  url = `http://127.0.0.1:${port}`;
  adminToken = readFileSync(join(serverDir, 'admin.token'), 'utf8').trim();
  for (const node of NODES) {
    const r = await apiCall(url, adminToken, '/api/v1/tokens', { method: 'POST', body: { role: 'agent', user: `agent:${node}`, node } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await procs.start(
      node,
      ['agent', '--server', url, '--token', r.body.token as string, '--name', node, '--runtime', 'process', '--state-dir', join(dir, node), '--heartbeat', '1', '--capacity', 'cpu=4,memory=8Gi', '--allow-overcommit'],
      new RegExp(`node ${node} registered`),
    );
  }
  // Pushed once both nodes are up, so the DaemonSet and the scheduler see both.
  pushCommit(repo, repoFiles(), 'team manifests');
  const sync = await apiCall(url, adminToken, '/api/v1/sync', { method: 'POST', body: {} });
  expect(sync.status, JSON.stringify(sync.body)).toBe(200);
}, 90_000);

afterAll(async () => {
  if (!runnable) return;
  await procs.stopAll();
  await cleanupCluster(undefined, dir);
  await git?.stop();
});

describe.skipIf(!runnable)('a team repository in upstream styles on two agents', () => {
  it('renders the kustomize overlay: prefixed names, overlay replicas, the generated ConfigMap reaching the pods', async () => {
    const web = await waitFor(async () => {
      const p = await readyPods('prod-web-');
      return p.length === 2 ? p : undefined;
    }, 40_000, 'two ready prod-web pods');
    expect(web.every((p) => p.node !== null)).toBe(true);
    // The generated ConfigMap's name carries a content hash; the Deployment's reference to it
    // was rewritten, so the pods start with its value (the Ingress test reads it back).
    const deployments = await get<{ name: string }>('deployments');
    expect(deployments.map((d) => d.name)).toContain('prod-web');
  });

  it('runs the StatefulSet in order with a claim per ordinal', async () => {
    const db = await waitFor(async () => {
      const p = await readyPods('db-');
      return p.length === 2 ? p : undefined;
    }, 40_000, 'db-0 and db-1 ready');
    expect(db.map((p) => p.name).sort()).toEqual(['db-0', 'db-1']);
    // The controller writes the set's status after it sees the pods ready: wait for it.
    const sts = await waitFor(async () => {
      const set = (await get<{ name: string; readyReplicas: number; phase: string }>('sts')).find((s) => s.name === 'db');
      return set?.phase === 'Healthy' ? set : undefined;
    }, 20_000, 'db Healthy');
    expect(sts).toMatchObject({ readyReplicas: 2, phase: 'Healthy' });
    // Each ordinal's claim is bound to the node its pod runs on, and its data is a folder there.
    const claims = await get<{ name: string; status: string; node: string | null }>('pvc');
    for (const pod of db) {
      const claim = claims.find((c) => c.name === `data-${pod.name}`);
      expect(claim, JSON.stringify(claims)).toMatchObject({ status: 'Bound', node: pod.node });
      expect(readFileSync(join(dir, pod.node!, 'volumes', 'default', `data-${pod.name}`, 'id'), 'utf8')).toMatch(/^\d+$/);
    }
  });

  it('runs one DaemonSet pod on each node', async () => {
    const ds = await waitFor(async () => {
      const p = await readyPods('node-logger-');
      return p.length === 2 ? p : undefined;
    }, 40_000, 'a node-logger pod on each node');
    expect(ds.map((p) => p.node).sort()).toEqual([...NODES].sort());
  });

  it('serves both Ingress hosts over TLS with the certificate of each host', async () => {
    const shop = await waitFor(async () => (await httpsGet(HOSTS[0]).catch(() => undefined))?.body === 'hello-from-prod' ? await httpsGet(HOSTS[0]) : undefined, 30_000, 'the shop host over TLS');
    expect(shop.cn).toBe(HOSTS[0]);
    const db = await waitFor(async () => {
      const r = await httpsGet(HOSTS[1]).catch(() => undefined);
      return r?.body.startsWith('db:') ? r : undefined;
    }, 30_000, 'the db host over TLS');
    expect(db.cn).toBe(HOSTS[1]);
    // A certificate for one host is not accepted for the other.
    await expect(
      new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: httpsPort, servername: HOSTS[1], headers: { host: HOSTS[1] }, ca: certs.get(HOSTS[0])!.crt, agent: false }, resolve);
        req.on('error', reject);
        req.end();
      }),
    ).rejects.toThrow();
  });

  it('scales busy 1 → 4 under load and back to 1 without it; Git still says 1 and plan shows no drift', { timeout: 180_000 }, async () => {
    const busy = async () => (await get<PodRow>('pods')).filter((p) => p.name.startsWith('busy-') && p.phase !== 'Succeeded' && p.phase !== 'Failed');
    await waitFor(async () => ((await busy()).filter((p) => p.ready).length === 1 ? true : undefined), 30_000, 'one busy pod');
    writeFileSync(flagFile(), 'on');
    await waitFor(async () => ((await busy()).filter((p) => p.ready).length === 4 ? true : undefined), 60_000, 'four busy pods under load');
    const events = await get<{ reason: string; object: string; message: string }>('events');
    expect(events.filter((e) => e.reason === 'SuccessfulRescale').map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^New size: 4; reason: cpu resource utilization/)]));
    // The count lives in the scale record: Git's replicas: 1 is no drift.
    const plan = await runCli(['plan', repo.url, '--server', url, '--token', adminToken, '-o', 'json']);
    expect(plan.code, plan.stderr).toBe(0);
    const changes = (JSON.parse(plan.stdout) as { changes: { kind: string; name: string }[] }).changes;
    expect(changes.filter((c) => c.name === 'busy')).toEqual([]);

    rmSync(flagFile());
    await waitFor(async () => ((await busy()).length === 1 ? true : undefined), 60_000, 'one busy pod without load');
    const after = await get<{ reason: string; message: string }>('events');
    expect(after.filter((e) => e.reason === 'SuccessfulRescale').map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^New size: 1; reason: All metrics below target/)]));
  });

  it('makes a refused commit visible: get sources, the status top line, an event and the server console', async () => {
    const bad = pushCommit(repo, { 'node/daemonset.yaml': repoFiles()['node/daemonset.yaml']!.replace('spec:\n', 'spec:\n  minReadySeconds: soon\n') }, 'typo');
    const sync = await apiCall(url, adminToken, '/api/v1/sync', { method: 'POST', body: {} });
    expect(sync.body.phase).toBe('Invalid');
    const [source] = await get<{ phase: string; seenCommit: string; syncedCommit: string; errors: { file: string; line: number }[] }>('sources');
    expect(source).toMatchObject({ phase: 'Invalid', seenCommit: bad, errors: [expect.objectContaining({ file: 'node/daemonset.yaml', line: 5 })] });
    expect(source!.syncedCommit).not.toBe(bad);
    const status = await runCli(['status', 'prod-web', '--server', url, '--token', adminToken]);
    expect(status.stdout.split('\n')[0]).toContain(`Invalid (commit ${bad.slice(0, 12)} not applied)`);
    const events = await get<{ reason: string; object: string }>('events');
    expect(events).toEqual(expect.arrayContaining([expect.objectContaining({ reason: 'InvalidCommit', object: 'Source/default' })]));
    await waitFor(() => procs.output('server').includes(`commit ${bad.slice(0, 12)} refused`), 5000, 'the refusal on the server console');
    expect(procs.output('server')).toContain('node/daemonset.yaml:5:3: spec.minReadySeconds must be an integer');
    // Nothing running was touched.
    expect(await readyPods('node-logger-')).toHaveLength(2);
  });
});
