// Pull-request payloads of GitHub, GitLab and Gitea (pure), and the webhook's reply to one.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookHandler, matchPullRequest, parsePullRequest, type PullRequestEvent } from '../../src/webhooks/index.js';
import { startApi, type TestApi } from '../helpers/api.js';

const REPO = 'https://git.example.test/team/manifests.git';
const HEAD = 'c'.repeat(40);
const SECRET = 'pr-hook-secret';

function githubPr(action: string, base = 'main', number = 7): Record<string, unknown> {
  return {
    action,
    number,
    pull_request: {
      number,
      title: 'More replicas',
      html_url: `https://git.example.test/team/manifests/pull/${number}`,
      head: { ref: 'more-replicas', sha: HEAD },
      base: { ref: base, sha: 'b'.repeat(40) },
    },
    repository: { clone_url: REPO, html_url: 'https://git.example.test/team/manifests', default_branch: 'main' },
  };
}

function gitlabMr(action: string, target = 'main', iid = 8): Record<string, unknown> {
  return {
    object_kind: 'merge_request',
    event_type: 'merge_request',
    project: { git_http_url: REPO, web_url: 'https://git.example.test/team/manifests', default_branch: 'main' },
    object_attributes: { iid, id: 991, action, target_branch: target, source_branch: 'more-replicas', last_commit: { id: HEAD }, title: 'More replicas', url: `https://git.example.test/team/manifests/-/merge_requests/${iid}` },
  };
}

function giteaPr(action: string, base = 'main', number = 9): Record<string, unknown> {
  return {
    action,
    number,
    pull_request: { number, title: 'More replicas', html_url: `https://git.example.test/team/manifests/pulls/${number}`, head: { ref: 'more-replicas', sha: HEAD }, base: { ref: base, sha: 'b'.repeat(40) } },
    repository: { clone_url: REPO, html_url: 'https://git.example.test/team/manifests', default_branch: 'main' },
  };
}

describe('pull-request payloads (pure)', () => {
  it('GitHub pull_request: opened, synchronize and reopened, at refs/pull/N/head', () => {
    for (const action of ['opened', 'synchronize', 'reopened']) {
      expect(parsePullRequest('github', 'pull_request', githubPr(action))).toEqual({
        provider: 'github',
        repositoryUrls: [REPO, 'https://git.example.test/team/manifests'],
        number: 7,
        action,
        baseBranch: 'main',
        defaultBranch: 'main',
        headSha: HEAD,
        headRef: 'refs/pull/7/head',
        headBranch: 'more-replicas',
        title: 'More replicas',
        url: 'https://git.example.test/team/manifests/pull/7',
      });
    }
    for (const action of ['closed', 'labeled', 'edited']) expect(parsePullRequest('github', 'pull_request', githubPr(action))).toBeUndefined();
    expect(parsePullRequest('github', 'push', githubPr('opened'))).toBeUndefined();
    expect(parsePullRequest('github', 'pull_request', { ...githubPr('opened'), pull_request: { number: 7, base: { ref: 'main' }, head: { sha: 'not-a-sha' } } })).toBeUndefined();
  });

  it('GitLab Merge Request Hook: open, update and reopen, at refs/merge-requests/IID/head', () => {
    for (const action of ['open', 'update', 'reopen']) {
      const pr = parsePullRequest('gitlab', 'Merge Request Hook', gitlabMr(action))!;
      expect(pr).toMatchObject({ provider: 'gitlab', number: 8, action, baseBranch: 'main', defaultBranch: 'main', headSha: HEAD, headRef: 'refs/merge-requests/8/head', headBranch: 'more-replicas' });
      expect(pr.repositoryUrls).toContain(REPO);
    }
    for (const action of ['close', 'merge', 'approved']) expect(parsePullRequest('gitlab', 'Merge Request Hook', gitlabMr(action))).toBeUndefined();
    expect(parsePullRequest('gitlab', 'Push Hook', gitlabMr('open'))).toBeUndefined();
  });

  it('Gitea pull_request: opened, synchronized and reopened, at refs/pull/N/head', () => {
    for (const [event, action] of [['pull_request', 'opened'], ['pull_request', 'synchronized'], ['pull_request_sync', 'synchronized'], ['pull_request', 'reopened']] as const) {
      expect(parsePullRequest('gitea', event, giteaPr(action))).toMatchObject({ provider: 'gitea', number: 9, action, baseBranch: 'main', headSha: HEAD, headRef: 'refs/pull/9/head' });
    }
    expect(parsePullRequest('gitea', 'pull_request', giteaPr('closed'))).toBeUndefined();
  });

  it('matches only pull requests against the followed branch of the followed repository', () => {
    const pr = parsePullRequest('github', 'pull_request', githubPr('opened'))!;
    expect(matchPullRequest(pr, { urls: ['git@git.example.test:team/manifests.git'], branch: 'main' })).toEqual({ matched: true });
    // No branch configured: the repository's default branch.
    expect(matchPullRequest(pr, { urls: [REPO] })).toEqual({ matched: true });
    expect(matchPullRequest(pr, { urls: [REPO], branch: 'release' })).toEqual({ matched: false, reason: 'pull request #7 to branch main; the source follows release' });
    expect(matchPullRequest(pr, { urls: ['https://git.example.test/team/other'] })).toEqual({ matched: false, reason: `pull request #7 to another repository (${REPO})` });
    const toFeature = parsePullRequest('gitlab', 'Merge Request Hook', gitlabMr('open', 'feature'))!;
    expect(matchPullRequest(toFeature, { urls: [REPO], branch: 'main' }).matched).toBe(false);
  });
});

