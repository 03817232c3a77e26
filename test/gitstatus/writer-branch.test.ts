// The status writer against a real smart-HTTP Git server, continued: a status branch takes the
// commits instead of the source branch; wrong credentials fail without the password.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type WorkloadStatus } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { StatusWriter, type StatusWriterOptions } from '../../src/gitstatus/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { readDesired, SyncLoop } from '../../src/sync/index.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, git, gitAsync, pushCommit, tempDir, type TestRepo } from '../helpers/git.js';

const WEB = `# The web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep this comment
  labels: { tier: front }
spec:
  replicas: 3
  selector:
    matchLabels: { app: web }

  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: web:1
---
# Settings, untouched.
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  MODE: "blue"
`;

function status(over: Partial<WorkloadStatus> = {}): WorkloadStatus {
  return {
    namespace: 'default',
    name: 'web',
    kind: 'Deployment',
    phase: 'Healthy',
    revision: 4,
    replicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
    updatedReplicas: 3,
    syncedCommit: 'abc123',
    message: 'rollout complete',
    conditions: [],
    observedAt: '2024-01-01T00:00:00Z',
    ...over,
  };
}

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('StatusWriter (status branch, credentials)', () => {
  let server: GitServer;
  let repo: TestRepo;
  let kv: KV;
  let dataDir: string;
  let writer: StatusWriter | undefined;
  let loop: SyncLoop;

  beforeEach(async () => {
    server = await startGitServer();
    repo = createRepo(server, 'app', { 'apps/web.yaml': WEB });
    kv = await openEmbeddedStore({});
    dataDir = tempDir('capstan-gitstatus-');
    const source = await openSource(repo.url, { dataDir, env: {} });
    loop = new SyncLoop({ source, ref: 'main', kv, logger: silentLogger() });
    expect((await loop.sync('test')).phase).toBe('Synced');
  });

  afterEach(async () => {
    await writer?.stop();
    writer = undefined;
    await loop.stop();
    await kv.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(repo.work, { recursive: true, force: true });
  });

  function startWriter(over: Partial<StatusWriterOptions> = {}): Promise<void> {
    writer = new StatusWriter({ kv, repo: repo.url, branch: 'main', dataDir, env: {}, logger: silentLogger(), intervalMs: 50, settleMs: 10, retryDelayMs: 10, ...over });
    return writer.start();
  }

  const bareGit = (...args: string[]): string => git(repo.bare, ...args);

  it('writes to the status branch only, following the source branch', async () => {
    const main = bareGit('rev-parse', 'main');
    await startWriter({ statusBranch: 'capstan-status', intervalMs: 60_000, settleMs: 60_000 });
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    await until(async () => (writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const first = await writer!.flush();
    expect(bareGit('rev-parse', 'main')).toBe(main);
    expect(bareGit('rev-parse', 'capstan-status')).toBe(first.commit);
    expect(bareGit('show', 'capstan-status:apps/web.yaml')).toContain('capstan.dev/phase: "Healthy"');

    // main moves on: the next status commit merges it and keeps the earlier annotations.
    const next = pushCommit(repo, { 'apps/other.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata: {}\n' });
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status({ revision: 5, phase: 'Progressing', readyReplicas: 1 })));
    await until(async () => (writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const second = await writer!.flush();
    expect(bareGit('rev-parse', 'main')).toBe(next);
    expect(bareGit('log', '-1', '--format=%P', 'capstan-status')).toBe(`${first.commit} ${next}`);
    expect(bareGit('show', 'capstan-status:apps/web.yaml')).toContain('capstan.dev/revision: "5"');
    expect(bareGit('ls-tree', '--name-only', 'capstan-status', 'apps/')).toContain('apps/other.yaml');
    expect(second.written).toEqual(['Deployment/default/web']);
  });

  it('fails on wrong credentials without showing the password, and writes nothing', async () => {
    await server.stop();
    server = await startGitServer({ root: server.root, auth: { username: 'alice', password: 'right-pass' } });
    const url = server.urlWithAuth('app', 'alice', 'wrong-pass-xyz');
    await startWriter({ repo: url, intervalMs: 60_000, settleMs: 60_000 });
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    await until(async () => (writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const err = await writer!.flush().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('CAPSTAN_ERR_SOURCE_AUTH');
    const shown = `${err?.message} ${JSON.stringify(err)} ${String(err?.cause)}`;
    expect(shown).not.toContain('wrong-pass-xyz');
    expect(writer!.pendingIds()).toEqual(['Deployment/default/web']);
  });
});
