// The plan comment's upsert against a local server in each forge's REST shape: found by the
// marker on any page, left alone when already current, other comments never touched; and the
// deliverer's retries and its skipping of other forges' sinks; plans of local sources.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { PLAN_COMMENT_MARKER, deliverPlan, isPlanComment, planCommentBody, planPullRequest, upsertPlanComment } from '../../src/notify/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import { commitAll, commitFiles, git, initWorkTree, tempDir } from '../helpers/git.js';
import { FakeForges, serveComments } from './fake-forges.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function forgesWithComments() {
  const forges = new FakeForges();
  await forges.start();
  cleanup.push(() => forges.close());
  return { forges, comments: serveComments(forges) };
}

const tokenFrom = { secretKeyRef: { name: 'forge', key: 'token' } };

describe('plan comment body', () => {
  it('puts the marker on the first line and cuts an overlong plan, saying so', () => {
    expect(planCommentBody('### plan\n')).toBe(`${PLAN_COMMENT_MARKER}\n### plan\n`);
    expect(isPlanComment(`  ${PLAN_COMMENT_MARKER}\nx`)).toBe(true);
    expect(isPlanComment(`> quoting\n${PLAN_COMMENT_MARKER}`)).toBe(false);
    const long = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n');
    const body = planCommentBody(long, 1000);
    expect(body.length).toBeLessThan(1200);
    expect(body).toContain('it was cut here');
    expect(body).not.toContain('line 4999');
  });
});

describe('upsertPlanComment', () => {
  it('GitHub: finds the marker comment on a later page and updates it; an unchanged body is not sent again', async () => {
    const { forges, comments } = await forgesWithComments();
    const list = comments.thread('gh:o/r#5');
    for (let i = 0; i < 130; i++) list.push({ id: i + 1, body: i === 120 ? `${PLAN_COMMENT_MARKER}\nold plan` : `comment ${i} ${PLAN_COMMENT_MARKER}` });
    const sink = { github: { owner: 'o', repo: 'r', tokenFrom, baseUrl: `${forges.base}/gh` } };
    const deps = { fetch: (u: string, i?: RequestInit) => fetch(u, i) };
    expect(await upsertPlanComment(sink, { token: 't' }, 5, planCommentBody('new plan'), deps)).toEqual({ ok: true, action: 'updated', id: 121 });
    expect(list[120]!.body).toBe(planCommentBody('new plan'));
    expect(list.filter((c) => c.body.includes('new plan'))).toHaveLength(1);
    expect(await upsertPlanComment(sink, { token: 't' }, 5, planCommentBody('new plan'), deps)).toEqual({ ok: true, action: 'unchanged', id: 121 });
    expect(forges.received.filter((r) => r.method === 'PATCH')).toHaveLength(1);
    expect(forges.received.filter((r) => r.method === 'GET').map((r) => new URL(r.url, forges.base).searchParams.get('page'))).toEqual(['1', '2', '1', '2']);
  });

  it('GitLab: a system note with the marker is not ours; a 403 is a permanent failure with its status', async () => {
    const { forges, comments } = await forgesWithComments();
    comments.thread('gl:g/p!3').push({ id: 1, body: `${PLAN_COMMENT_MARKER}\nsystem`, system: true });
    const sink = { gitlab: { project: 'g/p', tokenFrom, baseUrl: `${forges.base}/gl` } };
    const deps = { fetch: (u: string, i?: RequestInit) => fetch(u, i) };
    const r = await upsertPlanComment(sink, { token: 't' }, 3, planCommentBody('plan'), deps);
    expect(r).toMatchObject({ ok: true, action: 'created' });
    expect(comments.thread('gl:g/p!3').map((c) => c.body)).toEqual([`${PLAN_COMMENT_MARKER}\nsystem`, planCommentBody('plan')]);
    forges.answers.set('/gl/', [403]);
    expect(await upsertPlanComment(sink, { token: 't' }, 3, planCommentBody('other'), deps)).toEqual({ ok: false, status: 403, detail: 'HTTP 403', permanent: true });
  });
});

