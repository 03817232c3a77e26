// The notify controller against local servers that speak the REST shapes of GitHub (octokit at
// baseUrl http://127.0.0.1:PORT), GitLab, Gitea, Slack and a generic signed webhook.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { createLogger, silentLogger } from '../../src/common/index.js';
import type { Controller } from '../../src/controllers/index.js';
import { REASON_FAILED, REASON_SENT, notifyController, verifySignature } from '../../src/notify/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { SyncLoop } from '../../src/sync/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';
import { FakeForges } from './fake-forges.js';

const GH_TOKEN = 'ghp_SECRETtoken0123456789';
const GL_TOKEN = 'glpat-SECRETgitlab98765';
const GT_TOKEN = 'gitea-SECRET-4242abcd';
const HMAC_KEY = 'hmac-SECRET-key-77';
const SLACK_PATH = '/services/T000/B000/SLACKSECRETPATH';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const decoder = new TextDecoder();
async function events(kv: KV): Promise<ClusterEvent[]> {
  const r = await kv.range(STORE_PREFIX.events, { prefix: true });
  return r.kvs.map((i) => JSON.parse(decoder.decode(i.value)) as ClusterEvent);
}

/** Every value in the store except the Secrets that hold the credentials. */
async function storeText(kv: KV): Promise<string> {
  const r = await kv.range('/', { prefix: true });
  return r.kvs.filter((i) => !i.key.startsWith(`${STORE_PREFIX.desired}Secret/`)).map((i) => `${i.key}=${decoder.decode(i.value)}`).join('\n');
}

