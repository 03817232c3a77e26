// The status writer against a real smart-HTTP Git server, continued: a status branch takes the
// commits instead of the source branch; wrong credentials fail without the password.
import { describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { startGitServer } from '../helpers/git-server.js';
import { pushCommit } from '../helpers/git.js';

import { status, until, writerFixture } from './writer-fixture.js';

describe('StatusWriter (status branch, credentials)', () => {
  const f = writerFixture();

  it('writes to the status branch only, following the source branch', async () => {
    const main = f.bareGit('rev-parse', 'main');
    await f.startWriter({ statusBranch: 'capstan-status', intervalMs: 60_000, settleMs: 60_000 });
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    await until(async () => (f.writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const first = await f.writer!.flush();
    expect(f.bareGit('rev-parse', 'main')).toBe(main);
    expect(f.bareGit('rev-parse', 'capstan-status')).toBe(first.commit);
    expect(f.bareGit('show', 'capstan-status:apps/web.yaml')).toContain('capstan.dev/phase: "Healthy"');

    // main moves on: the next status commit merges it and keeps the earlier annotations.
    const next = pushCommit(f.repo, { 'apps/other.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata: {}\n' });
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status({ revision: 5, phase: 'Healthy' })));
    await until(async () => (f.writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const second = await f.writer!.flush();
    expect(f.bareGit('rev-parse', 'main')).toBe(next);
    expect(f.bareGit('log', '-1', '--format=%P', 'capstan-status')).toBe(`${first.commit} ${next}`);
    expect(f.bareGit('show', 'capstan-status:apps/web.yaml')).toContain('capstan.dev/revision: "5"');
    expect(f.bareGit('ls-tree', '--name-only', 'capstan-status', 'apps/')).toContain('apps/other.yaml');
    expect(second.written).toEqual(['Deployment/default/web']);
  });

  it('fails on wrong credentials without showing the password, and writes nothing', async () => {
    await f.server.stop();
    f.server = await startGitServer({ root: f.server.root, auth: { username: 'alice', password: 'right-pass' } });
    const url = f.server.urlWithAuth('app', 'alice', 'wrong-pass-xyz');
    await f.startWriter({ repo: url, intervalMs: 60_000, settleMs: 60_000 });
    await f.kv.put(`${STORE_PREFIX.status}Deployment/default/web`, JSON.stringify(status()));
    await until(async () => (f.writer!.pendingIds().length > 0 ? true : undefined), 'the status to be seen');
    const err = await f.writer!.flush().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('CAPSTAN_ERR_SOURCE_AUTH');
    const shown = `${err?.message} ${JSON.stringify(err)} ${String(err?.cause)}`;
    expect(shown).not.toContain('wrong-pass-xyz');
    expect(f.writer!.pendingIds()).toEqual(['Deployment/default/web']);
  });
});
