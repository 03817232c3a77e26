// Router worker mode (`--router-workers N`) with real worker processes: the worker entry is
// bundled from src/router/worker.ts for the test, the backends are HTTP servers on 127.0.0.1.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { routerWorkers } from '../../src/cli/main.js';
import { Router, type WorkerCommand } from '../../src/router/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { backend, get, pod, putPod, putPolicy, putService, service, until, type Backend } from './fixtures.js';

let command: WorkerCommand;
let kv: KV;
let registry: Registry;
let router: Router;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // Beside node_modules, so the bundle's package imports resolve as the built worker's do.
  const dir = resolve('node_modules/.cache/capstan-router-test');
  mkdirSync(dir, { recursive: true });
  const outfile = resolve(dir, `worker-${process.pid}.mjs`);
  await build({ entryPoints: [resolve('src/router/worker.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile, logLevel: 'silent' });
  command = { module: outfile };
}, 60_000);

beforeEach(async () => {
  kv = await openEmbeddedStore({});
  registry = new Registry();
  router = new Router({ kv, logger: silentLogger(), registry, portFor: () => 0, drainMs: 500, workers: 2, workerCommand: command });
  await router.start();
});

afterEach(async () => {
  await router.stop();
  for (const c of cleanup.splice(0)) await c();
  await kv.close();
});

async function start(name: string): Promise<Backend> {
  const b = await backend(name);
  cleanup.push(() => b.close());
  return b;
}

async function canary(): Promise<string> {
  const stable = await start('stable');
  const next = await start('canary');
  await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
  await putPod(kv, pod('web-a', 'stable', stable.port));
  await putPod(kv, pod('web-b', 'canary', next.port));
  await putPolicy(kv, 'web', { weights: { stable: 90, canary: 10 } });
  await until(() => router.tables('default', 'web')[0]?.weights.canary === 10 && typeof router.addresses()[0]?.address === 'string', 'the canary table');
  return router.addresses()[0].address as string;
}

function tallyOf(replies: { status: number; body: string }[]): Record<string, number> {
  const tally: Record<string, number> = {};
  for (const r of replies) {
    const key = r.status === 200 ? r.body : String(r.status);
    tally[key] = (tally[key] ?? 0) + 1;
  }
  return tally;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('router workers', () => {
  it('serves through two worker processes, splits a 90/10 canary exactly and merges their figures', async () => {
    const address = await canary();
    // Two keep-alive connections, used in turn: the primary deals one to each worker.
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
    const replies = [];
    for (let i = 0; i < 1000; i++) replies.push(await get(agents[i % 2], address));
    for (const a of agents) a.destroy();
    expect(tallyOf(replies)).toEqual({ stable: 900, canary: 100 });

    await router.collectWorkerFigures();
    const stats = router.workerStats();
    expect(stats).toHaveLength(2);
    expect(stats.map((s) => s.requests)).toEqual([500, 500]);
    expect(new Set(stats.map((s) => s.pid)).size).toBe(2);
    expect(stats.every((s) => s.pid !== process.pid)).toBe(true);
    expect(router.stats('default', 'web', 'stable', 60)).toMatchObject({ requests: 900, errors: 0 });
    expect(router.stats('default', 'web', 'canary', 60)).toMatchObject({ requests: 100, errors: 0 });
    expect(await registry.metrics()).toContain('capstan_router_requests_total{service="default/web",revision="canary",code="200"} 100');
  });

  it('keeps the split within one request per worker and revision under uneven concurrent load', async () => {
    const address = await canary();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 5 });
    const replies: { status: number; body: string }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        while (next < 1000) {
          next++;
          replies.push(await get(agent, address));
        }
      }),
    );
    agent.destroy();
    const tally = tallyOf(replies);
    expect(tally.stable + tally.canary).toBe(1000);
    expect(Math.abs(tally.canary - 100)).toBeLessThan(2);
  });

  it('starts a worker again after it crashes, and keeps serving', async () => {
    const address = await canary();
    const agent = new http.Agent({ keepAlive: false });
    expect((await get(agent, address)).status).toBe(200);
    const [first, second] = router.workerStats().map((s) => s.pid);
    process.kill(first, 'SIGKILL');
    await until(() => {
      const pids = router.workerStats().map((s) => s.pid);
      return pids[0] !== first && pids[0] !== 0 && pids[1] === second;
    }, 'a new worker 0', 10_000);
    // Until the replacement is ready the other worker takes every connection; then they alternate again.
    await until(
      async () => {
        expect((await get(agent, address)).status).toBe(200);
        await router.collectWorkerFigures();
        return router.workerStats()[0].requests > 0;
      },
      'the new worker 0 to serve',
      10_000,
    );
    const before = router.workerStats().map((s) => s.requests);
    const replies = [];
    for (let i = 0; i < 40; i++) replies.push(await get(agent, address));
    agent.destroy();
    expect(replies.every((r) => r.status === 200)).toBe(true);
    await router.collectWorkerFigures();
    const after = router.workerStats().map((s) => s.requests);
    // New connections are dealt to both workers in turn.
    expect([after[0] - before[0], after[1] - before[1]]).toEqual([20, 20]);
    expect(alive(first)).toBe(false);
  }, 30_000);

  it('stops cleanly: in-flight work ends, the worker processes exit and the port is closed', async () => {
    const address = await canary();
    const agent = new http.Agent({ keepAlive: true });
    expect((await get(agent, address)).body).toMatch(/stable|canary/);
    agent.destroy();
    const pids = router.workerStats().map((s) => s.pid);
    await router.stop();
    await until(() => pids.every((p) => !alive(p)), 'the workers to exit', 5000);
    await expect(get(new http.Agent(), address)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('--router-workers', () => {
  it('takes a whole number from 1 to 64 and names itself otherwise', () => {
    expect(routerWorkers('1')).toBe(1);
    expect(routerWorkers('64')).toBe(64);
    for (const bad of ['0', '65', '2.5', 'two', '-1']) expect(() => routerWorkers(bad)).toThrow(/--router-workers takes a whole number from 1 to 64/);
  });
});
