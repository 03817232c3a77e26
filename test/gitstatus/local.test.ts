// Local repositories: a bare repository takes status commits directly on its branch (a
// ChartRelease reporting for the objects it rendered); a work tree only on a status branch that
// is not checked out; a plain folder gets no write-back.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type WorkloadStatus } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { StatusWriter } from '../../src/gitstatus/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { commitFiles, git, initWorkTree, tempDir } from '../helpers/git.js';

const RELEASE = 'apiVersion: capstan.dev/v1\nkind: ChartRelease\nmetadata:\n  name: shop # the shop\nspec:\n  chart: web\n';

function st(name: string, over: Partial<WorkloadStatus> = {}): WorkloadStatus {
  return {
    namespace: 'default', name, kind: 'Deployment', phase: 'Healthy', revision: 1, replicas: 2, readyReplicas: 2,
    availableReplicas: 2, updatedReplicas: 2, syncedCommit: 'c1', message: '', conditions: [], observedAt: 'x', ...over,
  };
}

function desired(kind: string, name: string, source: Record<string, unknown>): string {
  return JSON.stringify({ object: { apiVersion: 'v1', kind, metadata: { name, namespace: 'default' } }, source, commit: 'c1', appliedAt: 'x' });
}

describe('StatusWriter on local repositories', () => {
  let kv: KV;
  let dataDir: string;
  let work: string;
  let bare: string;
  let writer: StatusWriter | undefined;

  beforeEach(async () => {
    kv = await openEmbeddedStore({});
    dataDir = tempDir('capstan-gitstatus-');
    work = initWorkTree({ 'apps/shop.yaml': RELEASE });
    commitFiles(work, {}, 'initial');
    bare = mkdtempSync(join(tmpdir(), 'capstan-bare-'));
    git(bare, 'clone', '-q', '--bare', work, '.');
    await kv.put(`${STORE_PREFIX.desired}ChartRelease/default/shop`, desired('ChartRelease', 'shop', { file: 'apps/shop.yaml', index: 0, line: 1, column: 1 }));
    const release = { namespace: 'default', name: 'shop', file: 'apps/shop.yaml', line: 1 };
    for (const n of ['api', 'web']) {
      await kv.put(`${STORE_PREFIX.desired}Deployment/default/${n}`, desired('Deployment', n, { file: 'charts/web/templates/x.yaml', index: 0, line: 1, column: 1, release }));
    }
  });

  afterEach(async () => {
    await writer?.stop();
    writer = undefined;
    await kv.close();
    for (const d of [dataDir, work, bare]) rmSync(d, { recursive: true, force: true });
  });

  async function seen(w: StatusWriter): Promise<void> {
    for (let i = 0; i < 400 && w.pendingIds().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('commits on the branch of a bare repository, the release reporting its worst workload', async () => {
    const before = git(bare, 'rev-parse', 'main');
    writer = new StatusWriter({ kv, repo: bare, dataDir, logger: silentLogger(), intervalMs: 60_000, settleMs: 60_000 });
    await writer.start();
    await kv.put(`${STORE_PREFIX.status}Deployment/default/api`, JSON.stringify(st('api')));
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(st('web', { phase: 'Degraded', readyReplicas: 1, revision: 2 })));
    await seen(writer);
    const r = await writer.flush();
    expect(r.written).toEqual(['ChartRelease/default/shop']);
    expect(git(bare, 'rev-parse', 'main')).toBe(r.commit);
    expect(git(bare, 'log', '-1', '--format=%P', 'main')).toBe(before);
    expect(git(bare, 'show', 'main:apps/shop.yaml')).toBe(
      'apiVersion: capstan.dev/v1\nkind: ChartRelease\nmetadata:\n  name: shop # the shop\n  annotations:\n    capstan.dev/phase: "Degraded"\n    capstan.dev/revision: "api=1,web=2"\n    capstan.dev/synced-commit: "c1"\n    capstan.dev/ready: "3/4"\nspec:\n  chart: web',
    );
    // Written already: flushing the same state again commits nothing.
    await kv.put(`${STORE_PREFIX.status}Deployment/default/api`, JSON.stringify(st('api')));
    expect((await writer.flush()).commit).toBeUndefined();
  });

  it('writes a work tree only to a status branch that is not checked out, never touching the files', async () => {
    const onMain = new StatusWriter({ kv, repo: work, dataDir, logger: silentLogger() });
    await onMain.start();
    expect(onMain.state).toBe('disabled');
    await onMain.stop();
    writer = new StatusWriter({ kv, repo: work, statusBranch: 'status', dataDir, logger: silentLogger(), intervalMs: 60_000, settleMs: 60_000 });
    await writer.start();
    expect(writer.state).toBe('running');
    await kv.put(`${STORE_PREFIX.status}Deployment/default/api`, JSON.stringify(st('api')));
    await seen(writer);
    const r = await writer.flush();
    expect(git(work, 'rev-parse', 'status')).toBe(r.commit);
    expect(git(work, 'show', 'status:apps/shop.yaml')).toContain('capstan.dev/phase: "Healthy"');
    expect(readFileSync(join(work, 'apps/shop.yaml'), 'utf8')).toBe(RELEASE);
    expect(git(work, 'status', '--porcelain')).toBe('');
  });

  it('does not write back to a plain folder', async () => {
    const folder = tempDir('capstan-folder-');
    writeFileSync(join(folder, 'a.yaml'), RELEASE);
    const w = new StatusWriter({ kv, repo: folder, dataDir, logger: silentLogger() });
    await w.start();
    expect(w.state).toBe('disabled');
    await w.stop();
    rmSync(folder, { recursive: true, force: true });
  });
});