function secretYaml(name: string, data: Record<string, string>): string {
  return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\nstringData:\n${Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`).join('\n')}\n`;
}

function captureLogs(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  return { logger, text: () => lines.join('') };
}

function start(c: Controller): Controller {
  c.start();
  cleanup.push(() => c.stop());
  return c;
}

describe('notify: forge commit statuses for synced commits', () => {
  it('posts capstan/sync success for a synced commit and failure with the first error file:line:col for a refused one, on GitHub, GitLab and Gitea', async () => {
    const forges = new FakeForges();
    await forges.start();
    cleanup.push(() => forges.close());
    const notification = `apiVersion: capstan.dev/v1
kind: Notification
metadata:
  name: commits
spec:
  triggers: [sync-succeeded, sync-failed]
  sinks:
    - github: { owner: o, repo: r, tokenFrom: { secretKeyRef: { name: forge, key: github } }, baseUrl: "${forges.base}/gh" }
    - gitlab: { project: "group/proj", tokenFrom: { secretKeyRef: { name: forge, key: gitlab } }, baseUrl: "${forges.base}/gl" }
    - gitea: { owner: o, repo: r, tokenFrom: { secretKeyRef: { name: forge, key: gitea } }, baseUrl: "${forges.base}/gt" }
`;
    const dir = initWorkTree({ 'notify.yaml': notification, 'forge.yaml': secretYaml('forge', { github: GH_TOKEN, gitlab: GL_TOKEN, gitea: GT_TOKEN }), 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n' });
    const first = commitFiles(dir, {}, 'first');
    const kv = await openEmbeddedStore({});
    const loop = new SyncLoop({ source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger() });
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => kv.close(), () => loop.stop());
    const logs = captureLogs();
    start(notifyController({ kv, logger: logs.logger, retry: { baseMs: 5, maxAttempts: 3 } }));

    expect((await loop.sync('test')).phase).toBe('Synced');
    await until('three statuses', () => forges.received.length >= 3);
    const gh = forges.to('/gh/');
    expect(gh).toHaveLength(1);
    expect(gh[0]).toMatchObject({ method: 'POST', url: `/gh/repos/o/r/statuses/${first}` });
    expect(gh[0]!.headers.authorization).toBe(`token ${GH_TOKEN}`);
    expect(JSON.parse(gh[0]!.body)).toMatchObject({ state: 'success', context: 'capstan/sync' });
    const gl = forges.to('/gl/');
    expect(gl[0]).toMatchObject({ method: 'POST', url: `/gl/api/v4/projects/group%2Fproj/statuses/${first}` });
    expect(gl[0]!.headers['private-token']).toBe(GL_TOKEN);
    expect(JSON.parse(gl[0]!.body)).toMatchObject({ state: 'success', name: 'capstan/sync' });
    const gt = forges.to('/gt/');
    expect(gt[0]).toMatchObject({ method: 'POST', url: `/gt/api/v1/repos/o/r/statuses/${first}` });
    expect(gt[0]!.headers.authorization).toBe(`token ${GT_TOKEN}`);
    expect(JSON.parse(gt[0]!.body)).toMatchObject({ state: 'success', context: 'capstan/sync' });

    // The next poll writes the same state again: not posted again.
    await loop.sync('poll');
    const bad = commitFiles(dir, { 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: [not, a, string]\n' }, 'break it');
    expect((await loop.sync('test')).phase).toBe('Invalid');
    await until('failure statuses', () => forges.received.length >= 6);
    await new Promise((r) => setTimeout(r, 100));
    expect(forges.received).toHaveLength(6);
    const ghBad = forges.to('/gh/')[1]!;
    expect(ghBad.url).toBe(`/gh/repos/o/r/statuses/${bad}`);
    const body = JSON.parse(ghBad.body) as { state: string; description: string };
    expect(body.state).toBe('failure');
    expect(body.description).toMatch(/^cm\.yaml:6:\d+: /);
    expect(JSON.parse(forges.to('/gl/')[1]!.body)).toMatchObject({ state: 'failed' });
    expect(JSON.parse(forges.to('/gt/')[1]!.body)).toMatchObject({ state: 'failure' });

    const sent = (await events(kv)).filter((e) => e.reason === REASON_SENT);
    expect(sent.every((e) => e.object === 'Notification/commits')).toBe(true);
    expect(sent.length).toBeGreaterThan(0);
    for (const t of [GH_TOKEN, GL_TOKEN, GT_TOKEN]) {
      expect(logs.text()).not.toContain(t);
      expect(await storeText(kv)).not.toContain(t);
    }
  });
});

describe('notify: workload triggers to Slack and webhooks', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function setup(
    sinks: string[],
    retry = { baseMs: 5, maxAttempts: 3 },
    o: { triggers?: string[]; answers?: Record<string, number[]>; commit?: string } = {},
  ) {
    const forges = new FakeForges();
    for (const [p, a] of Object.entries(o.answers ?? {})) forges.answers.set(p, [...a]);
    await forges.start();
    cleanup.push(() => forges.close());
    h = await harness();
    const x = h;
    await x.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'slack', namespace: 'default' }, stringData: { url: `${forges.base}${SLACK_PATH}` } });
    await x.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook', namespace: 'default' }, stringData: { hmac: HMAC_KEY, gh: GH_TOKEN } });
    await x.apply({
      apiVersion: 'capstan.dev/v1',
      kind: 'Notification',
      metadata: { name: 'team-alerts', namespace: 'default' },
      spec: {
        triggers: o.triggers ?? ['rollout-started', 'healthy'],
        selector: { matchLabels: { app: 'web' } },
        template: { title: '{{ workload }} {{ trigger }}', body: '{{ workload }} {{ trigger }} at {{ revision }}: {{ message }}' },
        sinks: sinks.map((s) => JSON.parse(s.replace('BASE', forges.base)) as unknown),
      },
    });
    const logs = captureLogs();
    const ctl = start(notifyController({ kv: x.kv, logger: logs.logger, retry }));
    const web = deployment('web', 'web:1');
    web.metadata.labels = { app: 'web' };
    await x.apply(web, o.commit);
    await x.drive(async () => (await x.status('web'))?.phase === 'Healthy');
    return { h: x, forges, logs, ctl };
  }

  it('a rollout reaching Healthy is a Slack message and a signed webhook POST, each once; other workloads are not told', async () => {
    const { h: x, forges, logs } = await setup([
      JSON.stringify({ slack: { urlFrom: { secretKeyRef: { name: 'slack', key: 'url' } } } }),
      JSON.stringify({ webhook: { url: 'BASE/hook', secretRef: { name: 'hook', key: 'hmac' } } }),
    ]);
    await until('slack healthy', () => forges.to(SLACK_PATH).some((r) => r.body.includes('healthy')));
    await until('webhook healthy', () => forges.to('/hook').some((r) => r.body.includes('"healthy"')));
    // Another workload without the label: nothing for it.
    await x.apply(deployment('db', 'db:1'));
    await x.drive(async () => (await x.status('db'))?.phase === 'Healthy');
    await new Promise((r) => setTimeout(r, 150));

    const slack = forges.to(SLACK_PATH).map((r) => JSON.parse(r.body) as { text: string; blocks: unknown[] });
    expect(slack.map((m) => m.text)).toEqual([
      expect.stringMatching(/^\*web rollout-started\*\nweb rollout-started at 1: Rolling out revision 1/),
      expect.stringMatching(/^\*web healthy\*\nweb healthy at 1: Revision 1 \(web-[a-z0-9]+\) is available/),
    ]);
    expect(slack[1]!.blocks).toHaveLength(1);
    const hooks = forges.to('/hook');
    expect(hooks).toHaveLength(2);
    for (const r of hooks) {
      expect(verifySignature(HMAC_KEY, r.body, r.headers['x-capstan-signature'] as string)).toBe(true);
      expect(verifySignature('wrong', r.body, r.headers['x-capstan-signature'] as string)).toBe(false);
    }
    expect(JSON.parse(hooks[1]!.body)).toMatchObject({ trigger: 'healthy', kind: 'Deployment', namespace: 'default', name: 'web', revision: 1, commit: 'c0ffee' });
    expect(forges.received.some((r) => r.body.includes('"db"') || r.body.includes('db rollout'))).toBe(false);
    expect((await events(x.kv)).filter((e) => e.reason === REASON_SENT).length).toBeGreaterThan(0);
    expect(logs.text()).not.toContain(SLACK_PATH);
    expect(logs.text()).not.toContain(HMAC_KEY);
  });

  it('a sink answering 500 twice then 200 gets one delivery after retries; sinks always 500 give NotificationFailed with no secret anywhere', async () => {
    const { h: x, forges, logs } = await setup(
      [
        JSON.stringify({ webhook: { url: 'BASE/flaky', secretRef: { name: 'hook', key: 'hmac' } } }),
        JSON.stringify({ slack: { urlFrom: { secretKeyRef: { name: 'slack', key: 'url' } } } }),
        JSON.stringify({ github: { owner: 'o', repo: 'r', tokenFrom: { secretKeyRef: { name: 'hook', key: 'gh' } }, baseUrl: 'BASE/gh' } }),
      ],
      { baseMs: 5, maxAttempts: 4 },
      { triggers: ['healthy'], answers: { '/flaky': [500, 500, 200], [SLACK_PATH]: [500], '/gh/': [500] }, commit: 'abcdef1234567890' },
    );
    await until('two NotificationFailed events', async () => (await events(x.kv)).filter((e) => e.reason === REASON_FAILED).length >= 2);
    await new Promise((r) => setTimeout(r, 150));
    // Three tries, the last one answered 200, and nothing after it.
    expect(forges.to('/flaky')).toHaveLength(3);
    const bodies = new Set(forges.to('/flaky').map((r) => r.body));
    expect(bodies.size).toBe(1);
    // Always 500: the bounded number of attempts, then one Warning each.
    expect(forges.to(SLACK_PATH)).toHaveLength(4);
    const gh = forges.to('/gh/');
    expect(gh).toHaveLength(4);
    expect(gh[0]!.url).toBe('/gh/repos/o/r/statuses/abcdef1234567890');
    expect(JSON.parse(gh[0]!.body)).toMatchObject({ state: 'success', context: 'capstan/rollout/default/web' });
    const all = await events(x.kv);
    const failed = all.filter((e) => e.reason === REASON_FAILED);
    expect(failed.map((e) => [e.object, e.type]).sort()).toEqual([
      ['Notification/team-alerts', 'Warning'],
      ['Notification/team-alerts', 'Warning'],
    ]);
    expect(failed.map((e) => e.message).sort()).toEqual([
      expect.stringMatching(/^github sink \(spec\.sinks\[2\]\): healthy of Deployment\/default\/web not delivered after 4 attempts: HTTP 500$/),
      expect.stringMatching(/^slack sink \(spec\.sinks\[1\]\): healthy of Deployment\/default\/web not delivered after 4 attempts: HTTP 500$/),
    ]);
    expect(all.filter((e) => e.reason === REASON_SENT).map((e) => e.message)).toEqual([expect.stringContaining('sent to webhook (spec.sinks[0])')]);
    const everything = `${JSON.stringify(all)}\n${logs.text()}\n${await storeText(x.kv)}`;
    for (const secret of [SLACK_PATH, 'SLACKSECRETPATH', HMAC_KEY, GH_TOKEN]) expect(everything).not.toContain(secret);
    expect(logs.text()).toContain('notification not delivered');
  });

  it('a missing Secret key is a NotificationFailed naming the Secret and key, at once, with no retries', async () => {
    const { h: x, forges } = await setup([JSON.stringify({ slack: { urlFrom: { secretKeyRef: { name: 'slack', key: 'nope' } } } })], { baseMs: 5, maxAttempts: 4 }, { triggers: ['healthy'] });
    await until('NotificationFailed', async () => (await events(x.kv)).some((e) => e.reason === REASON_FAILED));
    const e = (await events(x.kv)).find((ev) => ev.reason === REASON_FAILED)!;
    expect(e.message).toContain('no key "nope" in Secret default/slack [CAPSTAN_ERR_NOTIFY_SECRET]');
    expect(e.message).toContain('after 1 attempt:');
    expect(forges.received).toHaveLength(0);
  });

  it('a restarted controller does not deliver again what it delivered before', async () => {
    const { h: x, forges, logs, ctl } = await setup([JSON.stringify({ webhook: { url: 'BASE/hook' } })]);
    await until('two webhook posts', () => forges.to('/hook').length >= 2);
    await ctl.waitIdle();
    await ctl.stop();
    const again = notifyController({ kv: x.kv, logger: logs.logger, retry: { baseMs: 5, maxAttempts: 3 } });
    start(again);
    await new Promise((r) => setTimeout(r, 200));
    await again.waitIdle();
    expect(forges.to('/hook')).toHaveLength(2);
  });
});
