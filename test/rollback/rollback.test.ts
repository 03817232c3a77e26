import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { STORE_PREFIX, type DesiredRecord, type HistoryEntry, type Revision } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { ensureServedRepo, runGit } from '../../src/gitserve/index.js';
import { manifestTemplate, replaceTemplate, rollbackHandler, rollbackWriter } from '../../src/rollback/index.js';
import { REVISION_HASH_LABEL, templateHash } from '../../src/controllers/index.js';
import { openSource } from '../../src/source/index.js';
import { SyncLoop } from '../../src/sync/index.js';
import type { KV } from '../../src/store/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { commitFiles, git, tempDir, writeFiles } from '../helpers/git.js';
import { freePort } from '../helpers/git-server.js';

const deployment = (image: string): string => `# The web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2 # two is enough here
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ${image}   # the image rolled out
          command: ["node", "-e", "setInterval(() => {}, 1000)"]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
data:
  A: "1"
`;

const decode = <T>(v: Uint8Array): T => JSON.parse(new TextDecoder().decode(v)) as T;

async function get<T>(kv: KV, key: string): Promise<T | undefined> {
  const item = await kv.get(key);
  return item ? decode<T>(item.value) : undefined;
}

/** Stand in for the workload controller: one revision and one history entry per commit. */
async function recordRevision(kv: KV, revision: number, hash: string, outcome: HistoryEntry['outcome']): Promise<void> {
  const desired = (await get<DesiredRecord>(kv, `${STORE_PREFIX.desired}Deployment/default/web`))!;
  const spec = (desired.object as unknown as { spec: { template: Revision['template'] } }).spec;
  const rev: Revision = {
    metadata: { name: `web-${hash}`, namespace: 'default', owner: { kind: 'Deployment', name: 'web' }, hash, revision, createdAt: '2024-01-01T00:00:00Z', commit: desired.commit! },
    template: spec.template,
    replicas: 0,
  };
  await kv.put(`${STORE_PREFIX.revisions}default/web/${hash}`, JSON.stringify(rev));
  const entry: HistoryEntry = { namespace: 'default', name: 'web', kind: 'Deployment', revision, commit: desired.commit!, images: [], createdAt: '2024-01-01T00:00:00Z', outcome, trigger: 'push' };
  await kv.put(`${STORE_PREFIX.history}default/web/${String(revision).padStart(8, '0')}`, JSON.stringify(entry));
}

describe('replaceTemplate', () => {
  it('splices the old template text in and keeps every other byte', () => {
    const now = deployment('web:v2').replace('replicas: 2', 'replicas: 5');
    const out = replaceTemplate(now, 'a.yaml', { kind: 'Deployment', name: 'web' }, deployment('web:v1'), undefined);
    expect(out).toBe(deployment('web:v1').replace('replicas: 2', 'replicas: 5'));
  });

  it('re-indents a template taken from a differently indented file, and renders a fallback', () => {
    const old = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '    name: web',
      'spec:',
      '    template:',
      '        metadata:',
      '            labels:',
      '                app: web',
      '        spec:',
      '            containers:',
      '                - name: web',
      '                  image: web:v1',
      '',
    ].join('\n');
    const out = replaceTemplate(deployment('web:v2'), 'a.yaml', { kind: 'Deployment', name: 'web' }, old, undefined);
    const docs = parseAllDocuments(out).map((d) => d.toJS() as { spec?: { replicas: number; template: { spec: { containers: { image: string }[] } } } });
    expect(docs[0]!.spec!.template.spec.containers[0]!.image).toBe('web:v1');
    expect(docs[0]!.spec!.replicas).toBe(2);
    expect(docs[1]).toMatchObject({ kind: 'ConfigMap', data: { A: '1' } });
    expect(out.startsWith('# The web front end.\n')).toBe(true);

    const fallback = replaceTemplate(deployment('web:v2'), 'a.yaml', { kind: 'Deployment', name: 'web' }, undefined, { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:v0' }] } });
    expect(fallback).toContain('    spec:\n      containers:\n        - name: web\n          image: web:v0\n---');
    expect(() => replaceTemplate('kind: ConfigMap\n', 'a.yaml', { kind: 'Deployment', name: 'web' }, undefined, {})).toThrow(/no spec.template/);
  });
});

describe('the fallback template (the old commit cannot be read, as in a shallow clone)', () => {
  it('hashes to the same revision and keeps a one-line JSON manifest on one line', () => {
    const spec = { containers: [{ name: 'web', image: 'web:v1' }] };
    const stored = { metadata: { labels: { app: 'web', [REVISION_HASH_LABEL]: 'h1' } }, spec } as unknown as Revision['template'];
    const back = manifestTemplate(stored);
    expect(back.metadata.labels).toEqual({ app: 'web' });
    expect(templateHash({ labels: back.metadata.labels, spec: back.spec })).toBe(templateHash({ labels: { app: 'web' }, spec }));

    const now = JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:v2' }] } } } });
    const out = replaceTemplate(`${now}\n`, 'apps/web.json', { kind: 'Deployment', name: 'web' }, undefined, back);
    expect(out.split('\n')).toHaveLength(2);
    expect(JSON.parse(out).spec.template).toEqual({ metadata: { labels: { app: 'web' } }, spec });
  });
});

describe('rollback through Git', () => {
  let dataDir: string;
  let work: string;
  let repoPath: string;
  let api: TestApi;
  let loop: SyncLoop;
  let commits: string[];

  beforeAll(async () => {
    dataDir = tempDir('capstan-rollback-data-');
    work = tempDir('capstan-rollback-work-');
    const seed = tempDir('capstan-rollback-seed-');
    writeFiles(seed, { 'apps/web.yaml': deployment('web:v1') });
    repoPath = (await ensureServedRepo({ dataDir, seedFolder: seed })).path;
    rmSync(seed, { recursive: true, force: true });
    api = await startApi();
    loop = new SyncLoop({ source: await openSource(repoPath), ref: 'main', kv: api.kv, logger: silentLogger() });
    commits = [await runGit(['--git-dir', repoPath, 'rev-parse', 'main'])];
    expect((await loop.sync('startup')).phase).toBe('Synced');
    await recordRevision(api.kv, 1, 'h1', 'Healthy');

    git(work, 'clone', '--quiet', repoPath, 'clone');
    commits.push(commitFiles(join(work, 'clone'), { 'apps/web.yaml': deployment('web:v2') }, 'web v2'));
    git(join(work, 'clone'), 'push', '--quiet', 'origin', 'HEAD:main');
    expect((await loop.sync('push')).syncedCommit).toBe(commits[1]);
    await recordRevision(api.kv, 2, 'h2', 'Degraded');

    api.api.setControlHandlers({
      rollback: rollbackHandler({
        kv: api.kv,
        writer: rollbackWriter({ repo: repoPath, branch: 'main', dataDir, logger: silentLogger() }),
        sync: (trigger) => loop.sync(trigger),
      }),
    });
  });

  afterAll(async () => {
    await api.close();
    for (const d of [dataDir, work]) rmSync(d, { recursive: true, force: true });
  });

  it('commits the previous healthy template as the caller, syncs, and history shows RolledBack', async () => {
    const res = await fetch(`${api.url}/api/v1/deployments/default/web/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.tokens.deployer}`, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    const body = (await res.json()) as { revision: number; fromRevision: number; commit: string; message: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ revision: 1, fromRevision: 2 });

    const tip = await runGit(['--git-dir', repoPath, 'rev-parse', 'main']);
    expect(tip).toBe(body.commit);
    expect(await runGit(['--git-dir', repoPath, 'log', '-1', '--format=%an|%s|%P', 'main'])).toBe(`deployer|capstan: roll back web to revision 1|${commits[1]}`);
    expect(await runGit(['--git-dir', repoPath, 'show', 'main:apps/web.yaml'])).toBe(deployment('web:v1').trimEnd());

    const history = await get<HistoryEntry>(api.kv, `${STORE_PREFIX.history}default/web/00000002`);
    expect(history?.outcome).toBe('RolledBack');
    const state = await loop.readState();
    expect(state).toMatchObject({ trigger: 'rollback', syncedCommit: tip });
    const desired = await get<DesiredRecord>(api.kv, `${STORE_PREFIX.desired}Deployment/default/web`);
    expect(JSON.stringify(desired?.object)).toContain('web:v1');
  });

  it('refuses a viewer, an unknown revision and the current one', async () => {
    const post = (token: string, body: unknown) =>
      fetch(`${api.url}/api/v1/deployments/default/web/rollback`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post(api.tokens.viewer, {})).status).toBe(403);
    expect((await post(api.tokens.deployer, { toRevision: 9 })).status).toBe(404);
    expect((await post(api.tokens.deployer, { toRevision: 2 })).status).toBe(400);
  });
});

