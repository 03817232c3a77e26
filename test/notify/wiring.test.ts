// The control plane's controllers include the notify controller (run on the leader).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_PREFIX } from '../../src/api/cluster.js';
import { silentLogger } from '../../src/common/index.js';
import { startControllers } from '../../src/compose/controllers.js';
import { openEmbeddedStore } from '../../src/store/index.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('control plane wiring', () => {
  it('a sync state written to the store reaches a Notification webhook through the running controllers', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const kv = await openEmbeddedStore({});
    cleanup.push(() => kv.close());
    const appliedAt = '2026-01-01T00:00:00.000Z';
    const n = { apiVersion: 'capstan.dev/v1', kind: 'Notification', metadata: { name: 'n', namespace: 'default' }, spec: { triggers: ['sync-succeeded'], sinks: [{ webhook: { url } }] } };
    await kv.put(`${STORE_PREFIX.desired}Notification/default/n`, JSON.stringify({ object: n, source: { file: 'n.yaml', index: 0, line: 1, column: 1 }, appliedAt }));
    const running = await startControllers({ kv, logger: silentLogger(), registry: new Registry(), identity: 'test' });
    cleanup.push(() => running.stop());
    await kv.put(`${STORE_PREFIX.sync}default`, JSON.stringify({ id: 'default', location: '/repo', phase: 'Synced', syncedCommit: 'a'.repeat(40), seenCommit: 'a'.repeat(40), message: '1 created', errors: [], trigger: 'test', at: '2026-06-01T00:00:00.000Z' }));
    for (let i = 0; i < 300 && bodies.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(bodies.map((b) => JSON.parse(b) as Record<string, unknown>)).toEqual([expect.objectContaining({ trigger: 'sync-succeeded', commit: 'a'.repeat(40), kind: 'Source', name: 'default' })]);
  });
});