describe('deliverPlan', () => {
  it('retries a forge answering 502, then comments once; sinks of other forges get nothing', async () => {
    const { forges, comments } = await forgesWithComments();
    forges.answers.set('/gt/', [502, 502, 200]);
    const kv = await openEmbeddedStore({});
    cleanup.push(() => kv.close());
    const n = {
      apiVersion: 'capstan.dev/v1',
      kind: 'Notification',
      metadata: { name: 'plans', namespace: 'team' },
      spec: {
        triggers: ['plan'],
        sinks: [{ github: { owner: 'o', repo: 'r', tokenFrom, baseUrl: `${forges.base}/gh` } }, { gitea: { owner: 'o', repo: 'r', tokenFrom, baseUrl: `${forges.base}/gt` } }],
      },
    };
    await kv.put(`${STORE_PREFIX.desired}Notification/team/plans`, JSON.stringify({ object: n, appliedAt: '2026-01-01T00:00:00.000Z' }));
    await kv.put(`${STORE_PREFIX.desired}Secret/team/forge`, JSON.stringify({ object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'forge', namespace: 'team' }, stringData: { token: 'gitea-token-xyz' } } }));
    const waits: number[] = [];
    const pr = { provider: 'gitea' as const, number: 4, headSha: 'a'.repeat(40), headRef: 'refs/pull/4/head', baseBranch: 'main' };
    const occurrence = { id: 'plan:x', trigger: 'plan' as const, kind: 'Source', name: 'default', message: 'm', commit: pr.headSha, at: '2026-06-01T00:00:00.000Z' };
    const r = await deliverPlan({ kv, retry: { baseMs: 10, maxAttempts: 5, random: () => 0 }, sleep: async (ms) => void waits.push(ms) }, { occurrence, markdown: '### plan\n', pullRequest: pr });
    expect(r).toEqual({ sent: 1, failed: 0 });
    expect(waits).toEqual([5, 10]);
    expect(comments.thread('gt:o/r#4').map((c) => c.body)).toEqual([planCommentBody('### plan\n')]);
    expect(forges.to('/gh/')).toEqual([]);
  });
});

describe('planPullRequest on local sources', () => {
  it('a local repository without the forge ref plans the head commit; a plain folder is not planned; a missing ref is said in the Markdown', async () => {
    const deploy = (n: number) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${n}\n  selector:\n    matchLabels: { app: web }\n  template:\n    metadata:\n      labels: { app: web }\n    spec:\n      containers:\n        - name: web\n          image: web:1\n`;
    const work = initWorkTree({ 'deploy.yaml': deploy(1) });
    const base = commitAll(work, 'base');
    git(work, 'checkout', '-q', '-b', 'feature');
    const head = commitFiles(work, { 'deploy.yaml': deploy(5) }, 'five');
    git(work, 'checkout', '-q', 'main');
    const folder = tempDir('capstan-plain-');
    cleanup.push(() => rmSync(work, { recursive: true, force: true }), () => rmSync(folder, { recursive: true, force: true }));
    const pr = { provider: 'github' as const, number: 3, headSha: head, headRef: 'refs/pull/3/head', baseBranch: 'main' };

    const planned = (await planPullRequest(await openSource(work), pr))!;
    expect(planned.commit).toBe(head);
    expect(planned.plan!.base).toMatchObject({ kind: 'ref', ref: 'main', commit: base });
    expect(planned.markdown).toContain('+ spec.replicas: 5');
    expect(planned.summary).toBe('pull request #3: 0 to create, 1 to update, 0 to delete, 0 unchanged');

    expect(await planPullRequest(await openSource(folder), pr)).toBeUndefined();

    const gone = (await planPullRequest(await openSource(work), { ...pr, headSha: 'f'.repeat(40) }))!;
    expect(gone.plan).toBeUndefined();
    expect(gone.markdown).toMatch(/:x: Capstan could not read refs\/pull\/3\/head of .*\[CAPSTAN_ERR_SOURCE_REF_NOT_FOUND\]/);
  });
});
