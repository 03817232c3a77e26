// Pod usage from a real agent to the autoscaler: the agent measures a busy-loop process, sends
// the figures with its heartbeat, the server keeps them on the node record, and the HPA's
// metrics source reads them back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type Pod } from '../../src/api/cluster.js';
import { storeMetricsSource } from '../../src/controllers/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

let t: TestApi;
let stateDir: string;
let agent: NodeAgent | undefined;

beforeEach(async () => {
  t = await startApi();
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-node-metrics-'));
});

afterEach(async () => {
  await agent?.stop({ stopPods: true });
  agent = undefined;
  await t.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('node agent metrics', () => {
  it('a busy pod’s cpu reaches the node record and the autoscaler’s metrics source', async () => {
    agent = new NodeAgent({
      server: t.url,
      token: t.tokens.agentA,
      name: 'node-a',
      runtime: new ProcessRuntime({ stateDir, node: 'node-a' }),
      capacity: { cpu: 2000, memory: 2 ** 31 },
      stateDir,
      heartbeatMs: 400,
      retryBaseMs: 50,
      manager: { resyncMs: 200, orphanGraceMs: 2000 },
    });
    await agent.start();
    const pod = makePod('busy', [{ name: 'main', image: 'node', command: [process.execPath, '-e', 'for (;;) {}'] }], { nodeName: 'node-a', terminationGracePeriodSeconds: 1 });
    await t.kv.put(`${STORE_PREFIX.pods}default/busy`, JSON.stringify(pod));
    const source = storeMetricsSource({ kv: t.kv, maxAgeMs: 10_000 });
    const deadline = Date.now() + 10_000;
    let cpu: number | undefined;
    let memory: number | undefined;
    while (Date.now() < deadline) {
      const item = await t.kv.get(`${STORE_PREFIX.pods}default/busy`);
      const current = JSON.parse(Buffer.from(item!.value).toString('utf8')) as Pod;
      const usage = (await source.podUsage('default', [current])).get('busy');
      if (usage?.cpu !== undefined && usage.cpu > 100) {
        cpu = usage.cpu;
        memory = usage.memory;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(cpu).toBeGreaterThan(100);
    expect(cpu).toBeLessThan(1300);
    expect(memory).toBeGreaterThan(1024 * 1024);
  }, 20_000);
});
