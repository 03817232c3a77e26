// Host ports for container ports without hostPort: the allocation order and holdings (pure,
// with a fake bind check), and two process pods asking for one containerPort on one node.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, ManualClock, PodManager, ProcessRuntime } from '../../src/agent/index.js';
import { candidatePorts, HOST_PORT_RANGE, HostPortAllocator, hostPortKey } from '../../src/agent/host-ports.js';
import { makePod, probe, StatusLog, until } from './pods.js';

/** A bind check over a set of ports something else holds; each check can be made to wait. */
function fakeHost(busy: number[] = [], waitMs = 0): { busy: Set<number>; isFree: (port: number) => Promise<boolean> } {
  const set = new Set(busy);
  return {
    busy: set,
    isFree: async (port) => {
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      return !set.has(port);
    },
  };
}

const ref = (pod: string) => ({ namespace: 'default', pod, container: 'main' });

describe('host port allocation (pure)', () => {
  it('gives the containerPort when free, else the first free port of the key’s own order in the range', async () => {
    const host = fakeHost();
    const alloc = new HostPortAllocator({ isFree: host.isFree });
    const a = hostPortKey(ref('web-a'), { name: 'http', containerPort: 8080 });
    const b = hostPortKey(ref('web-b'), { name: 'http', containerPort: 8080 });
    expect(a).toBe('default/web-a/main/http');
    expect(await alloc.allocate(a, 8080, 'c1')).toBe(8080);
    const second = await alloc.allocate(b, 8080, 'c2');
    expect(second).toBe(candidatePorts(b, 8080)[1]);
    expect(second).toBeGreaterThanOrEqual(HOST_PORT_RANGE.min);
    expect(second).toBeLessThanOrEqual(HOST_PORT_RANGE.max);
    // Another node (a new allocator) with the same busy ports picks the same: the order is the names'.
    const again = new HostPortAllocator({ isFree: fakeHost([8080]).isFree });
    expect(await again.allocate(b, 8080, 'x')).toBe(second);
  });

  it('never gives one port twice, also to allocations running at once', async () => {
    const host = fakeHost([], 5);
    const alloc = new HostPortAllocator({ isFree: host.isFree, range: { min: 40000, max: 40003 } });
    const keys = ['p0', 'p1', 'p2', 'p3', 'p4'].map((p) => hostPortKey(ref(p), { containerPort: 9000 }));
    const ports = await Promise.all(keys.map((k, i) => alloc.allocate(k, 9000, `c${i}`)));
    expect(new Set(ports).size).toBe(5);
    expect(ports.filter((p) => p === 9000)).toHaveLength(1);
    // Every port of the range and the containerPort are held: the next one is refused, saying what to do.
    await expect(alloc.allocate(hostPortKey(ref('p5'), { containerPort: 9000 }), 9000, 'c5')).rejects.toThrow(/no free host port for default\/p5\/main\/9000.*set hostPort/);
  });

  it('keeps a restarted container on its port while the host has it free', async () => {
    const host = fakeHost([8080]);
    const alloc = new HostPortAllocator({ isFree: host.isFree });
    const k = hostPortKey(ref('api'), { containerPort: 8080 });
    const first = await alloc.allocate(k, 8080, 'old');
    expect(first).not.toBe(8080);
    // The old container (dead, kept for its logs) still holds it: the same key may take it again.
    expect(await alloc.allocate(k, 8080, 'new')).toBe(first);
    alloc.release('old');
    expect(alloc.holdings().get(first)).toBe(k);
    alloc.release('new');
    expect(alloc.holdings().size).toBe(0);
    // 8080 is free now: the containerPort comes first (an image that ignores PORT listens there).
    host.busy.delete(8080);
    expect(await alloc.allocate(k, 8080, 'newer')).toBe(8080);
    alloc.release('newer');
    // 8080 taken by something else meanwhile: the port it had before.
    host.busy.add(8080);
    expect(await alloc.allocate(k, 8080, 'newest')).toBe(first);
  });

  it('skips ports adopted containers hold and ports below lowestPort', async () => {
    const alloc = new HostPortAllocator({ isFree: fakeHost().isFree, lowestPort: 1024 });
    alloc.adopt('default/old/main/http', 3000, 'adopted');
    const k = hostPortKey(ref('new'), { name: 'http', containerPort: 3000 });
    expect(await alloc.allocate(k, 3000, 'c')).toBe(candidatePorts(k, 3000)[1]);
    const low = hostPortKey(ref('low'), { containerPort: 80 });
    expect(await alloc.allocate(low, 80, 'd')).toBe(candidatePorts(low, 80)[1]);
  });
});

const NODE_BIN = process.execPath;
/** Serves its pod name on PORT. */
const SERVER = `require('http').createServer((q, s) => s.end(process.env.HOSTNAME)).listen(Number(process.env.PORT), '127.0.0.1');`;

describe('host ports with the process runtime', () => {
  let stateDir: string;
  let manager: PodManager | undefined;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'capstan-host-ports-'));
    chmodSync(stateDir, 0o711);
  });

  afterEach(async () => {
    await manager?.close({ stopContainers: true });
    manager = undefined;
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('gives two pods asking for one containerPort two ports, in PORT and in the status, and a restart keeps its port', async () => {
    const log = new StatusLog();
    const clock = new ManualClock();
    const runtime = new ProcessRuntime({ stateDir, node: 'n1' });
    manager = new PodManager({ driver: runtime, node: 'n1', clock, onStatus: log.onStatus, onRemoved: log.onRemoved, hostIP: '127.0.0.1', envLookup: () => undefined });
    const wanted = await freePort('127.0.0.1');
    const pod = (name: string) =>
      makePod(name, [{ name: 'main', image: 'unused', command: [NODE_BIN, '-e', SERVER], ports: [{ name: 'http', containerPort: wanted }], readinessProbe: probe({ httpGet: { path: '/', port: 'http' } }) }], { terminationGracePeriodSeconds: 1 });
    await manager.sync([pod('one'), pod('two')]);
    await until(manager, clock, 1000, () => {
      expect(log.last('one')?.ready).toBe(true);
      expect(log.last('two')?.ready).toBe(true);
    });
    const p1 = log.last('one')!.ports!.http;
    const p2 = log.last('two')!.ports!.http;
    expect(new Set([p1, p2, wanted]).size).toBe(2); // one of them has the containerPort
    expect(p1).not.toBe(p2);
    expect(await (await fetch(`http://127.0.0.1:${p1}/`)).text()).toBe('one');
    expect(await (await fetch(`http://127.0.0.1:${p2}/`)).text()).toBe('two');

    // The pod off the containerPort crashes; its next container gets the same port.
    const moved = p1 === wanted ? 'two' : 'one';
    const movedPort = moved === 'one' ? p1 : p2;
    const id = log.last(moved)!.containerStatuses![0].id!;
    const pid = Number(JSON.parse(readFileSync(join(stateDir, 'containers', `${id}.json`), 'utf8')).pid);
    process.kill(pid, 'SIGKILL');
    await until(manager, clock, 1000, () => {
      const s = log.last(moved)!;
      expect(s.containerStatuses![0].restartCount).toBe(1);
      expect(s.ready).toBe(true);
    });
    expect(log.last(moved)!.ports!.http).toBe(movedPort);
    expect(await (await fetch(`http://127.0.0.1:${movedPort}/`)).text()).toBe(moved);
  });
});
