// Jobs, bare Pods and Namespaces through the sync loop: a Job's spec.template is immutable (the
// commit is refused at the field, naming it) while parallelism may change; a Namespace in Git is
// created first and pruned with what is in it; objects naming a namespace without a Namespace
// object keep working (namespaces are implicit).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SourcedObject } from '../../src/api/types.js';
import { silentLogger } from '../../src/common/index.js';
import { computePlan } from '../../src/plan/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { readDesired, SyncLoop } from '../../src/sync/index.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

const job = (image: string, parallelism = 1): string =>
  `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  parallelism: ${parallelism}\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: m\n          image: ${image}\n`;
const pod = (image: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: tool\nspec:\n  containers:\n    - name: c\n      image: ${image}\n`;
const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
const cm = (name: string, namespace: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  A: "1"\n`;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(files: Record<string, string>): Promise<{ dir: string; kv: KV; loop: SyncLoop }> {
  const dir = initWorkTree(files);
  commitFiles(dir, {}, 'first');
  const kv = await openEmbeddedStore({});
  const loop = new SyncLoop({ source: await openSource(dir, {}), ref: 'main', kv, logger: silentLogger() });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => kv.close(), () => loop.stop());
  return { dir, kv, loop };
}

const keys = async (kv: KV): Promise<string[]> => [...(await readDesired(kv)).records.keys()].map((k) => k.replace(/^.*\/desired\//, '')).sort();

describe('Jobs and Pods from Git', () => {
  it('syncs without a "not run yet" warning, and refuses a changed Job template at spec.template', async () => {
    const { dir, kv, loop } = await setup({ 'job.yaml': job('busybox:1'), 'pod.yaml': pod('busybox:1') });
    const first = await loop.sync('test');
    expect(first.phase, first.message).toBe('Synced');
    expect(first.message).not.toContain('not run yet');
    expect(await keys(kv)).toEqual(['Job/default/migrate', 'Pod/default/tool']);

    // parallelism is mutable; a Pod's spec may change (the controller re-creates the pod).
    commitFiles(dir, { 'job.yaml': job('busybox:1', 2), 'pod.yaml': pod('busybox:2') }, 'mutable changes');
    expect((await loop.sync('test')).phase).toBe('Synced');

    commitFiles(dir, { 'job.yaml': job('busybox:2', 2) }, 'change the template');
    const refused = await loop.sync('test');
    expect(refused.phase).toBe('Invalid');
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_IMMUTABLE', file: 'job.yaml', field: 'spec.template' });
    expect(refused.errors[0]!.message).toContain('Job default/migrate: spec.template is immutable');
    const stored = [...(await readDesired(kv)).records.values()].find((r) => r.record.object.kind === 'Job')!;
    expect(JSON.stringify(stored.record.object.spec)).toContain('busybox:1');

    // completions is immutable too (Kubernetes refuses it the same way).
    commitFiles(dir, { 'job.yaml': job('busybox:1', 2).replace('  parallelism: 2\n', '  parallelism: 2\n  completions: 4\n') }, 'change completions');
    const completions = await loop.sync('test');
    expect(completions.phase).toBe('Invalid');
    expect(completions.errors.map((e) => e.field)).toEqual(['spec.completions']);

    // Removing the Job from Git, then adding it back, runs the new template.
    commitFiles(dir, { 'job.yaml': null }, 'remove the job');
    expect((await loop.sync('test')).phase).toBe('Synced');
    commitFiles(dir, { 'job.yaml': job('busybox:2', 2) }, 'add it back');
    expect((await loop.sync('test')).phase).toBe('Synced');
  });
});

describe('Namespaces from Git', () => {
  it('creates a Namespace with its objects, prunes them together, and keeps objects of implicit namespaces', async () => {
    const { dir, kv, loop } = await setup({ 'team/ns.yaml': ns('team'), 'team/cm.yaml': cm('settings', 'team'), 'other/cm.yaml': cm('settings', 'other'), 'other/cm2.yaml': cm('more', 'other'), 'other/cm3.yaml': cm('extra', 'other') });
    const first = await loop.sync('test');
    expect(first.phase, first.message).toBe('Synced');
    expect(await keys(kv)).toEqual(['ConfigMap/other/extra', 'ConfigMap/other/more', 'ConfigMap/other/settings', 'ConfigMap/team/settings', 'Namespace/default/team']);
    // (A Namespace is stored under the default namespace's key today.) One transaction: the namespace and what is in it appear at the same store revision.
    const recs = (await readDesired(kv)).records;
    const rev = (k: string) => [...recs.entries()].find(([key]) => key.endsWith(k))![1].modRevision;
    expect(rev('Namespace/default/team')).toBe(rev('ConfigMap/team/settings'));

    commitFiles(dir, { 'team/ns.yaml': null, 'team/cm.yaml': null }, 'remove the team namespace');
    // (Two of five: under the mass-prune guard's half, so the normal prune rules apply.)
    const pruned = await loop.sync('test');
    expect(pruned.phase, pruned.message).toBe('Synced');
    expect(await keys(kv)).toEqual(['ConfigMap/other/extra', 'ConfigMap/other/more', 'ConfigMap/other/settings']);
  });

  it('plans a Namespace before the objects in it, and deletes it after them', () => {
    const so = (kind: string, name: string, namespace: string): SourcedObject =>
      ({ object: { apiVersion: 'v1', kind, metadata: { name, namespace } }, source: { file: `${name}.yaml`, index: 0, line: 1, column: 1 } }) as unknown as SourcedObject;
    const objects = [so('Deployment', 'web', 'team'), so('ConfigMap', 'cfg', 'team'), so('Namespace', 'team', '')];
    const input = { source: {}, errors: [], warnings: [], base: undefined } as unknown as Parameters<typeof computePlan>[0];
    const created = computePlan({ ...input, desired: objects, current: [] });
    expect(created.changes.map((c) => c.kind)).toEqual(['Namespace', 'ConfigMap', 'Deployment']);
    const deleted = computePlan({ ...input, desired: [], current: objects });
    expect(deleted.changes.map((c) => c.kind)).toEqual(['Deployment', 'ConfigMap', 'Namespace']);
  });
});
