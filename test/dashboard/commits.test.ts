// `GET /api/v1/dashboard/commits/{commit}` on a real API server, over records a real sync loop
// wrote from a local Git repository: the record by full or short commit, forge links, a clear
// 404 for a commit not kept, 400 for what is not a commit or is ambiguous, the read roles only.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { buildPlanRecord, SyncLoop, syncPlanKey } from '../../src/sync/index.js';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

let t: TestApi;
let dir: string;
let first = '';
let second = '';

const configMap = (v: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  VALUE: "${v}"\n`;
const secret = (v: string): string => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${v}\n`;

beforeAll(async () => {
  t = await startApi();
  dir = initWorkTree({ 'settings.yaml': configMap('1'), 'db.yaml': secret('pw-one-9f3k') });
  first = commitFiles(dir, {}, 'first');
  const loop = new SyncLoop({ id: 'default', source: await openSource(dir, {}), ref: 'main', kv: t.kv, logger: silentLogger() });
  expect((await loop.sync('test')).phase).toBe('Synced');
  second = commitFiles(dir, { 'settings.yaml': configMap('2'), 'db.yaml': secret('pw-two-7x2q') }, 'second');
  expect((await loop.sync('test')).phase).toBe('Synced');
  await loop.stop();
});
afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /api/v1/dashboard/commits/{commit}', () => {
  it('answers a viewer with what the sync applied for the commit, no Secret value in it', async () => {
    const r = await call(t.url, 'GET', `/api/v1/dashboard/commits/${second}`, { token: t.tokens.viewer });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ sourceId: 'default', commit: second, previousCommit: first, message: 'second', truncated: false, link: null, previousLink: null });
    const cm = r.json.objects.find((o: { kind: string }) => o.kind === 'ConfigMap');
    expect(cm).toMatchObject({ action: 'update', name: 'settings', file: 'settings.yaml', link: null, fields: [{ path: 'data.VALUE', before: '"1"', after: '"2"' }] });
    const db = r.json.objects.find((o: { kind: string }) => o.kind === 'Secret');
    expect(db.fields).toEqual([{ path: 'stringData.password', before: '(sensitive value)', after: '(sensitive value)', sensitive: true }]);
    expect(r.text).not.toMatch(/pw-one|pw-two/);

    const older = await call(t.url, 'GET', `/api/v1/dashboard/commits/${first}`, { token: t.tokens.viewer });
    expect(older.json.objects.map((o: { action: string }) => o.action)).toEqual(['create', 'create']);
    expect(older.text).not.toMatch(/pw-one/);
  });

  it('takes a unique prefix of seven or more digits, in either case', async () => {
    const r = await call(t.url, 'GET', `/api/v1/dashboard/commits/${second.slice(0, 7).toUpperCase()}`, { token: t.tokens.deployer });
    expect(r.status, r.text).toBe(200);
    expect(r.json.commit).toBe(second);
    // Shorter than 7 digits only matches a whole commit.
    expect((await call(t.url, 'GET', `/api/v1/dashboard/commits/${second.slice(0, 6)}`, { token: t.tokens.viewer })).status).toBe(404);
  });

  it('says clearly when a commit is not kept, or is not a commit', async () => {
    const missing = await call(t.url, 'GET', `/api/v1/dashboard/commits/${'0'.repeat(40)}`, { token: t.tokens.viewer });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('CAPSTAN_ERR_API_NOT_FOUND');
    expect(missing.json.error.message).toContain(`no plan is kept for commit ${'0'.repeat(40)}`);
    expect(missing.json.error.message).toContain('newest 20 applied commits');
    const otherSource = await call(t.url, 'GET', `/api/v1/dashboard/commits/${second}?source=elsewhere`, { token: t.tokens.viewer });
    expect(otherSource.status).toBe(404);
    expect(otherSource.json.error.message).toContain('of source elsewhere');
    const bad = await call(t.url, 'GET', '/api/v1/dashboard/commits/not-a-commit', { token: t.tokens.viewer });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('is not a commit id');
  });

  it('refuses an ambiguous prefix and links a forge commit and file', async () => {
    const plan = { changes: [{ action: 'update' as const, apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'x', file: 'apps/x.yaml', line: 4, fields: [{ path: 'data.A', from: '1', to: '2' }] }], summary: { create: 0, update: 1, delete: 0, unchanged: 0 } };
    const base = { sourceId: 'gh', location: 'https://github.com/acme/deploy.git', at: new Date('2026-12-01T00:00:00Z'), plan };
    await t.kv.put(syncPlanKey('gh', `abcdef1${'1'.repeat(33)}`), JSON.stringify(buildPlanRecord({ ...base, commit: `abcdef1${'1'.repeat(33)}`, previousCommit: 'c'.repeat(40) })));
    await t.kv.put(syncPlanKey('gh', `abcdef1${'2'.repeat(33)}`), JSON.stringify(buildPlanRecord({ ...base, commit: `abcdef1${'2'.repeat(33)}` })));
    const ambiguous = await call(t.url, 'GET', '/api/v1/dashboard/commits/abcdef1', { token: t.tokens.viewer });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.json.error.message).toContain('matches 2 synced commits');
    const one = await call(t.url, 'GET', `/api/v1/dashboard/commits/abcdef11`, { token: t.tokens.viewer });
    expect(one.status, one.text).toBe(200);
    expect(one.json.link).toBe(`https://github.com/acme/deploy/commit/abcdef1${'1'.repeat(33)}`);
    expect(one.json.previousLink).toBe(`https://github.com/acme/deploy/commit/${'c'.repeat(40)}`);
    expect(one.json.objects[0].link).toBe(`https://github.com/acme/deploy/blob/abcdef1${'1'.repeat(33)}/apps/x.yaml#L4`);
  });

  it('is for the read roles only', async () => {
    expect((await call(t.url, 'GET', `/api/v1/dashboard/commits/${second}`)).status).toBe(401);
    expect((await call(t.url, 'GET', `/api/v1/dashboard/commits/${second}`, { token: t.tokens.agentA })).status).toBe(403);
    expect((await call(t.url, 'GET', `/api/v1/dashboard/commits/${second}`, { token: t.tokens.admin })).status).toBe(200);
  });
});
