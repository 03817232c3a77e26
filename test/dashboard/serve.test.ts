// The dashboard's routes on a real API server: the page and its files with content types,
// ETags and a strict CSP; nothing outside the table reachable; whoami; and the read-only views.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { call, startApi, type TestApi } from '../helpers/api.js';

let t: TestApi;

beforeAll(async () => {
  t = await startApi();
});
afterAll(async () => {
  await t.close();
});

/** A GET with the path sent byte for byte (fetch would normalise `..`). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const u = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard static files', () => {
  it('serves the page with a strict CSP that allows exactly its import map', async () => {
    const r = await fetch(`${t.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await r.text();
    expect(html).toContain('<script type="importmap">');
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const hash = createHash('sha256').update(map).digest('base64');
    expect(csp).toMatch(new RegExp(`script-src 'self' 'sha256-${hash.replace(/[+/]/g, (c) => `\\${c}`)}'`));
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    // The page names no other origin: no CDN, no external fonts.
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('serves our script, the styles and the vendored libraries with their types', async () => {
    const cases: [string, string][] = [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/style.css', 'text/css; charset=utf-8'],
      ['/dashboard/icon.svg', 'image/svg+xml'],
      ['/dashboard/vendor/preact.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/vendor/hooks.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/vendor/htm.js', 'text/javascript; charset=utf-8'],
    ];
    for (const [path, type] of cases) {
      const r = await fetch(`${t.url}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type'), path).toBe(type);
      expect(r.headers.get('content-length'), path).toBe(String((await r.arrayBuffer()).byteLength));
    }
    const hooks = await (await fetch(`${t.url}/dashboard/vendor/hooks.js`)).text();
    expect(hooks).toContain('from"preact"'); // resolved by the page's import map
    const css = await (await fetch(`${t.url}/dashboard/style.css`)).text();
    expect(css).not.toMatch(/@import|url\(\s*["']?https?:/);
  });

  it('answers 304 to a matching If-None-Match and 200 to another', async () => {
    const first = await fetch(`${t.url}/dashboard/app.js`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const again = await fetch(`${t.url}/dashboard/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const weak = await fetch(`${t.url}/dashboard/app.js`, { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(weak.status).toBe(304);
    const other = await fetch(`${t.url}/dashboard/app.js`, { headers: { 'if-none-match': '"other"' } });
    expect(other.status).toBe(200);
  });

  it('answers HEAD with the headers and no body', async () => {
    const r = await fetch(`${t.url}/`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(Number(r.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await r.text()).toBe('');
  });

  it('serves nothing outside its table, however the path is spelled', async () => {
    for (const path of [
      '/dashboard/../package.json',
      '/dashboard/../../../package.json',
      '/dashboard/..%2f..%2f..%2fpackage.json',
      `/dashboard/${'..%2F'.repeat(12)}etc/passwd`,
      `/dashboard/${'../'.repeat(12)}etc/passwd`,
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/vendor/../../../../etc/passwd',
      '/dashboard/vendor/..%2F..%2F..%2Fpackage.json',
      '/dashboard/serve.ts',
      '/dashboard/static.ts',
      '/dashboard/',
      '/dashboard/assets/app.js',
      '/dashboard/%00app.js',
      '/dashboard/app.js%00.html',
      '/dashboard/APP.JS',
      '/index.html',
      '//etc/passwd',
    ]) {
      const r = await rawGet(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain('"name": "capstan"');
      expect(r.body, path).not.toContain('root:');
    }
  });

  it('needs no token for the files and gives no data without one', async () => {
    expect((await call(t.url, 'GET', '/api/v1/dashboard')).status).toBe(401);
    expect((await call(t.url, 'GET', '/api/v1/whoami')).status).toBe(401);
  });
});

describe('dashboard API', () => {
  it('whoami tells each role its role', async () => {
    for (const role of ['viewer', 'deployer', 'admin'] as const) {
      const r = await call(t.url, 'GET', '/api/v1/whoami', { token: t.tokens[role] });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ user: role, role });
    }
    const agent = await call(t.url, 'GET', '/api/v1/whoami', { token: t.tokens.agentA });
    expect(agent.json).toEqual({ user: 'agent-node-a', role: 'agent', node: 'node-a' });
  });

  it('an agent may not read the dashboard views', async () => {
    expect((await call(t.url, 'GET', '/api/v1/dashboard', { token: t.tokens.agentA })).status).toBe(403);
  });

  it('lists applications with health and sync state, and the source with located errors', async () => {
    const rollout = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'api', namespace: 'default' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { pause: { duration: 30 } }] } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [] } } },
    };
    await t.kv.put(`${STORE_PREFIX.desired}Rollout/default/api`, JSON.stringify({ object: rollout, source: { file: 'apps/api.yaml', index: 0, line: 3, column: 1 }, commit: 'c2' }));
    await t.kv.put(`${STORE_PREFIX.status}Rollout/default/api`, JSON.stringify({ phase: 'Paused', revision: 2, replicas: 2, readyReplicas: 3, updatedReplicas: 1, syncedCommit: 'c1', message: 'paused at step 2/3', step: 1, stepCount: 3, weight: 20, revisionName: 'api-abc', stableRevision: 'def', observedAt: 'x' }));
    await t.kv.put(`${STORE_PREFIX.sync}default`, JSON.stringify({
      id: 'default', location: 'https://github.com/acme/deploy.git', ref: 'main', phase: 'Invalid', syncedCommit: 'c1', seenCommit: 'c3',
      message: 'commit c3 refused', errors: [{ file: 'apps/api.yaml', line: 12, column: 7, message: 'spec.replicas must be an integer', code: 'CAPSTAN_ERR_API_SCHEMA' }], trigger: 'poll', at: '2026-01-01T00:00:00Z',
    }));
    const r = await call(t.url, 'GET', '/api/v1/dashboard', { token: t.tokens.viewer });
    expect(r.status).toBe(200);
    expect(r.json.apps).toHaveLength(1);
    expect(r.json.apps[0]).toMatchObject({ kind: 'Rollout', name: 'api', phase: 'Paused', sync: 'Applying', desiredCommit: 'c2', syncedCommit: 'c1', strategy: 'Canary', file: 'apps/api.yaml', line: 3 });
    expect(r.json.apps[0].object).toBeUndefined();
    const source = r.json.sources[0];
    expect(source.errors[0]).toMatchObject({ where: 'apps/api.yaml:12:7', link: 'https://github.com/acme/deploy/blob/c3/apps/api.yaml#L12', text: 'apps/api.yaml:12:7: spec.replicas must be an integer [CAPSTAN_ERR_API_SCHEMA]' });
    expect(source.statusLine).toContain('Invalid (commit c3 not applied)');
    expect(source.seenLink).toBe('https://github.com/acme/deploy/commit/c3');

    const page = await call(t.url, 'GET', '/api/v1/dashboard/default/api?kind=Rollout', { token: t.tokens.viewer });
    expect(page.status).toBe(200);
    expect(page.json.status).toMatchObject({ strategy: 'Canary', stepNumber: 2, stepCount: 3, setWeight: 20, phase: 'Paused' });
    expect(page.json.steps).toEqual([
      { text: 'set weight 20%', state: 'done' },
      { text: 'pause until promoted', state: 'current' },
      { text: 'pause 30s', state: 'pending' },
    ]);
    expect((await call(t.url, 'GET', '/api/v1/dashboard/default/nope', { token: t.tokens.viewer })).status).toBe(404);
    expect((await call(t.url, 'GET', '/api/v1/dashboard/default/api?kind=Pod', { token: t.tokens.viewer })).status).toBe(400);
  });
});
