// The plan record a sync keeps per applied commit, through a real Git repository and the
// embedded store: what changed field by field, the commit's author and message and the one
// synced before; never a Secret's value; only the newest 20 per source; nothing for a refused
// commit or for a poll that changes nothing.
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { SENSITIVE } from '../../src/plan/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { PLAN_RECORDS_KEPT, SyncLoop, syncPlanKey, type SyncPlanRecord } from '../../src/sync/index.js';
import { commitFiles, initWorkTree, TEST_AUTHOR } from '../helpers/git.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function configMap(value: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  VALUE: "${value}"\n`;
}

/** A Secret with its value in data (base64), stringData and kubectl's manifest copy. */
function secret(password: string): string {
  const copy = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { token: `tok-${password}` } });
  return `apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '${copy}'
type: Opaque
data:
  password: ${b64(password)}
stringData:
  token: tok-${password}
`;
}

describe('plan records of applied commits', () => {
  let dir: string;
  let kv: KV;
  let loop: SyncLoop;

  beforeEach(async () => {
    dir = initWorkTree({ 'settings.yaml': configMap('1'), 'db.yaml': secret('hunter2-first') });
    kv = await openEmbeddedStore({});
    loop = new SyncLoop({ id: 'main-repo', source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger() });
  });

  afterEach(async () => {
    await loop.stop();
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function raw(commit: string): Promise<string | undefined> {
    const item = await kv.get(syncPlanKey('main-repo', commit));
    return item ? Buffer.from(item.value).toString('utf8') : undefined;
  }

  async function record(commit: string): Promise<SyncPlanRecord> {
    const text = await raw(commit);
    expect(text, `a record for ${commit}`).toBeDefined();
    return JSON.parse(text!) as SyncPlanRecord;
  }

  async function storedCommits(): Promise<string[]> {
    const r = await kv.range(`${STORE_PREFIX.syncPlans}main-repo/`, { prefix: true, keysOnly: true });
    return r.kvs.map((k) => k.key.slice(k.key.lastIndexOf('/') + 1)).sort();
  }

  it('keeps each applied commit with its field changes, author, message and the commit before it', async () => {
    const first = commitFiles(dir, {}, 'settings and the database secret');
    const s1 = await loop.sync('test');
    expect(s1.phase, s1.message).toBe('Synced');
    expect(s1.syncedCommit).toBe(first);

    const r1 = await record(first);
    expect(r1).toMatchObject({ sourceId: 'main-repo', ref: 'main', commit: first, author: `${TEST_AUTHOR.name} <${TEST_AUTHOR.email}>`, message: 'settings and the database secret', changedObjects: 2, truncated: false });
    expect(r1.previousCommit).toBeUndefined();
    expect(r1.summary).toEqual(s1.summary);
    expect(r1.objects.map((o) => `${o.action} ${o.kind}/${o.namespace}/${o.name}`).sort()).toEqual(['create ConfigMap/default/settings', 'create Secret/default/db']);
    const createdSecret = r1.objects.find((o) => o.kind === 'Secret')!;
    expect(createdSecret.fields.find((f) => f.path === 'data')).toEqual({ path: 'data', after: SENSITIVE, sensitive: true });
    expect(createdSecret.fields.find((f) => f.path === 'type')).toEqual({ path: 'type', after: '"Opaque"' });

    const second = commitFiles(dir, { 'settings.yaml': configMap('2'), 'db.yaml': secret('hunter2-second') }, 'rotate the password\n\nlonger body');
    const s2 = await loop.sync('test');
    expect(s2.phase, s2.message).toBe('Synced');
    const r2 = await record(second);
    expect(r2).toMatchObject({ commit: second, previousCommit: first, message: 'rotate the password', changedObjects: 2, truncated: false });
    const cm = r2.objects.find((o) => o.kind === 'ConfigMap')!;
    expect(cm).toMatchObject({ action: 'update', name: 'settings', file: 'settings.yaml' });
    expect(cm.fields).toEqual([{ path: 'data.VALUE', before: '"1"', after: '"2"' }]);
    const db = r2.objects.find((o) => o.kind === 'Secret')!;
    expect(db.action).toBe('update');
    expect(db.fields.map((f) => f.path).sort()).toEqual(['data.password', 'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]', 'stringData.token']);
    for (const f of db.fields) expect(f).toMatchObject({ before: SENSITIVE, after: SENSITIVE, sensitive: true });

    // No form of either password is anywhere in what the store keeps for the two commits.
    for (const text of [await raw(first), await raw(second)]) {
      for (const password of ['hunter2-first', 'hunter2-second']) {
        expect(text).not.toContain(password);
        expect(text).not.toContain(b64(password));
        expect(text).not.toContain(b64(password).slice(0, 12));
      }
      expect(text).not.toContain('tok-');
    }
    // The first record stays as it was.
    expect(await record(first)).toEqual(r1);
  });

  it('keeps nothing for a refused commit or for a poll that changes nothing', async () => {
    const first = commitFiles(dir, {}, 'initial');
    await loop.sync('test');
    const before = (await kv.get(syncPlanKey('main-repo', first)))!.modRevision;
    expect((await loop.sync('poll')).phase).toBe('Synced');
    expect((await kv.get(syncPlanKey('main-repo', first)))!.modRevision).toBe(before);

    const refused = commitFiles(dir, { 'bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n' }, 'bad name');
    expect((await loop.sync('test')).phase).toBe('Invalid');
    expect(await raw(refused)).toBeUndefined();
    expect(await storedCommits()).toEqual([first]);

    // A commit that changes no object is still kept (the page can say it changed nothing).
    const fixed = commitFiles(dir, { 'bad.yaml': '# nothing here\n' }, 'drop the bad file');
    expect((await loop.sync('test')).phase).toBe('Synced');
    expect(await record(fixed)).toMatchObject({ commit: fixed, previousCommit: first, changedObjects: 0, objects: [] });
  });

  it(`keeps only the newest ${PLAN_RECORDS_KEPT} per source, deleting older ones with the apply`, async () => {
    const commits: string[] = [commitFiles(dir, {}, 'initial')];
    expect((await loop.sync('test')).phase).toBe('Synced');
    for (let i = 2; i <= PLAN_RECORDS_KEPT + 3; i++) {
      commits.push(commitFiles(dir, { 'settings.yaml': configMap(String(i)) }, `value ${i}`));
      const revision = await kv.revision();
      const s = await loop.sync('test');
      expect(s.phase, s.message).toBe('Synced');
      // Record, pruning, objects and state in one transaction: one store revision.
      expect(await kv.revision()).toBe(revision + 1);
    }
    // Another source's records are not this source's to prune.
    await kv.put(syncPlanKey('other', 'f'.repeat(40)), '{}');
    await kv.put(`${STORE_PREFIX.syncPlans}main-repo/nested/${'e'.repeat(40)}`, '{}');
    commits.push(commitFiles(dir, { 'settings.yaml': configMap('last') }, 'last value'));
    expect((await loop.sync('test')).phase).toBe('Synced');

    const kept = await storedCommits();
    expect(kept).toHaveLength(PLAN_RECORDS_KEPT + 1); // and the nested source's one
    expect(kept.filter((c) => c !== 'e'.repeat(40))).toEqual(commits.slice(-PLAN_RECORDS_KEPT).sort());
    expect(await kv.get(syncPlanKey('other', 'f'.repeat(40)))).toBeDefined();
    const newest = await record(commits.at(-1)!);
    expect(newest.previousCommit).toBe(commits.at(-2));
    expect(newest.objects[0]!.fields).toEqual([{ path: 'data.VALUE', before: `"${PLAN_RECORDS_KEPT + 3}"`, after: '"last"' }]);
  });
});
