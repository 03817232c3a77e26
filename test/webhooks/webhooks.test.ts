import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DeliveryCache,
  createWebhookHandler,
  loadWebhookSecret,
  matchPush,
  normalizeRepoUrl,
  parsePush,
  verifyGithubSignature,
  verifyGitlabToken,
} from '../../src/webhooks/index.js';
import { startApi, type TestApi } from '../helpers/api.js';

const SECRET = 'hook-secret-1';
const REPO = 'https://git.example.test/team/manifests.git';

function hmac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function githubPush(branch: string, after = 'a'.repeat(40)): string {
  return JSON.stringify({
    ref: `refs/heads/${branch}`,
    after,
    repository: { clone_url: REPO, html_url: 'https://git.example.test/team/manifests', default_branch: 'main' },
  });
}

function gitlabPush(branch: string): string {
  return JSON.stringify({
    object_kind: 'push',
    ref: `refs/heads/${branch}`,
    checkout_sha: 'b'.repeat(40),
    project: { git_http_url: REPO, git_ssh_url: 'git@git.example.test:team/manifests.git', default_branch: 'main' },
  });
}

type Provider = 'github' | 'gitlab' | 'gitea';

function signed(provider: Provider, body: string, delivery: string, secret = SECRET): Record<string, string> {
  const base = { 'content-type': 'application/json' };
  if (provider === 'github') {
    return { ...base, 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${hmac(secret, body)}` };
  }
  if (provider === 'gitea') {
    return { ...base, 'x-gitea-event': 'push', 'x-gitea-delivery': delivery, 'x-github-event': 'push', 'x-gitea-signature': hmac(secret, body) };
  }
  return { ...base, 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': delivery, 'x-gitlab-token': secret };
}

function bodyFor(provider: Provider, branch: string): string {
  return provider === 'gitlab' ? gitlabPush(branch) : githubPush(branch);
}

describe('webhook verification (pure)', () => {
  it('accepts only the exact HMAC and token', () => {
    const body = Buffer.from('{"x":1}');
    const sig = `sha256=${hmac(SECRET, '{"x":1}')}`;
    expect(verifyGithubSignature(SECRET, body, sig)).toBe(true);
    expect(verifyGithubSignature(SECRET, Buffer.from('{"x":2}'), sig)).toBe(false);
    expect(verifyGithubSignature('other', body, sig)).toBe(false);
    expect(verifyGithubSignature(SECRET, body, sig.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifyGithubSignature(SECRET, body, undefined)).toBe(false);
    expect(verifyGitlabToken(SECRET, SECRET)).toBe(true);
    expect(verifyGitlabToken(SECRET, `${SECRET}x`)).toBe(false);
    expect(verifyGitlabToken(SECRET, undefined)).toBe(false);
  });

  it('normalizes repository URLs and matches branch', () => {
    expect(normalizeRepoUrl('https://user:pw@Git.Example.test:443/team/manifests.git/')).toBe('git.example.test/team/manifests');
    expect(normalizeRepoUrl('git@git.example.test:team/manifests.git')).toBe('git.example.test/team/manifests');
    const push = parsePush('github', JSON.parse(githubPush('main')))!;
    expect(matchPush(push, { urls: ['https://git.example.test/team/manifests'] })).toEqual({ matched: true });
    expect(matchPush(push, { urls: [REPO], branch: 'release' }).matched).toBe(false);
    expect(matchPush(push, { urls: ['https://git.example.test/team/other'] }).matched).toBe(false);
  });

  it('forgets delivery ids after the expiry and beyond the bound', () => {
    let t = 0;
    const cache = new DeliveryCache({ maxEntries: 2, ttlMs: 100, now: () => t });
    expect(cache.firstSeen('a')).toBe(true);
    expect(cache.firstSeen('a')).toBe(false);
    t = 150;
    expect(cache.firstSeen('a')).toBe(true);
    expect(cache.firstSeen('b')).toBe(true);
    expect(cache.firstSeen('c')).toBe(true);
    expect(cache.size).toBe(2);
    expect(cache.firstSeen('a')).toBe(true); // evicted as the oldest
  });

  it('loads the secret from a file or the environment', async () => {
    expect(await loadWebhookSecret({ env: { CAPSTAN_WEBHOOK_SECRET: ' s3 ' } })).toBe('s3');
    expect(await loadWebhookSecret({ env: {} })).toBeUndefined();
    await expect(loadWebhookSecret({ file: '/nonexistent/secret' })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_CONFIG_INVALID' });
  });
});

describe('POST /api/v1/webhooks/git', () => {
  let api: TestApi;
  let syncs: string[];

  beforeEach(async () => {
    syncs = [];
    const webhook = createWebhookHandler({
      secret: SECRET,
      repository: { urls: [REPO], branch: 'main' },
      sync: async (trigger) => {
        syncs.push(trigger);
      },
      bodyLimitBytes: 64 * 1024,
    });
    api = await startApi({ webhook });
  });
  afterEach(async () => {
    await api.close();
  });

  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${api.url}/api/v1/webhooks/git`, { method: 'POST', body, headers });

  for (const provider of ['github', 'gitlab', 'gitea'] as const) {
    it(`${provider}: a good signature syncs, a bad one is 401, a replay is ignored`, async () => {
      const body = bodyFor(provider, 'main');
      const good = await post(body, signed(provider, body, `${provider}-1`));
      expect(good.status).toBe(202);
      expect((await good.json()) as any).toMatchObject({ synced: true, branch: 'main' });
      expect(syncs).toEqual(['webhook']);

      const bad = await post(body, signed(provider, body, `${provider}-2`, 'wrong-secret'));
      expect(bad.status).toBe(401);
      expect(((await bad.json()) as any).error.code).toBe('CAPSTAN_ERR_SOURCE_WEBHOOK_SIGNATURE');

      const replay = await post(body, signed(provider, body, `${provider}-1`));
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as any).ignored).toMatch(/already received/);
      expect(syncs).toEqual(['webhook']);
    });

    it(`${provider}: a push to another branch is ignored`, async () => {
      const body = bodyFor(provider, 'feature/x');
      const res = await post(body, signed(provider, body, `${provider}-other`));
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).ignored).toMatch(/branch feature\/x/);
      expect(syncs).toEqual([]);
    });
  }

  it('a flood of signed deliveries with new ids costs one sync, not one per delivery', async () => {
    const body = githubPush('main');
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => post(body, signed('github', body, `flood-${i}`)).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))),
    );
    expect(replies.every((r) => r.status === 202)).toBe(true);
    const kinds = replies.map((r) => r.body.sync as string);
    expect(kinds.filter((k) => k === 'started')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'queued')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'joined')).toHaveLength(48);
    // One sync ran at once; the queued one waits for the 2 s pacing interval.
    expect(syncs).toEqual(['webhook']);
  });

  it('a tampered body fails the GitHub signature', async () => {
    const body = githubPush('main');
    const headers = signed('github', body, 'tamper');
    const res = await post(body.replace('main', 'mainx'), headers);
    expect(res.status).toBe(401);
    expect(syncs).toEqual([]);
  });

  it('an oversized body is 413', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', pad: 'x'.repeat(70 * 1024) });
    const res = await post(body, signed('github', body, 'big'));
    expect(res.status).toBe(413);
    expect(syncs).toEqual([]);
  });

  it('a ping is acknowledged and ignored', async () => {
    const body = JSON.stringify({ zen: 'hi', hook_id: 1 });
    const headers = { ...signed('github', body, 'ping-1'), 'x-github-event': 'ping' };
    const res = await post(body, headers);
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).ignored).toMatch(/not a push/);
  });

  it('needs no bearer token, and an unsigned request is 401', async () => {
    const body = githubPush('main');
    const res = await post(body, { 'content-type': 'application/json', 'x-github-event': 'push' });
    expect(res.status).toBe(401);
  });
});

describe('webhooks without a secret', () => {
  it('the route answers 404 when no secret is configured, and when no handler is wired', async () => {
    const withHandler = await startApi({ webhook: createWebhookHandler({ secret: undefined, repository: { urls: [REPO] }, sync: async () => undefined }) });
    const without = await startApi();
    try {
      for (const api of [withHandler, without]) {
        const body = githubPush('main');
        const res = await fetch(`${api.url}/api/v1/webhooks/git`, { method: 'POST', body, headers: signed('github', body, 'x') });
        expect(res.status).toBe(404);
      }
    } finally {
      await withHandler.close();
      await without.close();
    }
  });
});
