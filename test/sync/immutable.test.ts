// An immutable ConfigMap or Secret: a later commit that changes its data (or drops the mark) is
// refused whole at the field's file:line:col, naming keys but no value; a renamed copy syncs.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { openSource } from '../../src/source/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { readDesired, SyncLoop } from '../../src/sync/index.js';
import { commitFiles, initWorkTree } from '../helpers/git.js';

const configMap = (name: string, value: string, immutable = true): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${immutable ? 'immutable: true\n' : ''}data:\n  VALUE: "${value}"\n`;
const secret = (value: string): string =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nimmutable: true\nstringData:\n  password: ${value}\n`;

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

describe('immutable ConfigMaps and Secrets', () => {
  it('refuses a commit that changes the data, at the data field, and applies nothing of it', async () => {
    const { dir, kv, loop } = await setup({ 'cm.yaml': configMap('settings', '1'), 'other.yaml': configMap('other', '1', false) });
    expect((await loop.sync('test')).phase).toBe('Synced');
    commitFiles(dir, { 'cm.yaml': configMap('settings', '2'), 'other.yaml': configMap('other', '2', false) }, 'change both');
    const state = await loop.sync('test');
    expect(state.phase).toBe('Invalid');
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_IMMUTABLE', file: 'cm.yaml', line: 6, column: 1, field: 'data' });
    expect(state.errors[0]!.message).toContain('ConfigMap default/settings is immutable');
    expect(state.message).toContain('cm.yaml:6:1');
    // Whole or nothing: the mutable one did not change either.
    const stored = (await readDesired(kv)).records;
    const other = [...stored.values()].find((r) => r.record.object.metadata.name === 'other')!;
    expect((other.record.object.data as Record<string, string>).VALUE).toBe('1');
  });

  it('refuses dropping immutable, and accepts the same change under a new name', async () => {
    const { dir, loop } = await setup({ 'cm.yaml': configMap('settings', '1') });
    expect((await loop.sync('test')).phase).toBe('Synced');
    commitFiles(dir, { 'cm.yaml': configMap('settings', '1', false) }, 'drop the mark');
    const dropped = await loop.sync('test');
    expect(dropped.phase).toBe('Invalid');
    expect(dropped.errors.map((e) => e.field)).toEqual(['immutable']);
    commitFiles(dir, { 'cm.yaml': configMap('settings', '1'), 'cm-v2.yaml': configMap('settings-v2', '2') }, 'a renamed copy');
    const renamed = await loop.sync('test');
    expect(renamed.phase, renamed.message).toBe('Synced');
  });

  it('names the changed Secret keys but never a value', async () => {
    const { dir, loop } = await setup({ 's.yaml': secret('first-value-123') });
    expect((await loop.sync('test')).phase).toBe('Synced');
    commitFiles(dir, { 's.yaml': secret('second-value-456') }, 'rotate');
    const state = await loop.sync('test');
    expect(state.phase).toBe('Invalid');
    expect(state.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_IMMUTABLE', line: 6 });
    const text = JSON.stringify(state);
    expect(text).toContain('password');
    expect(text).not.toContain('first-value-123');
    expect(text).not.toContain('second-value-456');
  });
});

describe('computePlan with an immutable object in the base', () => {
  it('reports the change as an error, so `capstan plan --base` shows it too', async () => {
    const { computePlan } = await import('../../src/plan/index.js');
    const cm = (value: string, line = 6) => ({
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, immutable: true, data: { VALUE: value } },
      source: { file: 'cm.yaml', index: 0, line: 1, column: 1, at: { data: { line, column: 1 } } },
    });
    const plan = computePlan({ source: { location: '.' }, desired: [cm('2')], errors: [], warnings: [], base: { kind: 'ref', ref: 'main' } as never, current: [cm('1')] });
    expect(plan.errors).toMatchObject([{ code: 'CAPSTAN_ERR_API_IMMUTABLE', file: 'cm.yaml', line: 6, field: 'data' }]);
    expect(plan.changes.map((c) => c.action)).toEqual(['update']);
    const same = computePlan({ source: { location: '.' }, desired: [cm('1')], errors: [], warnings: [], base: { kind: 'ref', ref: 'main' } as never, current: [cm('1')] });
    expect(same.errors).toEqual([]);
  });
});
