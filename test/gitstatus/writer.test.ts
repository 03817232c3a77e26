// The status writer against a real smart-HTTP Git server and the embedded store: status in the
// store becomes one bot commit whose diff holds only annotation lines; a user push racing the
// writer is kept; a status-only commit synced back plans no change.
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { CapstanError } from '../../src/common/index.js';
import type { KV, Watch } from '../../src/store/index.js';
import { readDesired } from '../../src/sync/index.js';
import { gitAsync, tempDir } from '../helpers/git.js';

import { WEB, status, until, writerFixture } from './writer-fixture.js';

describe('StatusWriter', () => {
  const f = writerFixture();

  it('commits the annotations as the bot author within the interval, the rest of the file byte-for-byte', async () => {
    const before = f.bareGit('rev-parse', 'main');
    await f.startWriter();
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    const after = await until(async () => {
      const tip = f.bareGit('rev-parse', 'main');
      return tip !== before ? tip : undefined;
    }, 'a status commit');
    expect(f.bareGit('log', '-1', '--format=%an <%ae>|%s', after)).toBe('Capstan <capstan@localhost>|capstan: web Healthy at revision 4 [skip ci]');
    const text = f.bareGit('show', `${after}:apps/web.yaml`);
    // Only added lines, all of them annotations, right after the last metadata entry.
    const diff = f.bareGit('diff', '--unified=0', before, after).split('\n').filter((l) => /^[+-]/.test(l) && !/^(\+\+\+|---) /.test(l));
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
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    expect((await f.writer!.flush()).commit).toBeUndefined();
    expect(f.bareGit('rev-parse', 'main')).toBe(after);

    // The status commit synced back plans no change: no desired object is rewritten.
    const desiredBefore = await readDesired(f.kv);
    const synced = await f.loop.sync('test');
    expect(synced.phase).toBe('Synced');
    expect(synced.syncedCommit).toBe(after);
    expect(synced.summary).toMatchObject({ create: 0, update: 0, delete: 0 });
    const desiredAfter = await readDesired(f.kv);
    for (const [key, v] of desiredBefore.records) expect(desiredAfter.records.get(key)?.modRevision).toBe(v.modRevision);
  });

  it('keeps following the store after its watch fails (compacted past it): lists again and commits what changed', async () => {
    const before = f.bareGit('rev-parse', 'main');
    // The seam: the first watch fails as a watch the store compacted past does; the rest is
    // the real store.
    let failed = false;
    const kv: KV = new Proxy(f.kv, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'watch' && !failed) {
          failed = true;
          return (): Watch => ({
            close: () => undefined,
            [Symbol.asyncIterator]: async function* () {
              await new Promise((r) => setTimeout(r, 20));
              throw new CapstanError('CAPSTAN_ERR_STORE_COMPACTED', 'compacted');
            },
          });
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    await f.startWriter({ kv });
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    const after = await until(async () => {
      const tip = f.bareGit('rev-parse', 'main');
      return tip !== before ? tip : undefined;
    }, 'a status commit after the watch failed');
    expect(failed).toBe(true);
    expect(f.bareGit('show', `${after}:apps/web.yaml`)).toContain('capstan.dev/phase: "Healthy"');
  });

  it('reports no status that is not a rollout (a Service\'s traffic record has no phase)', async () => {
    const before = f.bareGit('rev-parse', 'main');
    await f.startWriter({ intervalMs: 60_000, settleMs: 60_000 });
    // Shaped like the router's Service status; written under an object that exists in Git.
    await f.kv.put(`${STORE_PREFIX.status}ConfigMap/default/settings`, JSON.stringify({ address: '127.0.0.1:80', endpoints: [], weights: {} }));
    await new Promise((r) => setTimeout(r, 100));
    expect(f.writer!.pendingIds()).toEqual([]);
    expect((await f.writer!.flush()).commit).toBeUndefined();
    expect(f.bareGit('rev-parse', 'main')).toBe(before);
  });

  it('keeps a user commit pushed between its fetch and its push, retrying on the new tip', async () => {
    const user = tempDir('capstan-user-');
    await gitAsync(user, 'clone', '-q', f.repo.url, '.');
    let pushed = '';
    await f.startWriter({
      intervalMs: 60_000, settleMs: 60_000,
      beforeUpdate: async (attempt) => {
        if (attempt !== 1) return;
        await gitAsync(user, 'commit', '-q', '--allow-empty', '-m', 'user change');
        await gitAsync(user, 'push', '-q', 'origin', 'main');
        pushed = await gitAsync(user, 'rev-parse', 'HEAD');
      },
    });
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status({ phase: 'Degraded', message: 'pull failed for https://bob:hunter2@registry.example/web' })));
    await until(async () => (f.writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const result = await f.writer!.flush();
    expect(result.attempts).toBe(2);
    expect(result.commit).toBeDefined();
    const log = f.bareGit('log', '--format=%H %s', 'main').split('\n');
    expect(log[0]).toBe(`${result.commit} capstan: web Degraded at revision 4 [skip ci]`);
    expect(log[1]).toBe(`${pushed} user change`);
    const text = f.bareGit('show', 'main:apps/web.yaml');
    expect(text).toContain('capstan.dev/message: "pull failed for https://registry.example/web"');
    expect(text).not.toContain('hunter2');
    rmSync(user, { recursive: true, force: true });
  });

});
