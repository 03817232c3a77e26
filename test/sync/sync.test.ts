// The sync loop against a real Git repository and the embedded store: a commit applies whole
// or not at all, removed objects are pruned, mass prunes are held, and Capstan's own status
// annotations never count as a change.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { readDesired, SyncLoop } from '../../src/sync/index.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

function configMap(name: string, value: string, annotations = ''): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
${annotations}data:
  VALUE: "${value}"
`;
}

describe('SyncLoop', () => {
  let dir: string;
  let kv: KV;
  let loop: SyncLoop;

  beforeEach(async () => {
    dir = initWorkTree({ 'a.yaml': configMap('a', '1'), 'b.yaml': configMap('b', '1'), 'c.yaml': configMap('c', '1') });
    commitFiles(dir, {}, 'initial');
    kv = await openEmbeddedStore({});
    const source = await openSource(dir, {});
    loop = new SyncLoop({ source, ref: 'main', kv, logger: silentLogger() });
  });

  afterEach(async () => {
    await loop.stop();
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function names(): Promise<string[]> {
    const current = await readDesired(kv);
    return [...current.records.values()].map((r) => `${r.record.object.metadata.name}=${(r.record.object as any).data.VALUE}`).sort();
  }

  it('applies a commit and records the synced commit on each object', async () => {
    const state = await loop.sync('test');
    expect(state.phase).toBe('Synced');
    expect(state.syncedCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(await names()).toEqual(['a=1', 'b=1', 'c=1']);
    const current = await readDesired(kv);
    for (const { record } of current.records.values()) expect(record.commit).toBe(state.syncedCommit);
  });

  it('applies nothing from a commit with any invalid file, and says why', async () => {
    await loop.sync('test');
    const before = await kv.revision();
    commitFiles(dir, { 'a.yaml': configMap('a', '2'), 'bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n' });
    const state = await loop.sync('test');
    expect(state.phase).toBe('Invalid');
    expect(state.message).toContain('bad.yaml:4');
    expect(await names()).toEqual(['a=1', 'b=1', 'c=1']);
    // Only the sync state record was written.
    expect(await kv.revision()).toBe(before + 1);
  });

  it('refuses a commit asking for 1e9 replicas whole, naming file, line and the limit; what is stored stays', async () => {
    await loop.sync('test');
    const before = await kv.revision();
    const huge = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: huge
spec:
  replicas: 1000000000
  selector: { matchLabels: { app: huge } }
  template:
    metadata: { labels: { app: huge } }
    spec:
      containers: [{ name: huge, image: huge:1 }]
`;
    commitFiles(dir, { 'a.yaml': configMap('a', '2'), 'huge.yaml': huge });
    const state = await loop.sync('test');
    expect(state.phase).toBe('Invalid');
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_LIMIT', file: 'huge.yaml', line: 6, column: 3 });
    expect(state.message).toContain('huge.yaml:6:3');
    expect(state.message).toContain('over the limit of 1000 pods per workload (--max-replicas)');
    expect(await names()).toEqual(['a=1', 'b=1', 'c=1']);
    // Only the sync state record was written.
    const current = await readDesired(kv);
    for (const { modRevision } of current.records.values()) expect(modRevision).toBeLessThanOrEqual(before);
  });

  it('syncs a force-pushed commit, marks the history rewrite in the sync state and records a Warning event', async () => {
    const events: Array<{ reason: string; message: string; type: string }> = [];
    const source = await openSource(dir, {});
    const watched = new SyncLoop({ source, ref: 'main', kv, logger: silentLogger(), events: { record: async (e) => void events.push(e) } });
    await watched.sync('test');
    const dropped = commitFiles(dir, { 'a.yaml': configMap('a', '2') }, 'a=2');
    expect((await watched.sync('test')).historyRewritten).toBeUndefined();
    expect(events).toEqual([]);
    execFileSync('git', ['reset', '--quiet', '--hard', 'HEAD~1'], { cwd: dir });
    const replacement = commitFiles(dir, { 'a.yaml': configMap('a', '3') }, 'a=3 instead');
    const state = await watched.sync('test');
    expect(state.phase).toBe('Synced');
    expect(state.syncedCommit).toBe(replacement);
    expect(state.historyRewritten).toEqual({ from: dropped, to: replacement });
    expect(await names()).toEqual(['a=3', 'b=1', 'c=1']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'HistoryRewritten' });
    expect(events[0]!.message).toContain(`does not contain the previously synced ${dropped.slice(0, 12)}`);
    await watched.stop();
  });

  it('prunes removed objects, but holds a commit that deletes more than half', async () => {
    await loop.sync('test');
    commitFiles(dir, { 'c.yaml': null });
    expect((await loop.sync('test')).phase).toBe('Synced');
    expect(await names()).toEqual(['a=1', 'b=1']);

    commitFiles(dir, { 'a.yaml': null, 'b.yaml': null, 'd.yaml': configMap('d', '1') });
    const held = await loop.sync('test');
    expect(held.phase).toBe('PruneHeld');
    expect(held.message).toMatch(/delete all 2 objects/);
    expect(await names()).toEqual(['a=1', 'b=1']);

    const allowed = await loop.sync('test', { allowMassPrune: true });
    expect(allowed.phase).toBe('Synced');
    expect(await names()).toEqual(['d=1']);
  });

  it('a commit that only changes capstan.dev annotations writes no object', async () => {
    await loop.sync('test');
    const before = await readDesired(kv);
    commitFiles(dir, { 'a.yaml': configMap('a', '1', '  annotations:\n    capstan.dev/phase: Healthy\n') });
    const state = await loop.sync('test');
    expect(state.phase).toBe('Synced');
    expect(state.summary).toMatchObject({ create: 0, update: 0, delete: 0 });
    const after = await readDesired(kv);
    for (const [key, r] of after.records) expect(r.modRevision).toBe(before.records.get(key)!.modRevision);
  });

  it('runs never overlap: concurrent calls apply each commit once', async () => {
    const [s1, s2] = await Promise.all([loop.sync('a'), loop.sync('b')]);
    expect(s1.phase).toBe('Synced');
    expect(s2.phase).toBe('Synced');
    expect(s2.summary).toMatchObject({ create: 0, update: 0, delete: 0, unchanged: 3 });
  });
});
