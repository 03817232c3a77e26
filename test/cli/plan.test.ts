import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, amendAndForcePush, tempDir, git, type TestRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';

const examples = fileURLToPath(new URL('../../examples-repo', import.meta.url));

function web(image: string, replicas = 4): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: ${image}
`;
}

const config = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  MODE: blue
`;

describe('capstan plan on examples-repo', () => {
  it('prints the contract JSON: every object to create, no errors', async () => {
    const r = await runCli(['plan', examples, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.source).toHaveProperty('ref');
    expect(plan.source).toHaveProperty('commit');
    expect(plan.errors).toEqual([]);
    expect(Array.isArray(plan.warnings)).toBe(true);
    const ids = plan.changes.map((c: any) => `${c.action} ${c.kind} ${c.namespace}/${c.name}`);
    expect(ids).toEqual(
      expect.arrayContaining([
        'create Deployment default/web',
        'create Service default/web',
        'create Rollout default/api',
        'create ConfigMap default/app-config',
        'create CronJob default/cleanup',
      ]),
    );
    for (const c of plan.changes) {
      expect(c.fields.length).toBeGreaterThan(0);
      for (const f of c.fields) expect(typeof f.path).toBe('string');
    }
    const api = plan.changes.find((c: any) => c.kind === 'Rollout');
    expect(api.rollout.strategy).toBe('Canary');
    expect(Array.isArray(api.rollout.steps)).toBe(true);
  });

  it('--detailed-exitcode exits 2 when there are changes', async () => {
    const r = await runCli(['plan', examples, '--detailed-exitcode', '-o', 'json']);
    expect(r.code).toBe(2);
  });
});

describe('capstan plan against a repository served over smart HTTP', () => {
  let server: GitServer;
  let repo: TestRepo;
  let first: string;
  let dataDir: string;

  beforeAll(async () => {
    server = await startGitServer();
    repo = createRepo(server, 'deploy', { 'apps/web.yaml': web('web:1'), 'config/settings.yaml': config });
    first = repo.commit;
    git(repo.work, 'checkout', '-q', '-b', 'feature');
    pushCommit(repo, { 'apps/web.yaml': web('web:2', 6), 'config/settings.yaml': null }, 'web 2, drop settings');
    git(repo.work, 'push', '-q', 'origin', 'feature');
    git(repo.work, 'checkout', '-q', 'main');
    dataDir = tempDir('capstan-plan-data-');
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('--base compares two refs with field-level changes and the rollout', async () => {
    const r = await runCli(['plan', repo.url, '--base', 'main', '--ref', 'feature', '--data-dir', dataDir, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.source.ref).toBe('feature');
    expect(plan.source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(plan.base).toMatchObject({ kind: 'ref', ref: 'main', commit: first });
    const web = plan.changes.find((c: any) => c.kind === 'Deployment');
    expect(web.action).toBe('update');
    expect(web.fields).toEqual(
      expect.arrayContaining([
        { path: 'spec.replicas', from: 4, to: 6 },
        { path: 'spec.template.spec.containers[0].image', from: 'web:1', to: 'web:2' },
      ]),
    );
    expect(web.rollout).toMatchObject({ strategy: 'RollingUpdate', replicas: 6, maxSurge: 2, maxUnavailable: 1 });
    const deleted = plan.changes.find((c: any) => c.action === 'delete');
    expect(deleted).toMatchObject({ kind: 'ConfigMap', name: 'settings' });
  });

  it('renders a pull-request comment in Markdown (golden file)', async () => {
    const r = await runCli(['plan', repo.url, '--base', 'main', '--ref', 'feature', '--data-dir', dataDir, '-o', 'markdown']);
    expect(r.code).toBe(0);
    // Commit ids depend on nothing but content, author and date, so the output is stable.
    const golden = fileURLToPath(new URL('./golden/plan-review.md', import.meta.url));
    if (process.env.UPDATE_GOLDEN || !existsSync(golden)) writeFileSync(golden, r.stdout);
    expect(r.stdout).toBe(readFileSync(golden, 'utf8'));
  });

  it('plans no change when base and ref are the same commit', async () => {
    const r = await runCli(['plan', repo.url, '--base', first, '--ref', 'main', '--data-dir', dataDir, '--detailed-exitcode']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No changes.');
  });

  it('follows a force-pushed branch and warns that history was rewritten', async () => {
    await runCli(['plan', repo.url, '--ref', 'main', '--data-dir', dataDir, '-o', 'json']);
    const rewritten = amendAndForcePush(repo, { 'apps/web.yaml': web('web:3') });
    const r = await runCli(['plan', repo.url, '--ref', 'main', '--data-dir', dataDir, '-o', 'json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.source.commit).toBe(rewritten);
    expect(plan.warnings.map((w: any) => w.message).join('\n')).toMatch(/rewritten|force/i);
    const web3 = plan.changes.find((c: any) => c.kind === 'Deployment');
    expect(web3.fields).toEqual(expect.arrayContaining([{ path: 'spec', to: expect.objectContaining({ replicas: 4 }) }]));
  });
});
