// Shared by the status writer tests: a real smart-HTTP Git server with one repository, the
// embedded store synced from it, and a writer started on demand.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import type { WorkloadStatus } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { StatusWriter, type StatusWriterOptions } from '../../src/gitstatus/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { SyncLoop } from '../../src/sync/index.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { createRepo, git, tempDir, type TestRepo } from '../helpers/git.js';

export const WEB = `# The web tier.
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

export function status(over: Partial<WorkloadStatus> = {}): WorkloadStatus {
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

export async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface WriterFixture {
  server: GitServer;
  repo: TestRepo;
  kv: KV;
  dataDir: string;
  writer: StatusWriter | undefined;
  loop: SyncLoop;
  startWriter(over?: Partial<StatusWriterOptions>): Promise<void>;
  bareGit(...args: string[]): string;
}

/** Registers the setup and teardown of every test in the calling describe block. */
export function writerFixture(): WriterFixture {
  const f = {} as WriterFixture;
  beforeEach(async () => {
    f.server = await startGitServer();
    f.repo = createRepo(f.server, 'app', { 'apps/web.yaml': WEB });
    f.kv = await openEmbeddedStore({});
    f.dataDir = tempDir('capstan-gitstatus-');
    const source = await openSource(f.repo.url, { dataDir: f.dataDir, env: {} });
    f.loop = new SyncLoop({ source, ref: 'main', kv: f.kv, logger: silentLogger() });
    expect((await f.loop.sync('test')).phase).toBe('Synced');
  });

  afterEach(async () => {
    await f.writer?.stop();
    f.writer = undefined;
    await f.loop.stop();
    await f.kv.close();
    await f.server.stop();
    rmSync(f.dataDir, { recursive: true, force: true });
    rmSync(f.repo.work, { recursive: true, force: true });
  });

  f.startWriter = (over = {}) => {
    f.writer = new StatusWriter({ kv: f.kv, repo: f.repo.url, branch: 'main', dataDir: f.dataDir, env: {}, logger: silentLogger(), intervalMs: 50, settleMs: 10, retryDelayMs: 10, ...over });
    return f.writer.start();
  };
  f.bareGit = (...args) => git(f.repo.bare, ...args);
  return f;
}
