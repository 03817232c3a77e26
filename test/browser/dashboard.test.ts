// The dashboard in a real Chromium (Debian's, driven by playwright-core): a control plane with
// its router and a process-runtime agent, running a copy of examples-repo (web and the api
// canary; smaller and on free ports). A deployer signs in, sees web Healthy, sees a refused
// commit's error at file:line:col, watches the api canary pause with its step, set weight and
// live per-revision figures, and promotes it; opens what the synced commit changed, field by
// field; a viewer sees the same without the buttons.
// Screenshots go to test-artifacts/dashboard/.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/server/index.js';
import { cleanupCluster, startTestCluster, waitFor, type TestCluster } from '../helpers/cluster.js';
import { freePort, startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, pushCommit, type TestRepo } from '../helpers/git.js';
import { healthy, rolloutStatus, startLoad } from '../helpers/progressive.js';
import { workloadStatus } from '../helpers/cluster.js';

const CHROMIUM = '/usr/bin/chromium';
const skipReason = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed`;
const ARTIFACTS = resolve('test-artifacts/dashboard');
const EXAMPLES = resolve('examples-repo');

let git: GitServer;
let repo: TestRepo;
let cluster: TestCluster | undefined;
let browser: Browser | undefined;
let deployerToken = '';
let viewerToken = '';
const ports = { web: 0, api: 0 };

/** The examples' web and worker Deployments, api Rollout and their ConfigMap, made small and quick for a test. */
function examples(apiVersion = 'v1', webReplicas: string | number = 2): Record<string, string> {
  const web = readFileSync(join(EXAMPLES, 'apps/web.yaml'), 'utf8')
    .replace('replicas: 3', `replicas: ${webReplicas}`)
    .replace('minReadySeconds: 2', 'minReadySeconds: 0')
    .replace(/periodSeconds: 2/g, 'periodSeconds: 1')
    .replace(/^(\s+)port: 8080$/m, `$1port: ${ports.web}`);
  const api = readFileSync(join(EXAMPLES, 'apps/api.yaml'), 'utf8')
    .replace('replicas: 4', 'replicas: 2')
    .replace(/      steps:\n[\s\S]*?# waits for `capstan promote api`\n/, '      steps:\n        - setWeight: 25\n        - pause: {}          # waits for `capstan promote api`\n')
    .replace(/periodSeconds: 2/g, 'periodSeconds: 1')
    .replace("version: 'v1'", `version: '${apiVersion}'`)
    .replace(/^(\s+)port: 9090$/m, `$1port: ${ports.api}`);
  expect(web).toContain(`port: ${ports.web}`);
  expect(api).toContain('setWeight: 25');
  expect(api).toContain(`port: ${ports.api}`);
  const worker = readFileSync(join(EXAMPLES, 'apps/worker.yaml'), 'utf8').replace("'worker: queue empty'), 5000)", "'worker: queue empty'), 300)");
  expect(worker).toContain(', 300)');
  return { 'config/app-config.yaml': readFileSync(join(EXAMPLES, 'config/app-config.yaml'), 'utf8'), 'apps/web.yaml': web, 'apps/api.yaml': api, 'apps/worker.yaml': worker };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function signIn(token: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  (page as Page & { problems?: string[] }).problems = problems;
  await page.goto(cluster!.url);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('table.apps');
  return page;
}

const problemsOf = (page: Page): string[] => (page as Page & { problems?: string[] }).problems ?? [];

describe.skipIf(skipReason !== undefined)('dashboard in Chromium', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ports.web = await freePort();
    ports.api = await freePort();
    git = await startGitServer();
    repo = createRepo(git, 'dashboard', examples());
    const started = startTestCluster({ source: repo.url, router: { bindAddress: '127.0.0.1' } });
    [cluster, browser] = await Promise.all([started, chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })]);
    expect(cluster.firstSync.phase, cluster.firstSync.message).toBe('Synced');
    deployerToken = (await createToken(cluster.kv, { role: 'deployer', user: 'dana' })).token;
    viewerToken = (await createToken(cluster.kv, { role: 'viewer', user: 'vic' })).token;
    await waitFor(
      async () => (await workloadStatus(cluster!.kv, 'web'))?.phase === 'Healthy' && (await workloadStatus(cluster!.kv, 'worker'))?.phase === 'Healthy' && (await healthy(cluster!.kv, 'api')),
      30_000,
      'web, worker and api healthy',
    );
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await cleanupCluster(cluster, cluster?.dataDir);
    await git?.stop();
  });

  it('signs a deployer in, shows web Healthy, then a refused commit at file:line:col', async () => {
    const page = await signIn(deployerToken);
    await expect.poll(() => page.textContent('header.top .role')).toBe('deployer');
    await page.waitForSelector('tr[data-app="default/web"] td.health >> text=Healthy');
    await page.waitForSelector('tr[data-app="default/api"] td.health >> text=Healthy');
    expect(await page.textContent('tr[data-app="default/web"] td.sync')).toBe('Synced');
    expect(await page.textContent('section.source .badge')).toBe('Synced');
    await shot(page, 'overview');

    // A bad commit: refused whole; the page hears of it through the sources watch.
    const bad = pushCommit(repo, { 'apps/web.yaml': examples('v1', '"three"')['apps/web.yaml']! }, 'web: replicas as a string');
    const state = await cluster!.sync.sync('test');
    expect(state.phase).toBe('Invalid');
    const where = page.locator('section.source .problem .where').first();
    await where.waitFor({ timeout: 10_000 });
    expect(await where.textContent()).toMatch(/^apps\/web\.yaml:\d+:\d+$/);
    const expected = state.errors.find((e) => e.file === 'apps/web.yaml')!;
    expect(await where.textContent()).toBe(`apps/web.yaml:${expected.line}:${expected.column}`);
    // A test Git server is no forge: the location is shown, not linked.
    expect(await where.evaluate((e) => e.tagName)).toBe('CODE');
    expect(await page.textContent('section.source .badge')).toBe('Invalid');
    expect(await page.textContent('section.source')).toContain(bad.slice(0, 7));
    await shot(page, 'refused-commit');
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('shows the paused canary with its step and live figures, and promotes it', async () => {
    // Fix web and release api v2: the canary stops at setWeight 25 and waits for a promote.
    pushCommit(repo, examples('v2'), 'api v2');
    expect((await cluster!.sync.sync('test')).phase).toBe('Synced');
    await waitFor(async () => (await rolloutStatus(cluster!.kv, 'api'))?.phase === 'Paused', 20_000, 'api paused at its pause step');

    const load = startLoad(ports.api, 2, 30_000);
    try {
      const page = await signIn(deployerToken);
      await page.click('tr[data-app="default/api"] a');
      await page.waitForSelector('section.workload .badge >> text=Paused');
      expect(await page.textContent('section.workload .strategy')).toBe('Canary');
      expect(await page.textContent('.steps li[aria-current=step]')).toBe('pause until promoted');
      expect(await page.locator('.steps li.done').allTextContents()).toEqual(['set weight 25%']);
      expect(await page.textContent('.weight .set')).toBe('25%');
      // The router's per-revision figures arrive through the services watch.
      await page.waitForSelector('tr.current td.success:text-matches("\\\\d+\\\\.\\\\d+%")', { timeout: 15_000 });
      expect(await page.textContent('tr.current td.p99')).toMatch(/ms$/);
      expect(await page.textContent('tr.current td.set-weight')).toBe('25%');
      await shot(page, 'canary-paused');

      await page.click('button[data-action=promote]');
      await page.waitForSelector('.actions [role=alert]:text-matches("^promote")');
      await page.waitForSelector('section.workload .badge >> text=Healthy', { timeout: 20_000 });
      // Nothing left to promote or abort; rolling back stays offered.
      await expect.poll(() => page.locator('button[data-action=promote]').count()).toBe(0);
      expect(await page.locator('button[data-action=rollback]').count()).toBe(1);
      expect(await page.locator('ol.timeline li').count()).toBeGreaterThanOrEqual(2);
      expect(await page.textContent('ol.timeline li:first-child')).toContain('Healthy');
      await shot(page, 'promoted');
      expect(problemsOf(page)).toEqual([]);
      await page.context().close();
    } finally {
      await load.stop();
    }
  });

  it("opens what a commit changed from the source's synced commit and from the history", async () => {
    const page = await signIn(viewerToken);
    const synced = page.locator('section.source a[data-commit]');
    const sha = await synced.getAttribute('data-commit');
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    await synced.click();
    const row = page.locator('section.plan-object[data-object="Rollout/default/api"] tr[data-path="spec.template.spec.containers[0].args[0]"]');
    await row.waitFor();
    expect(await page.getAttribute('section.plan', 'data-commit')).toBe(sha);
    expect(await page.textContent('section.plan .message')).toBe('api v2');
    expect(await row.locator('td.before').textContent()).toContain("version: 'v1'");
    expect(await row.locator('td.after').textContent()).toContain("version: 'v2'");
    expect(await page.textContent('section.plan-object[data-object="Rollout/default/api"] .badge')).toBe('update');
    await shot(page, 'commit-plan');

    // The api's history links the same commit.
    await page.click('main a[href="#/"]');
    await page.click('tr[data-app="default/api"] a');
    await page.click(`ol.timeline a[data-commit="${sha}"]`);
    await page.waitForSelector(`section.plan[data-commit="${sha}"]`);
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('shows a viewer the same workload without the buttons', async () => {
    const page = await signIn(viewerToken);
    expect(await page.textContent('header.top .role')).toBe('viewer');
    await page.click('tr[data-app="default/api"] a');
    await page.waitForSelector('section.workload');
    await page.waitForSelector('ol.timeline li');
    expect(await page.locator('button[data-action]').count()).toBe(0);
    // The server refuses a viewer's POST as well.
    const status = await page.evaluate(async (t) => (await fetch('/api/v1/deployments/default/api/promote', { method: 'POST', headers: { authorization: `Bearer ${t}` } })).status, viewerToken);
    expect(status).toBe(403);
    await shot(page, 'viewer');
    await page.context().close();
  });

  it("follows a pod's log", async () => {
    const page = await signIn(viewerToken);
    await page.click('tr[data-app="default/worker"] a');
    const button = page.locator('button[data-logs]').first();
    await button.waitFor();
    const pod = await button.getAttribute('data-logs');
    expect(pod).toMatch(/^worker-/);
    await button.click();
    await page.waitForSelector('.logs .log-state >> text=following');
    // Polled from the test, not evaluated in the page: the page's CSP forbids string evaluation.
    await expect.poll(async () => (await page.locator('pre.log').textContent()) ?? '', { timeout: 10_000 }).toContain('worker: queue empty');
    // New lines keep arriving while the panel is open (the worker logs every 300 ms).
    const count = async () => ((await page.locator('pre.log').textContent()) ?? '').split('worker: queue empty').length - 1;
    const before = await count();
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(before + 2);
    const after = await page.locator('pre.log').textContent();
    expect(after).toMatch(/^\d{4}-\d\d-\d\dT[^\n]+ worker: queue empty$/m);
    await shot(page, 'logs');
    await page.click('.logs button');
    expect(await page.locator('.logs').count()).toBe(0);
    expect(problemsOf(page)).toEqual([]);
    await page.context().close();
  });

  it('turns a bad token away at sign-in', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    await page.goto(cluster!.url);
    await page.fill('#token', 'capstan_not-a-token');
    await page.click('button[type=submit]');
    expect(await page.locator('.login [role=alert]').textContent()).toContain('not valid');
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('capstan.token'))).toBeNull();
    await context.close();
  });
});
