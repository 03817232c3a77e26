// `capstan events`: oldest first, --for one object, and -w printing events as they are recorded.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_PREFIX, type ClusterEvent } from '../../src/api/cluster.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { CAPSTAN_BIN, runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/cluster.js';
import { putJson } from '../server/fixtures.js';

const event = (id: string, object: string, reason: string, lastSeen: string): ClusterEvent & { id: string } => ({
  id,
  namespace: 'default',
  object,
  type: 'Warning',
  reason,
  message: `${reason} happened`,
  source: 'test',
  count: 1,
  firstSeen: lastSeen,
  lastSeen,
});

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
  await putJson(t.kv, `${STORE_PREFIX.events}default/b`, event('b', 'Deployment/web', 'ProgressDeadlineExceeded', '2026-01-02T00:00:00.000Z'));
  await putJson(t.kv, `${STORE_PREFIX.events}default/a`, event('a', 'Source/default', 'InvalidCommit', '2026-01-01T00:00:00.000Z'));
});
afterAll(async () => t.close());

describe('capstan events', () => {
  it('lists oldest first, and only one object with --for', async () => {
    const all = await runCli(['events', '--server', t.url, '--token', t.tokens.viewer]);
    expect(all.code, all.stderr).toBe(0);
    const rows = all.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT/);
    expect(rows.slice(1).map((r) => r.match(/(InvalidCommit|ProgressDeadlineExceeded)/)?.[1])).toEqual(['InvalidCommit', 'ProgressDeadlineExceeded']);
    const one = await runCli(['events', '--for', 'Source/default', '--server', t.url, '--token', t.tokens.viewer, '-o', 'json']);
    expect((JSON.parse(one.stdout) as ClusterEvent[]).map((e) => e.reason)).toEqual(['InvalidCommit']);
  });

  it('-w prints a new event when it is recorded', async () => {
    const child = spawn(process.execPath, [CAPSTAN_BIN, 'events', '-w', '-o', 'json', '--for', 'Deployment/api', '--server', t.url, '--token', t.tokens.viewer], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      // The watch is open once the (empty) list is out; give the stream a moment to attach.
      await new Promise((r) => setTimeout(r, 1000));
      await putJson(t.kv, `${STORE_PREFIX.events}default/c`, event('c', 'Deployment/api', 'RolloutAborted', new Date().toISOString()));
      await putJson(t.kv, `${STORE_PREFIX.events}default/d`, event('d', 'Deployment/other', 'Ignored', new Date().toISOString()));
      const line = await waitFor(() => out.split('\n').find((l) => l.includes('RolloutAborted')), 10_000, 'the new event on the watch');
      expect(JSON.parse(line)).toMatchObject({ object: 'Deployment/api', reason: 'RolloutAborted' });
      expect(out).not.toContain('Ignored');
    } finally {
      child.kill('SIGINT');
    }
  });
});
