// `capstan up` with a plain folder: the folder is served as a Git repository, and a push
// through the API port syncs at once (trigger "push").
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { startControlPlane, type ControlPlane } from '../../src/compose/index.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import type { SyncState } from '../../src/sync/index.js';
import { commitFiles, gitAsync, tempDir, writeFiles } from '../helpers/git.js';

const config = (greeting: string): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  GREETING: "${greeting}"\n`;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('control plane serving a plain folder', () => {
  let dataDir: string;
  let seed: string;
  let work: string;
  let plane: ControlPlane;

  beforeAll(async () => {
    dataDir = tempDir('capstan-served-data-');
    seed = tempDir('capstan-served-seed-');
    work = tempDir('capstan-served-work-');
    writeFiles(seed, { 'config/app.yaml': config('v1') });
    plane = await startControlPlane({ source: seed, dataDir, port: 0, logger: silentLogger(), kv: await openEmbeddedStore() });
  });
  afterAll(async () => {
    await plane.stop();
    await plane.kv.close();
    for (const d of [dataDir, seed, work]) rmSync(d, { recursive: true, force: true });
  });

  it('reads the served repository and syncs right after a push', async () => {
    expect(plane.gitUrl).toBe(`${plane.url}/git/repo.git`);
    expect(plane.source.kind).toBe('local-git');
    expect(plane.firstSync.phase).toBe('Synced');

    const refused = await gitAsync(work, 'clone', '--quiet', plane.gitUrl!, 'refused').then(() => undefined, (e: { stderr?: string }) => e);
    expect(String(refused?.stderr)).toMatch(/Authentication failed/);
    const token = readFileSync(plane.adminTokenFile, 'utf8').trim();
    const remote = plane.gitUrl!.replace('http://', `http://admin:${token}@`);
    await gitAsync(work, 'clone', '--quiet', remote, 'clone');
    const clone = join(work, 'clone');
    const commit = commitFiles(clone, { 'config/app.yaml': config('v2') }, 'greeting v2');
    await gitAsync(clone, 'push', '--quiet', remote, 'HEAD:main');

    const state = await until('the sync after the push', async () => {
      const s: SyncState | undefined = await plane.sync.readState();
      return s?.syncedCommit === commit ? s : undefined;
    });
    expect(state.trigger).toBe('push');
    const desired = await plane.kv.get('/capstan/desired/ConfigMap/default/app-config');
    expect(new TextDecoder().decode(desired!.value)).toContain('v2');
  });

  it('rolls back through a commit to the served repository', async () => {
    const deployment = (image: string): string =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: ${image}\n`;
    const clone = join(work, 'clone');
    const token = readFileSync(plane.adminTokenFile, 'utf8').trim();
    const remote = plane.gitUrl!.replace('http://', `http://admin:${token}@`);
    const revisions = async (n: number) =>
      until(`revision ${n}`, async () => {
        const r = await plane.kv.range('/capstan/revisions/default/web/', { prefix: true });
        return r.kvs.length >= n ? r.kvs.length : undefined;
      });
    for (const image of ['web:v1', 'web:v2']) {
      const commit = commitFiles(clone, { 'apps/web.yaml': deployment(image) }, `web ${image}`);
      await gitAsync(clone, 'push', '--quiet', remote, 'HEAD:main');
      await until('sync', async () => ((await plane.sync.readState())?.syncedCommit === commit ? true : undefined));
      await revisions(image === 'web:v1' ? 1 : 2);
    }
    const res = await fetch(`${plane.url}/api/v1/deployments/default/web/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ toRevision: 1 }),
    });
    const body = (await res.json()) as { commit?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect((await plane.sync.readState())).toMatchObject({ trigger: 'rollback', syncedCommit: body.commit });
    await gitAsync(clone, 'pull', '--quiet', '--ff-only', remote, 'main');
    expect(readFileSync(join(clone, 'apps/web.yaml'), 'utf8')).toBe(deployment('web:v1'));
  });

  it('answers 404 on the webhook route without a configured secret', async () => {
    const res = await fetch(`${plane.url}/api/v1/webhooks/git`, { method: 'POST', headers: { 'x-github-event': 'push' }, body: '{}' });
    expect(res.status).toBe(404);
  });
});

describe('control plane with --git-anonymous-read', () => {
  it('clones without a token and warns in the log that anyone can clone, Secrets included', async () => {
    const dataDir = tempDir('capstan-anon-data-');
    const seed = tempDir('capstan-anon-seed-');
    const work = tempDir('capstan-anon-work-');
    writeFiles(seed, { 'config/app.yaml': config('v1') });
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const plane = await startControlPlane({ source: seed, dataDir, port: 0, logger, kv: await openEmbeddedStore(), gitAnonymousRead: true });
    try {
      await gitAsync(work, 'clone', '--quiet', plane.gitUrl!, 'clone');
      expect(readFileSync(join(work, 'clone', 'config/app.yaml'), 'utf8')).toBe(config('v1'));
      expect(lines.join('\n')).toContain(`anyone who can reach ${plane.gitUrl} can clone everything in the repository, Secrets included`);
    } finally {
      await plane.stop();
      await plane.kv.close();
      for (const d of [dataDir, seed, work]) rmSync(d, { recursive: true, force: true });
    }
  });
});
