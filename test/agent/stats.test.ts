// Usage figures for the autoscaler: a real busy-loop process run by the process runtime, read
// from /proc; Docker's stats shape; and the sampler that turns cpu seconds into millicores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessRuntime } from '../../src/agent/index.js';
import type { ContainerHandle } from '../../src/agent/runtime.js';
import { UsageSampler, canMeasure, dockerUsage, processTreeUsage } from '../../src/agent/stats.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('process runtime stats', () => {
  it('a busy loop uses about one core; an idle process next to nothing', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'capstan-stats-'));
    dirs.push(stateDir);
    const runtime = new ProcessRuntime({ stateDir, node: 'n1', user: null });
    expect(canMeasure(runtime)).toBe(true);
    const make = async (pod: string, script: string) => {
      const h = await runtime.create({
        ref: { namespace: 'default', pod, container: 'main' },
        container: { name: 'main', image: 'node', command: [process.execPath, '-e', script] },
        env: {},
        restartCount: 0,
      });
      return runtime.start(h);
    };
    const busy = await make('busy', 'for (;;) {}');
    const idle = await make('idle', 'setInterval(() => {}, 1000)');
    try {
      const sampler = new UsageSampler();
      const take = async () => {
        const list: Array<{ handle: ContainerHandle; usage: NonNullable<Awaited<ReturnType<typeof runtime.stats>>> }> = [];
        for (const handle of [busy, idle]) {
          const usage = await runtime.stats(handle);
          expect(usage).toBeDefined();
          list.push({ handle, usage: usage! });
        }
        return sampler.sample(Date.now(), list);
      };
      const first = await take();
      expect(first['default/busy']!.cpu).toBeUndefined(); // no rate from one sample
      await sleep(1500);
      const second = await take();
      // One core is 1000m; a loaded CI machine may give it much less, never much more.
      const busyCpu = second['default/busy']!.cpu!;
      const idleCpu = second['default/idle']!.cpu!;
      expect(busyCpu).toBeGreaterThan(150);
      expect(busyCpu).toBeLessThan(1300);
      expect(idleCpu).toBeLessThan(100);
      expect(busyCpu).toBeGreaterThan(5 * idleCpu);
      // A running node process holds megabytes (the first sample may come before it is loaded).
      expect(second['default/busy']!.memory).toBeGreaterThan(1024 * 1024);
    } finally {
      await runtime.stop(busy, 1000);
      await runtime.stop(idle, 1000);
    }
    expect(await runtime.stats(busy)).toBeUndefined();
  }, 15_000);

  it('reads this process from /proc', () => {
    const u = processTreeUsage(process.pid);
    expect(u!.cpuSeconds).toBeGreaterThan(0);
    expect(u!.memoryBytes).toBeGreaterThan(1024 * 1024);
    expect(processTreeUsage(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe('docker stats', () => {
  it('cpu from total_usage in ns, memory less the inactive page cache', () => {
    expect(dockerUsage({ cpu_stats: { cpu_usage: { total_usage: 2.5e9 } }, memory_stats: { usage: 50_000_000, stats: { inactive_file: 10_000_000 } } })).toEqual({
      cpuSeconds: 2.5,
      memoryBytes: 40_000_000,
    });
    expect(dockerUsage({})).toBeUndefined();
  });
});

describe('UsageSampler', () => {
  const handle = (id: string, pod: string): ContainerHandle => ({ id, runtime: 'process', ref: { namespace: 'ns', pod, container: id }, labels: {}, ports: [] });
  it('sums a pod’s containers and gives millicores over the span between samples', () => {
    const s = new UsageSampler();
    s.sample(0, [
      { handle: handle('a', 'p'), usage: { cpuSeconds: 10, memoryBytes: 100 } },
      { handle: handle('b', 'p'), usage: { cpuSeconds: 1, memoryBytes: 50 } },
    ]);
    const out = s.sample(10_000, [
      { handle: handle('a', 'p'), usage: { cpuSeconds: 15, memoryBytes: 120 } }, // 0.5 core
      { handle: handle('b', 'p'), usage: { cpuSeconds: 2, memoryBytes: 60 } }, // 0.1 core
    ]);
    expect(out).toEqual({ 'ns/p': { cpu: 600, memory: 180, containers: { a: { cpu: 500, memory: 120 }, b: { cpu: 100, memory: 60 } } } });
    // A new container in the pod: no cpu figure for the pod until it has two samples.
    const next = s.sample(20_000, [
      { handle: handle('a', 'p'), usage: { cpuSeconds: 20, memoryBytes: 120 } },
      { handle: handle('c', 'p'), usage: { cpuSeconds: 0, memoryBytes: 10 } },
    ]);
    expect(next).toEqual({ 'ns/p': { memory: 130, containers: { a: { cpu: 500, memory: 120 }, c: { memory: 10 } } } });
  });
});
