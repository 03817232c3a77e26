// Admission: limits across a whole commit (replicas per workload, ResourceQuota per
// namespace), reported at the field that goes over, read through the same loader sync uses.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../../src/render/index.js';
import { tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function deployment(name: string, replicas: number, resources = '', namespace = 'shop'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: ${name}
          image: ${name}:1
${resources}`;
}

const QUOTA = `apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: shop
spec:
  hard:
    pods: "10"
    requests.cpu: "2"
    requests.memory: 1Gi
`;

const requests = (cpu: string, memory: string) => `          resources:
            requests: { cpu: ${cpu}, memory: ${memory} }
`;

async function load(files: Record<string, string>, admission?: { maxReplicas: number }) {
  const dir = tempDir('capstan-admission-');
  dirs.push(dir);
  writeFiles(dir, files);
  return loadDesired(dir, admission ? { admission } : {});
}

describe('--max-replicas', () => {
  it('refuses 1e9 replicas at the replicas field, naming the limit, and keeps other files valid', async () => {
    const state = await load({ 'apps/big.yaml': deployment('big', 1_000_000_000), 'apps/web.yaml': deployment('web', 3) });
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_LIMIT', file: 'apps/big.yaml', line: 7, column: 3, field: 'spec.replicas' });
    expect(state.errors[0]!.message).toContain('over the limit of 1000 pods per workload (--max-replicas)');
  });

  it('takes its limit from the option, and accepts exactly the limit', async () => {
    expect((await load({ 'a.yaml': deployment('a', 1000) })).errors).toEqual([]);
    expect((await load({ 'a.yaml': deployment('a', 1001) })).errors.map((e) => e.code)).toEqual(['CAPSTAN_ERR_API_LIMIT']);
    expect((await load({ 'a.yaml': deployment('a', 5000) }, { maxReplicas: 5000 })).errors).toEqual([]);
  });

  it('checks Rollout step and preview counts too', async () => {
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: r
spec:
  replicas: 2
  selector:
    matchLabels: { app: r }
  template:
    metadata:
      labels: { app: r }
    spec:
      containers:
        - name: r
          image: r:1
  strategy:
    canary:
      steps:
        - setCanaryScale: { replicas: 5000 }
        - pause: {}
`;
    const state = await load({ 'r.yaml': rollout });
    expect(state.errors).toMatchObject([{ code: 'CAPSTAN_ERR_API_LIMIT', line: 19, field: 'spec.strategy.canary.steps[0].setCanaryScale.replicas' }]);
  });
});

describe('ResourceQuota', () => {
  it('accepts a namespace within its quota', async () => {
    const state = await load({
      'quota.yaml': QUOTA,
      'web.yaml': deployment('web', 4, requests('250m', '128Mi')),
      'api.yaml': deployment('api', 2, requests('500m', '256Mi')),
      'other.yaml': deployment('free', 50, '', 'default'),
    });
    expect(state.errors).toEqual([]);
  });

  it('refuses the pod count over hard.pods at the workload that crosses it, naming the quota and its place', async () => {
    const state = await load({
      'a-web.yaml': deployment('web', 6, requests('100m', '64Mi')),
      'b-api.yaml': deployment('api', 6, requests('100m', '64Mi')),
      'quota.yaml': QUOTA,
    });
    expect(state.errors).toHaveLength(1);
    const e = state.errors[0]!;
    expect(e).toMatchObject({ code: 'CAPSTAN_ERR_API_QUOTA', file: 'b-api.yaml', line: 7, column: 3 });
    expect(e.message).toBe(
      'Deployment shop/api takes namespace shop over pods: 10 pods of ResourceQuota shop/compute (quota.yaml:8:5): the commit asks for 12 pods in all',
    );
  });

  it('sums cpu and memory requests over containers and replicas', async () => {
    const state = await load({ 'quota.yaml': QUOTA, 'web.yaml': deployment('web', 5, requests('500m', '128Mi')) });
    expect(state.errors.map((e) => e.message)).toEqual([
      'Deployment shop/web takes namespace shop over requests.cpu: 2 cpu of ResourceQuota shop/compute (quota.yaml:9:5): the commit asks for 2500m cpu in all',
    ]);
    const memory = await load({ 'quota.yaml': QUOTA, 'web.yaml': deployment('web', 3, requests('100m', '512Mi')) });
    expect(memory.errors.map((e) => e.message)).toEqual([
      'Deployment shop/web takes namespace shop over requests.memory: 1Gi memory of ResourceQuota shop/compute (quota.yaml:10:5): the commit asks for 1536Mi memory in all',
    ]);
  });

  it('requires a request on every container under a requests quota, taking a limit as the request', async () => {
    const none = await load({ 'quota.yaml': QUOTA, 'web.yaml': deployment('web', 1) });
    expect(none.errors.map((e) => [e.code, e.file, e.line, e.field])).toEqual([
      ['CAPSTAN_ERR_API_QUOTA', 'web.yaml', 15, 'spec.template.spec.containers[0]'],
      ['CAPSTAN_ERR_API_QUOTA', 'web.yaml', 15, 'spec.template.spec.containers[0]'],
    ]);
    expect(none.errors[0]!.message).toContain('container web sets no resources.requests.cpu');
    const limitsOnly = `          resources:\n            limits: { cpu: 100m, memory: 64Mi }\n`;
    expect((await load({ 'quota.yaml': QUOTA, 'web.yaml': deployment('web', 2, limitsOnly) })).errors).toEqual([]);
  });

  it('counts objects for count/* keys and warns about keys it does not enforce', async () => {
    const quota = `apiVersion: v1
kind: ResourceQuota
metadata: { name: objects, namespace: shop }
spec:
  hard:
    count/deployments.apps: "1"
    persistentvolumeclaims: "4"
`;
    const state = await load({ 'q.yaml': quota, 'a.yaml': deployment('a', 1), 'b.yaml': deployment('b', 1) });
    expect(state.errors.map((e) => [e.code, e.file])).toEqual([['CAPSTAN_ERR_API_QUOTA', 'b.yaml']]);
    expect(state.warnings.map((w) => w.message)).toContain(
      'spec.hard["persistentvolumeclaims"] is not enforced by Capstan (it enforces pods, cpu, memory, requests.*, limits.* and object counts)',
    );
  });

  it('refuses a hard value that is not a quantity, at its line', async () => {
    const bad = QUOTA.replace('pods: "10"', 'pods: ten');
    const state = await load({ 'quota.yaml': bad });
    expect(state.errors).toMatchObject([{ code: 'CAPSTAN_ERR_API_SCHEMA', file: 'quota.yaml', line: 8 }]);
  });
});
