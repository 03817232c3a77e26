// Pull-request plans end to end: a control plane following a real Git repository served over
// smart HTTP on 127.0.0.1, a signed pull-request webhook from GitHub, GitLab or Gitea, and a
// local server speaking each forge's comment API. The plan lands as one comment (marker first),
// a new head updates that comment, and an invalid manifest in the pull request shows file:line:col.
import { createHmac, randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { createLogger } from '../../src/common/index.js';
import { startControlPlane, type ControlPlane } from '../../src/compose/index.js';
import { PLAN_COMMENT_MARKER } from '../../src/notify/index.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { commitFiles, createRepo, git, gitAsync, tempDir, type TestRepo } from '../helpers/git.js';
import { FakeForges, serveComments, type CommentStore } from './fake-forges.js';

const GH_TOKEN = 'ghp_PLANsecret0123456789';
const GL_TOKEN = 'glpat-PLANsecret98765';
const GT_TOKEN = 'gitea-PLAN-secret-4242';
const HOOK_SECRET = 'pr-webhook-secret-31';

const deployment = (replicas: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: web:1\n`;

const notification = (base: string): string => `apiVersion: capstan.dev/v1
kind: Notification
metadata:
  name: pr-plans
spec:
  triggers: [plan]
  sinks:
    - github: { owner: team, repo: manifests, tokenFrom: { secretKeyRef: { name: forge, key: github } }, baseUrl: "${base}/gh" }
    - gitlab: { project: "team/manifests", tokenFrom: { secretKeyRef: { name: forge, key: gitlab } }, baseUrl: "${base}/gl" }
    - gitea: { owner: team, repo: manifests, tokenFrom: { secretKeyRef: { name: forge, key: gitea } }, baseUrl: "${base}/gt" }
    - webhook: { url: "${base}/hook" }
`;

const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: forge\nstringData:\n  github: "${GH_TOKEN}"\n  gitlab: "${GL_TOKEN}"\n  gitea: "${GT_TOKEN}"\n`;

type Provider = 'github' | 'gitlab' | 'gitea';

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The pull-request webhook each forge sends, signed as it signs it. */
function delivery(provider: Provider, repoUrl: string, number: number, head: string, first: boolean): { body: string; headers: Record<string, string> } {
  const id = randomUUID();
  if (provider === 'gitlab') {
    const body = JSON.stringify({
      object_kind: 'merge_request',
      project: { git_http_url: repoUrl, default_branch: 'main' },
      object_attributes: { iid: number, action: first ? 'open' : 'update', target_branch: 'main', source_branch: 'more', last_commit: { id: head }, title: 'More replicas' },
    });
    return { body, headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Merge Request Hook', 'x-gitlab-event-uuid': id, 'x-gitlab-token': HOOK_SECRET } };
  }
  const action = first ? 'opened' : provider === 'github' ? 'synchronize' : 'synchronized';
  const body = JSON.stringify({
    action,
    number,
    pull_request: { number, title: 'More replicas', head: { ref: 'more', sha: head }, base: { ref: 'main' } },
    repository: { clone_url: repoUrl, default_branch: 'main' },
  });
  const hmac = createHmac('sha256', HOOK_SECRET).update(body).digest('hex');
  const headers: Record<string, string> =
    provider === 'github'
      ? { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': id, 'x-hub-signature-256': `sha256=${hmac}` }
      : { 'content-type': 'application/json', 'x-gitea-event': 'pull_request', 'x-gitea-delivery': id, 'x-gitea-signature': hmac };
  return { body, headers };
}

const CASES: Array<{ provider: Provider; number: number; ref: string; thread: string; prefix: string; update: string }> = [
  { provider: 'github', number: 7, ref: 'refs/pull/7/head', thread: 'gh:team/manifests#7', prefix: '/gh/', update: 'PATCH' },
  { provider: 'gitlab', number: 8, ref: 'refs/merge-requests/8/head', thread: 'gl:team/manifests!8', prefix: '/gl/', update: 'PUT' },
  { provider: 'gitea', number: 9, ref: 'refs/pull/9/head', thread: 'gt:team/manifests#9', prefix: '/gt/', update: 'PATCH' },
];

describe('plan comments on pull requests', () => {
  let server: GitServer;
  let repo: TestRepo;
  let forges: FakeForges;
  let comments: CommentStore;
  let plane: ControlPlane;
  let dataDir: string;
  const lines: string[] = [];

  beforeAll(async () => {
    forges = new FakeForges();
    await forges.start();
    comments = serveComments(forges);
    server = await startGitServer();
    repo = createRepo(server, 'manifests', { 'deploy.yaml': deployment('2'), 'notify.yaml': notification(forges.base), 'forge.yaml': secret });
    dataDir = tempDir('capstan-pr-plan-');
    const secretFile = join(dataDir, 'webhook.secret');
    writeFileSync(secretFile, `${HOOK_SECRET}\n`);
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    plane = await startControlPlane({ source: repo.url, branch: 'main', dataDir, port: 0, logger, kv: await openEmbeddedStore(), webhookSecretFile: secretFile, compactionIntervalMs: 0 });
    expect(plane.firstSync.phase).toBe('Synced');
  }, 60_000);

  afterAll(async () => {
    await plane?.stop();
    await plane?.kv.close();
    await server?.stop();
    await forges?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function send(provider: Provider, number: number, head: string, first: boolean): Promise<void> {
    const d = delivery(provider, repo.url, number, head, first);
    const res = await fetch(`${plane.url}/api/v1/webhooks/git`, { method: 'POST', body: d.body, headers: d.headers });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ plan: true, pullRequest: number, provider });
  }

  for (const c of CASES) {
    it(`${c.provider}: one comment with the plan, updated for a new head, showing file:line:col for an invalid manifest`, async () => {
      git(repo.work, 'checkout', '-q', '-B', `pr-${c.number}`, 'main');
      const head1 = commitFiles(repo.work, { 'deploy.yaml': deployment('3') }, 'three replicas');
      await gitAsync(repo.work, 'push', '-q', '--force', 'origin', `HEAD:${c.ref}`);
      await send(c.provider, c.number, head1, true);

      const first = await until('the plan comment', () => comments.thread(c.thread).find((x) => x.body.includes(head1.slice(0, 7))));
      expect(first.body.startsWith(`${PLAN_COMMENT_MARKER}\n`)).toBe(true);
      expect(first.body).toContain(`### Capstan plan: ${c.ref} (${head1.slice(0, 7)}) against main (${repo.commit.slice(0, 7)})`);
      expect(first.body).toContain('- spec.replicas: 2\n+ spec.replicas: 3');
      expect(first.body).toContain('**0** to create, **1** to update, **0** to delete');
      const reqs = forges.to(c.prefix);
      expect(reqs.filter((r) => r.method === 'POST')).toHaveLength(1);
      const auth = c.provider === 'gitlab' ? reqs[0]!.headers['private-token'] : reqs[0]!.headers.authorization;
      expect(auth).toBe(c.provider === 'github' ? `token ${GH_TOKEN}` : c.provider === 'gitlab' ? GL_TOKEN : `token ${GT_TOKEN}`);
      // Only this forge's sink commented: on the other forges the number is another pull request.
      expect([...comments.threads.keys()].filter((k) => /[#!](\d+)$/.exec(k)![1] === String(c.number))).toEqual([c.thread]);

      // A second push to the pull request: the same comment is updated, no second one.
      const head2 = commitFiles(repo.work, { 'deploy.yaml': deployment('4') }, 'four replicas');
      await gitAsync(repo.work, 'push', '-q', '--force', 'origin', `HEAD:${c.ref}`);
      await send(c.provider, c.number, head2, false);
      await until('the updated comment', () => (comments.thread(c.thread)[0]?.body.includes('+ spec.replicas: 4') ? true : undefined));
      expect(comments.thread(c.thread)).toHaveLength(1);
      expect(comments.thread(c.thread)[0]!.id).toBe(first.id);
      expect(forges.to(c.prefix).filter((r) => r.method === 'POST')).toHaveLength(1);
      const updates = forges.to(c.prefix).filter((r) => r.method === c.update);
      expect(updates).toHaveLength(1);
      expect(updates[0]!.url).toMatch(new RegExp(`/${first.id}$`));

      // An invalid manifest in the pull request: the comment says where.
      const head3 = commitFiles(repo.work, { 'deploy.yaml': deployment('"three"') }, 'broken replicas');
      await gitAsync(repo.work, 'push', '-q', '--force', 'origin', `HEAD:${c.ref}`);
      await send(c.provider, c.number, head3, false);
      const broken = await until('the comment with the error', () => comments.thread(c.thread).find((x) => x.body.includes(head3.slice(0, 7))));
      expect(broken.id).toBe(first.id);
      expect(broken.body).toContain('#### Errors');
      expect(broken.body).toMatch(/- `deploy\.yaml:6:\d+` .*replicas/);
      expect(comments.thread(c.thread)).toHaveLength(1);

      // The webhook sink got each plan's Markdown as its body.
      const hooks = forges.to('/hook').map((r) => JSON.parse(r.body) as { trigger: string; body: string; title: string; commit: string; pullRequest: { number: number; provider: string } });
      const mine = hooks.filter((h) => h.pullRequest.number === c.number);
      expect(mine.map((h) => h.commit)).toEqual([head1, head2, head3]);
      expect(mine.every((h) => h.trigger === 'plan' && h.title === `Capstan plan for pull request #${c.number}` && h.pullRequest.provider === c.provider)).toBe(true);
      expect(mine[0]!.body).toContain('+ spec.replicas: 3');
      expect(mine[2]!.body).toMatch(/#### Errors\n- `deploy\.yaml:6:\d+`/);

      git(repo.work, 'checkout', '-q', 'main');
    }, 60_000);
  }

  it('no token reaches the log or an event; deliveries are NotificationSent events on the Notification', async () => {
    const r = await plane.kv.range(STORE_PREFIX.events, { prefix: true });
    const events = r.kvs.map((i) => JSON.parse(new TextDecoder().decode(i.value)) as ClusterEvent);
    const sent = events.filter((e) => e.reason === 'NotificationSent' && e.object === 'Notification/pr-plans');
    expect(sent.map((e) => e.message)).toEqual(expect.arrayContaining([
      'plan of pull request #7 commented on github (spec.sinks[0])',
      'plan of pull request #7 comment updated on github (spec.sinks[0])',
      'plan of pull request #8 commented on gitlab (spec.sinks[1])',
      'plan of pull request #9 commented on gitea (spec.sinks[2])',
      'plan of pull request #9 sent to webhook (spec.sinks[3])',
    ]));
    const everything = `${JSON.stringify(events)}\n${lines.join('')}`;
    for (const t of [GH_TOKEN, GL_TOKEN, GT_TOKEN, HOOK_SECRET]) expect(everything).not.toContain(t);
  });
});
