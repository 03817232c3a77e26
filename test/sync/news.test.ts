// A refused commit must not go unnoticed: the loop tells once per refused commit (an event and
// the onChange call the server prints), not on every poll, and tells again when a good commit
// lands. What it says names the commit and each error's file:line:col.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { SyncLoop, type SyncState } from '../../src/sync/index.js';
import { isNews } from '../../src/sync/loop.js';
import { sourceStatusLine, contractSource, syncChangeText } from '../../src/cli/sync-view.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

const deployment = (replicas: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: nginx:1.27
`;

describe('sync news', () => {
  let dir: string;
  let kv: KV;
  let loop: SyncLoop;
  const events: { type: string; reason: string; message: string; object: string }[] = [];
  const changes: SyncState[] = [];

  beforeEach(async () => {
    events.length = 0;
    changes.length = 0;
    dir = initWorkTree({ 'apps/web.yaml': deployment('3') });
    commitFiles(dir, {}, 'initial');
    kv = await openEmbeddedStore({});
    loop = new SyncLoop({
      source: await openSource(dir, {}),
      ref: 'main',
      kv,
      logger: silentLogger(),
      events: { record: async (e) => void events.push(e) },
      onChange: (s) => void changes.push(s),
    });
  });

  afterEach(async () => {
    await loop.stop();
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports a refused commit once, with file:line:col, and the recovery once', async () => {
    const good = await loop.sync('test');
    expect(good.phase).toBe('Synced');
    expect(events).toEqual([]);
    expect(changes).toEqual([]);

    const bad = commitFiles(dir, { 'apps/web.yaml': deployment('three') }, 'typo');
    const refused = await loop.sync('poll');
    expect(refused.phase).toBe('Invalid');
    expect(refused.seenCommit).toBe(bad);
    expect(refused.syncedCommit).toBe(good.syncedCommit);
    expect(events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'InvalidCommit', object: 'Source/default', message: expect.stringContaining('apps/web.yaml:6:3') })]);
    expect(changes.map((c) => c.phase)).toEqual(['Invalid']);

    // The console text names the refused commit, the one still running, and the error's place.
    const shown = syncChangeText(refused);
    expect(shown.stream).toBe('err');
    expect(shown.text).toContain(`commit ${bad.slice(0, 12)} refused, nothing applied (still running ${good.syncedCommit!.slice(0, 12)})`);
    expect(shown.text).toMatch(/\n {2}apps\/web\.yaml:6:3: .*replicas.* \[CAPSTAN_ERR_/);
    expect(sourceStatusLine(contractSource(refused))).toMatch(new RegExp(`Invalid \\(commit ${bad.slice(0, 12)} not applied\\), running ${good.syncedCommit!.slice(0, 12)}: apps/web.yaml:6:3`));

    // The next poll sees the same commit: nothing new to say.
    await loop.sync('poll');
    expect(events).toHaveLength(1);
    expect(changes).toHaveLength(1);

    commitFiles(dir, { 'apps/web.yaml': deployment('4') }, 'fix');
    const fixed = await loop.sync('poll');
    expect(fixed.phase).toBe('Synced');
    expect(events.map((e) => `${e.type} ${e.reason}`)).toEqual(['Warning InvalidCommit', 'Normal Synced']);
    expect(changes.map((c) => c.phase)).toEqual(['Invalid', 'Synced']);
    expect(syncChangeText(fixed)).toMatchObject({ stream: 'out', text: expect.stringContaining(`synced ${fixed.syncedCommit!.slice(0, 12)} again`) });
  });

  it('a second bad commit is news again; a failure is news when its message changes', () => {
    const base = { id: 'default', location: 'x', message: 'm', errors: [], trigger: 't', at: '' };
    const invalid = (seen: string): SyncState => ({ ...base, phase: 'Invalid', seenCommit: seen });
    expect(isNews(invalid('a'), undefined)).toBe(true);
    expect(isNews(invalid('a'), invalid('a'))).toBe(false);
    expect(isNews(invalid('b'), invalid('a'))).toBe(true);
    expect(isNews({ ...base, phase: 'Failed', message: 'unreachable' }, { ...base, phase: 'Failed', message: 'unreachable' })).toBe(false);
    expect(isNews({ ...base, phase: 'Failed', message: 'timeout' }, { ...base, phase: 'Failed', message: 'unreachable' })).toBe(true);
    expect(isNews({ ...base, phase: 'Synced' }, { ...base, phase: 'Synced' })).toBe(false);
    expect(isNews({ ...base, phase: 'Synced' }, undefined)).toBe(false);
    expect(isNews({ ...base, phase: 'Conflict' }, invalid('a'))).toBe(false);
  });

  it('refuses a misspelled spec field (replcas) instead of falling back to one replica; --allow-unknown-fields lets it through with a warning', async () => {
    await loop.sync('test');
    commitFiles(dir, { 'apps/web.yaml': deployment('3').replace('  replicas: 3', '  replcas: 5') }, 'typo in a field name');
    const refused = await loop.sync('poll');
    expect(refused.phase).toBe('Invalid');
    expect(refused.errors).toEqual([expect.objectContaining({ code: 'CAPSTAN_ERR_API_UNKNOWN_FIELD', file: 'apps/web.yaml', line: 6, field: 'spec.replcas', message: expect.stringContaining('did you mean replicas?') })]);

    const relaxed = new SyncLoop({ source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger(), allowUnknownFields: true });
    try {
      const state = await relaxed.sync('poll');
      expect(state.phase, state.message).toBe('Synced');
    } finally {
      await relaxed.stop();
    }
  });
});
