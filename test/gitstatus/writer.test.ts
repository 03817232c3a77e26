// The status writer against a real smart-HTTP Git server and the embedded store: status in the
// store becomes one bot commit whose diff holds only annotation lines; a user push racing the
// writer is kept; a status branch takes the commits instead; a status-only commit synced back
// plans no change; wrong credentials fail without the password.
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

describe('StatusWriter', () => {
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

  it('commits the annotations as the bot author within the interval, the rest of the file byte-for-byte', async () => {
    const before = bareGit('rev-parse', 'main');
    await startWriter();
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    const after = await until(async () => {
      const tip = bareGit('rev-parse', 'main');
      return tip !== before ? tip : undefined;
    }, 'a status commit');
    expect(bareGit('log', '-1', '--format=%an <%ae>|%s', after)).toBe('Capstan <capstan@localhost>|capstan: web Healthy at revision 4 [skip ci]');
    const text = bareGit('show', `${after}:apps/web.yaml`);
    // Only added lines, all of them annotations, right after the last metadata entry.
    const diff = bareGit('diff', '--unified=0', before, after).split('\n').filter((l) => /^[+-]/.test(l) && !/^(\+\+\+|---) /.test(l));
    expect(diff).toEqual([
      '+  annotations:',
      '+    capstan.dev/phase: "Healthy"',
      '+    capstan.dev/revision: "4"',
      '+    capstan.dev/synced-commit: "abc123"',
      '+    capstan.dev/ready: "3/3"',
      '+    capstan.dev/message: "rollout complete"',
    ]);
    expect(text.replace(/\n  annotations:\n(    capstan\.dev\/.*\n)+/, '\n')).toBe(WEB.trimEnd());

    // Progress that is not a meaningful transition writes nothing; the same status again neither.
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    expect((await writer!.flush()).commit).toBeUndefined();
    expect(bareGit('rev-parse', 'main')).toBe(after);

    // The status commit synced back plans no change: no desired object is rewritten.
    const desiredBefore = await readDesired(kv);
    const synced = await loop.sync('test');
    expect(synced.phase).toBe('Synced');
    expect(synced.syncedCommit).toBe(after);
    expect(synced.summary).toMatchObject({ create: 0, update: 0, delete: 0 });
    const desiredAfter = await readDesired(kv);
    for (const [key, v] of desiredBefore.records) expect(desiredAfter.records.get(key)?.modRevision).toBe(v.modRevision);
  });

  it('keeps a user commit pushed between its fetch and its push, retrying on the new tip', async () => {
    const user = tempDir('capstan-user-');
    await gitAsync(user, 'clone', '-q', repo.url, '.');
    let pushed = '';
    await startWriter({
      intervalMs: 60_000, settleMs: 60_000,
      beforeUpdate: async (attempt) => {
        if (attempt !== 1) return;
        await gitAsync(user, 'commit', '-q', '--allow-empty', '-m', 'user change');
        await gitAsync(user, 'push', '-q', 'origin', 'main');
        pushed = await gitAsync(user, 'rev-parse', 'HEAD');
      },
    });
    await kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status({ phase: 'Degraded', message: 'pull failed for https://bob:hunter2@registry.example/web' })));
    await until(async () => (writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const result = await writer!.flush();
    expect(result.attempts).toBe(2);
    expect(result.commit).toBeDefined();
    const log = bareGit('log', '--format=%H %s', 'main').split('\n');
    expect(log[0]).toBe(`${result.commit} capstan: web Degraded at revision 4 [skip ci]`);
    expect(log[1]).toBe(`${pushed} user change`);
    const text = bareGit('show', 'main:apps/web.yaml');
    expect(text).toContain('capstan.dev/message: "pull failed for https://registry.example/web"');
    expect(text).not.toContain('hunter2');
    rmSync(user, { recursive: true, force: true });
  });

});
