// `capstan history` marks revisions whose template is no longer kept, since rollback cannot
// go back to them by number.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type HistoryEntry, type Revision } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { putJson } from '../server/fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  for (const n of [1, 2, 3]) {
    const e: HistoryEntry = { namespace: 'default', name: 'web', kind: 'Deployment', revision: n, images: [`web:${n}`], createdAt: '2026-01-01T00:00:00Z', outcome: 'Healthy', trigger: 'push' };
    await putJson(t.kv, `${STORE_PREFIX.history}default/web/${String(n).padStart(8, '0')}`, e);
  }
  for (const [n, hash] of [[2, 'bbb'], [3, 'ccc']] as const) {
    const rev = { metadata: { name: `web-${hash}`, namespace: 'default', owner: { kind: 'Deployment', name: 'web' }, hash, revision: n, createdAt: '2026-01-01T00:00:00Z' }, template: {}, replicas: 1 } as unknown as Revision;
    await putJson(t.kv, `${STORE_PREFIX.revisions}default/web/${hash}`, rev);
  }
});
afterAll(async () => t.close());

describe('capstan history', () => {
  it('marks a revision whose template is gone as not kept', async () => {
    const out = await runCli(['history', 'web', '--server', t.url, '--token', t.tokens.viewer]);
    expect(out.code, out.stderr).toBe(0);
    const rows = out.stdout.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(/\s{2,}/)[0])).toEqual(['1 (not kept)', '2', '3']);
    const json = await runCli(['history', 'web', '--server', t.url, '--token', t.tokens.viewer, '-o', 'json']);
    expect((JSON.parse(json.stdout) as { revision: number; kept: boolean }[]).map((h) => [h.revision, h.kept])).toEqual([[1, false], [2, true], [3, true]]);
  });
});