describe('live rollback with Git unreachable', () => {
  let api: TestApi;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('capstan-rollback-live-');
    api = await startApi();
    const seed = tempDir('capstan-rollback-live-seed-');
    writeFiles(seed, { 'apps/web.yaml': deployment('web:v1') });
    const repo = await ensureServedRepo({ dataDir, seedFolder: seed });
    const loop = new SyncLoop({ source: await openSource(repo.path), ref: 'main', kv: api.kv, logger: silentLogger() });
    await loop.sync('startup');
    await recordRevision(api.kv, 1, 'h1', 'Healthy');
    await recordRevision(api.kv, 2, 'h2', 'Progressing');
    // The source's Git server is gone: nothing listens on its port any more.
    const stopped = `http://127.0.0.1:${await freePort()}/repo.git`;
    api.api.setControlHandlers({
      rollback: rollbackHandler({ kv: api.kv, writer: rollbackWriter({ repo: stopped, branch: 'main', dataDir, logger: silentLogger() }) }),
    });
    rmSync(seed, { recursive: true, force: true });
  });
  afterAll(async () => {
    await api.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (body: unknown) =>
    fetch(`${api.url}/api/v1/deployments/default/web/rollback`, { method: 'POST', headers: { authorization: `Bearer ${api.tokens.deployer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('a Git rollback fails clearly and points at --live', async () => {
    const res = await post({ toRevision: 1 });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(body.error.message).toMatch(/--live|unreachable|reach/i);
    expect(await api.kv.get('/capstan/overrides/Deployment/default/web')).toBeUndefined();
  });

  it('--live pins revision 1 in the override record and marks the history', async () => {
    await api.kv.put('/capstan/overrides/Deployment/default/web', JSON.stringify({ paused: true, at: '2024-01-01T00:00:00Z' }));
    const res = await post({ toRevision: 1, live: true });
    const body = (await res.json()) as { live: boolean; message: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.live).toBe(true);
    expect(body.message).toMatch(/Git is ahead/);
    const pin = await get<Record<string, unknown>>(api.kv, '/capstan/overrides/Deployment/default/web');
    expect(pin).toMatchObject({ liveRollbackTo: 'h1', liveRollbackRevision: 1, paused: true });
    expect(typeof pin?.liveRollbackCommit).toBe('string');
    expect((await get<HistoryEntry>(api.kv, `${STORE_PREFIX.history}default/web/00000002`))?.outcome).toBe('RolledBack');
  });
});