describe('POST /api/v1/webhooks/git with a pull request', () => {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  async function start(plan: ((pr: PullRequestEvent) => Promise<unknown>) | undefined, syncs: string[]): Promise<TestApi> {
    const webhook = createWebhookHandler({
      secret: SECRET,
      repository: { urls: [REPO], branch: 'main' },
      sync: async (trigger) => {
        syncs.push(trigger);
      },
      ...(plan ? { plan } : {}),
    });
    api = await startApi({ webhook });
    return api;
  }

  const github = (a: TestApi, body: string, delivery: string) =>
    fetch(`${a.url}/api/v1/webhooks/git`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` },
    });

  it('answers 202 {plan: true, pullRequest: N} before the plan is done, and does not sync', async () => {
    const planned: PullRequestEvent[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const syncs: string[] = [];
    const a = await start(async (pr) => {
      planned.push(pr);
      await gate;
    }, syncs);
    const res = await github(a, JSON.stringify(githubPr('synchronize')), 'pr-1');
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ plan: true, pullRequest: 7, provider: 'github', commit: HEAD });
    expect(planned.map((p) => [p.number, p.headRef, p.headSha])).toEqual([[7, 'refs/pull/7/head', HEAD]]);
    release();
    expect(syncs).toEqual([]);

    const other = await github(a, JSON.stringify(githubPr('opened', 'feature', 8)), 'pr-2');
    expect(other.status).toBe(200);
    expect(((await other.json()) as { ignored: string }).ignored).toBe('pull request #8 to branch feature; the source follows main');
    const closed = await github(a, JSON.stringify(githubPr('closed')), 'pr-3');
    expect(closed.status).toBe(200);
    expect(((await closed.json()) as { ignored: string }).ignored).toMatch(/not a push or a pull request opened, updated or reopened/);
    expect(planned).toHaveLength(1);
  });

  it('without a planner a pull request is ignored as before', async () => {
    const syncs: string[] = [];
    const a = await start(undefined, syncs);
    const res = await github(a, JSON.stringify(githubPr('opened')), 'pr-x');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { ignored: string }).ignored).toMatch(/not a push/);
    expect(syncs).toEqual([]);
  });
});
