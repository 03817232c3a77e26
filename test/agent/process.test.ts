// The process runtime end to end: real child processes on 127.0.0.1 driven by a PodManager.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, PodManager, ProcessRuntime } from '../../src/agent/index.js';
import type { ContainerStatus } from '../../src/api/cluster.js';
import { makePod, probe, StatusLog, until } from './pods.js';

const NODE = process.execPath;

/** An HTTP server as the container: `/` answers 200, `/fail` 500, `/hits` the number of requests so far. */
const SERVER = `
const http = require('http');
let hits = 0;
http.createServer((req, res) => {
  hits++;
  if (req.url === '/fail') { res.statusCode = 500; res.end('no'); return; }
  if (req.url === '/hits') { res.end(String(hits)); return; }
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  if (process.env.MARKER) require('fs').writeFileSync(process.env.MARKER, 'SIGTERM');
  process.exit(0);
});
`;

/** Notes SIGTERM and carries on: only SIGKILL ends it. */
const STUBBORN = `
process.on('SIGTERM', () => { require('fs').writeFileSync(process.env.MARKER, 'ignored SIGTERM'); });
require('fs').writeFileSync(process.env.MARKER + '.ready', 'handler installed');
setInterval(() => {}, 1000);
`;

/** Alive and not a zombie (an exited child this test process has not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function pidOf(status: ContainerStatus | undefined): number {
  const id = status?.id;
  expect(id).toBeDefined();
  return Number(JSON.parse(readFileSync(join(stateDir, 'containers', `${id}.json`), 'utf8')).pid);
}

let stateDir: string;
/** Where pods leave markers: writable for the pod user (pods run as nobody when the tests run as root). */
let markers: string;
let clock: ManualClock;
let log: StatusLog;
const managers: PodManager[] = [];

function newManager(options: { clock?: ManualClock } = {}): { manager: PodManager; runtime: ProcessRuntime } {
  const runtime = new ProcessRuntime({ stateDir, node: 'n1' });
  const manager = new PodManager({
    driver: runtime,
    node: 'n1',
    clock: options.clock ?? clock,
    onStatus: log.onStatus,
    onRemoved: log.onRemoved,
    hostIP: '127.0.0.1',
    envLookup: (_ns, ref) => (ref.kind === 'ConfigMap' && ref.name === 'settings' ? { GREETING: 'hello' } : undefined),
  });
  managers.push(manager);
  return { manager, runtime };
}

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-agent-'));
  markers = mkdtempSync(join(tmpdir(), 'capstan-markers-'));
  chmodSync(markers, 0o777);
  clock = new ManualClock();
  log = new StatusLog();
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close({ stopContainers: true });
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(markers, { recursive: true, force: true });
});

describe('process runtime', () => {
  it('runs an HTTP server that becomes Ready through its readiness probe, and reports its port', async () => {
    const { manager } = newManager();
    const pod = makePod('web', [
      {
        name: 'web',
        image: 'unused',
        command: [NODE, '-e', SERVER],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'GREETING' } } }],
        readinessProbe: probe({ httpGet: { path: '/', port: 'http' } }),
      },
    ]);
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('web')?.ready).toBe(true));
    const status = log.last('web')!;
    expect(status.phase).toBe('Running');
    expect(status.hostIP).toBe('127.0.0.1');
    expect(status.readySince).toBeDefined();
    expect(status.containerStatuses?.[0]).toMatchObject({ name: 'web', ready: true, started: true, restartCount: 0 });
    // The status says where the server is, and it is there.
    const port = status.ports?.http;
    expect(port).toBeGreaterThan(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    // Not ready until then: the first statuses said so.
    expect(log.seen[0].status.ready).toBe(false);

    await manager.sync([]);
    await until(manager, undefined, 0, () => expect(log.removed).toEqual(['default/web']));
    expect(manager.podKeys()).toEqual([]);
  });

  it('puts a command that exits at once into CrashLoopBackOff with a growing back-off', async () => {
    const { manager } = newManager();
    const pod = makePod('crash', [{ name: 'c', image: 'unused', command: [NODE, '-e', 'process.exit(3)'] }]);
    await manager.sync([pod]);
    const c = (): ContainerStatus => log.last('crash')!.containerStatuses![0];
    const waitingMessage = (): string | undefined => ('waiting' in c().state ? (c().state as { waiting: { message?: string } }).waiting.message : undefined);

    // The first crash restarts at once; the second waits 10 s.
    await until(manager, undefined, 0, () => {
      expect(c().restartCount).toBe(1);
      expect(c().state).toMatchObject({ waiting: { reason: 'CrashLoopBackOff' } });
    });
    expect(waitingMessage()).toBe('back-off 10s restarting failed container=c pod=crash_default');
    expect(log.last('crash')!.phase).toBe('Running');
    expect(log.last('crash')!.ready).toBe(false);

    clock.advance(9_000);
    await manager.idle();
    expect(c().restartCount).toBe(1);
    await until(manager, clock, 1_000, () => {
      expect(c().restartCount).toBe(2);
      expect(waitingMessage()).toBe('back-off 20s restarting failed container=c pod=crash_default');
    });

    clock.advance(15_000);
    await manager.idle();
    expect(c().restartCount).toBe(2);
    await until(manager, clock, 1_000, () => {
      expect(c().restartCount).toBe(3);
      expect(waitingMessage()).toBe('back-off 40s restarting failed container=c pod=crash_default');
    });
  });

  it('stays not Ready while its readiness probe keeps failing', async () => {
    const { manager } = newManager();
    const pod = makePod('sad', [
      {
        name: 'web',
        image: 'unused',
        command: [NODE, '-e', SERVER],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        readinessProbe: probe({ httpGet: { path: '/fail', port: 8080 } }),
      },
    ]);
    await manager.sync([pod]);
    await until(manager, clock, 0, () => expect(log.last('sad')?.ports?.http).toBeGreaterThan(0));
    const port = log.last('sad')!.ports!.http;
    // Let many probe periods pass, until the server has answered several probes.
    await until(manager, clock, 1000, async () => {
      const hits = Number(await (await fetch(`http://127.0.0.1:${port}/hits`)).text());
      expect(hits).toBeGreaterThan(5);
    });
    await manager.idle();
    const status = log.last('sad')!;
    expect(status.phase).toBe('Running');
    expect(status.ready).toBe(false);
    expect(status.containerStatuses?.[0]).toMatchObject({ ready: false, started: true, restartCount: 0 });
    expect(log.seen.every((s) => !s.status.ready)).toBe(true);
  });

  it('gates readiness on an exec probe run in the container\'s working dir', async () => {
    const { manager } = newManager();
    const check = `process.exit(require('fs').existsSync('ready-flag') ? 0 : 1)`;
    const pod = makePod('execp', [
      {
        name: 'c',
        image: 'unused',
        command: [NODE, '-e', 'setInterval(() => {}, 1000)'],
        readinessProbe: probe({ exec: { command: [NODE, '-e', check] } }),
      },
    ]);
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('execp')?.containerStatuses?.[0].state).toHaveProperty('running'));
    clock.advance(3000);
    await manager.idle();
    expect(log.last('execp')!.ready).toBe(false);
    writeFileSync(join(stateDir, 'pods', 'default', 'execp', 'work', 'ready-flag'), '');
    await until(manager, clock, 1000, () => expect(log.last('execp')?.ready).toBe(true));
  });

  it('restarts a container whose liveness probe fails', async () => {
    const { manager } = newManager();
    const pod = makePod(
      'live',
      [
        {
          name: 'web',
          image: 'unused',
          command: [NODE, '-e', SERVER],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          livenessProbe: probe({ httpGet: { path: '/fail', port: 8080 } }, { failureThreshold: 2 }),
        },
      ],
      { terminationGracePeriodSeconds: 2 },
    );
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('live')?.containerStatuses?.[0].restartCount).toBeGreaterThanOrEqual(1));
  });

  it('runs preStop, then SIGTERM: a process that handles it exits cleanly', async () => {
    const { manager } = newManager();
    const marker = join(markers, 'term-marker');
    const hook = join(markers, 'prestop-marker');
    const pod = makePod('graceful', [
      {
        name: 'web',
        image: 'unused',
        command: [NODE, '-e', SERVER],
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        env: [{ name: 'MARKER', value: marker }],
        lifecycle: { preStop: { exec: { command: [NODE, '-e', `require('fs').writeFileSync(${JSON.stringify(hook)}, 'preStop')`] } } },
        readinessProbe: probe({ tcpSocket: { port: 8080 } }),
      },
    ]);
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('graceful')?.ready).toBe(true));
    const pid = pidOf(log.last('graceful')!.containerStatuses![0]);

    await manager.sync([{ ...pod, metadata: { ...pod.metadata, deletionRequestedAt: new Date().toISOString() } }]);
    await until(manager, undefined, 0, () => expect(log.removed).toEqual(['default/graceful']));
    expect(readFileSync(hook, 'utf8')).toBe('preStop');
    expect(readFileSync(marker, 'utf8')).toBe('SIGTERM');
    expect(alive(pid)).toBe(false);
    const final = log.last('graceful')!;
    expect(final.ready).toBe(false);
    expect(final.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 0, reason: 'Completed' } });
    // It said "not ready" before it stopped, so traffic could drain first.
    expect(log.seen.some((s) => s.status.reason === 'Terminating' && !s.status.ready)).toBe(true);
  });

  it('SIGKILLs a process that ignores SIGTERM once the grace period is over', async () => {
    const { manager } = newManager();
    const marker = join(markers, 'stubborn-marker');
    const pod = makePod('stubborn', [{ name: 'c', image: 'unused', command: [NODE, '-e', STUBBORN], env: [{ name: 'MARKER', value: marker }] }], {
      terminationGracePeriodSeconds: 1,
    });
    await manager.sync([pod]);
    await until(manager, clock, 0, () => expect(log.last('stubborn')?.containerStatuses?.[0].state).toHaveProperty('running'));
    // Wait until it has installed its handler: SIGTERM before that would end it by default.
    await until(manager, clock, 0, () => expect(existsSync(`${marker}.ready`)).toBe(true));
    const pid = pidOf(log.last('stubborn')!.containerStatuses![0]);

    await manager.sync([]);
    await until(manager, undefined, 0, () => expect(log.removed).toEqual(['default/stubborn']));
    expect(readFileSync(marker, 'utf8')).toBe('ignored SIGTERM');
    expect(alive(pid)).toBe(false);
    expect(log.last('stubborn')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 137, reason: 'Error' } });
  });

  it('adopts running processes when a new manager starts on the same state dir, and cleans up stale state', async () => {
    const first = newManager();
    const pod = makePod('keep', [
      {
        name: 'web',
        image: 'unused',
        command: [NODE, '-e', SERVER],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        readinessProbe: probe({ httpGet: { port: 'http' } }),
      },
    ]);
    await first.manager.sync([pod]);
    await until(first.manager, clock, 1000, () => expect(log.last('keep')?.ready).toBe(true));
    const before = log.last('keep')!;
    const pid = pidOf(before.containerStatuses![0]);
    await first.manager.close(); // the agent goes away; its containers stay

    // A stale state file: a process that is long gone.
    const stale = { version: 1, id: 'default_gone_c_0_deadbeef', ref: { namespace: 'default', pod: 'gone', container: 'c' }, labels: { 'capstan.dev/node': 'n1', 'capstan.dev/pod': 'gone', 'capstan.dev/namespace': 'default', 'capstan.dev/container': 'c' }, ports: [], command: ['x'], cwd: stateDir, logPath: join(stateDir, 'x.log'), pid: 2 ** 22 + 12345, procStart: '1' };
    mkdirSync(join(stateDir, 'containers'), { recursive: true });
    writeFileSync(join(stateDir, 'containers', `${stale.id}.json`), JSON.stringify(stale));

    const clock2 = new ManualClock(clock.now());
    const second = newManager({ clock: clock2 });
    const mark = log.seen.length;
    await second.manager.sync([pod]);
    await until(second.manager, clock2, 1000, () => expect(log.last('keep')?.ready).toBe(true));
    const after = log.last('keep')!;
    expect(log.seen.length).toBeGreaterThan(mark);
    expect(after.containerStatuses?.[0]).toMatchObject({ id: before.containerStatuses?.[0].id, restartCount: 0 });
    expect(after.ports).toEqual(before.ports);
    expect(pidOf(after.containerStatuses![0])).toBe(pid);
    expect(alive(pid)).toBe(true);
    expect(existsSync(join(stateDir, 'containers', `${stale.id}.json`))).toBe(false);

    await second.manager.sync([]);
    await until(second.manager, undefined, 0, () => expect(log.removed).toContain('default/keep'));
    expect(alive(pid)).toBe(false);
  });

  it('stops adopted containers that no pod wants any more', async () => {
    const first = newManager();
    const pod = makePod('orphan', [{ name: 'c', image: 'unused', command: [NODE, '-e', SERVER], ports: [{ containerPort: 8080, protocol: 'TCP' }] }]);
    await first.manager.sync([pod]);
    await until(first.manager, clock, 0, () => expect(log.last('orphan')?.containerStatuses?.[0].state).toHaveProperty('running'));
    const pid = pidOf(log.last('orphan')!.containerStatuses![0]);
    await first.manager.close();
    const second = newManager();
    await second.manager.sync([]);
    await until(second.manager, undefined, 0, () => expect(alive(pid)).toBe(false));
    expect(existsSync(join(stateDir, 'containers'))).toBe(true);
  });

  it('after a restart, reports a process that died meanwhile and replaces one from an older spec', async () => {
    const first = newManager();
    const died = makePod('died', [{ name: 'c', image: 'unused', command: [NODE, '-e', SERVER], ports: [{ containerPort: 8080, protocol: 'TCP' }] }], {
      restartPolicy: 'Never',
    });
    const changed = makePod('changed', [{ name: 'c', image: 'unused', command: [NODE, '-e', SERVER], ports: [{ containerPort: 8080, protocol: 'TCP' }] }]);
    await first.manager.sync([died, changed]);
    await until(first.manager, clock, 0, () => {
      expect(log.last('died')?.containerStatuses?.[0].state).toHaveProperty('running');
      expect(log.last('changed')?.containerStatuses?.[0].state).toHaveProperty('running');
    });
    const diedPid = pidOf(log.last('died')!.containerStatuses![0]);
    const oldPid = pidOf(log.last('changed')!.containerStatuses![0]);
    await first.manager.close();
    process.kill(-diedPid, 'SIGKILL');
    await until(first.manager, undefined, 0, () => expect(alive(diedPid)).toBe(false));

    const second = newManager();
    const newSpec = { ...changed, spec: { ...changed.spec, containers: [{ ...changed.spec.containers[0], env: [{ name: 'V', value: '2' }] }] } };
    await second.manager.sync([died, newSpec]);
    await until(second.manager, clock, 0, () => {
      expect(log.last('died')?.phase).toBe('Failed');
      expect(log.last('changed')?.containerStatuses?.[0].state).toHaveProperty('running');
      expect(alive(oldPid)).toBe(false);
    });
    expect(log.last('died')!.containerStatuses?.[0].state).toMatchObject({ terminated: { reason: 'ContainerStatusUnknown' } });
    expect(pidOf(log.last('changed')!.containerStatuses![0])).not.toBe(oldPid);
  });

  describe('containers that cannot be created', () => {
    let blocker: Server;
    let taken: number;
    beforeEach(async () => {
      blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      taken = (blocker.address() as { port: number }).port;
    });
    afterEach(async () => {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    });

    it('reports a host port that is already taken', async () => {
      const { manager } = newManager();
      const pod = makePod('clash', [{ name: 'web', image: 'unused', command: [NODE, '-e', SERVER], ports: [{ containerPort: 8080, hostPort: taken, protocol: 'TCP' }] }]);
      await manager.sync([pod]);
      await until(manager, clock, 0, () =>
        expect(log.last('clash')?.containerStatuses?.[0].state).toEqual({
          waiting: { reason: 'CreateContainerError', message: `host port ${taken} is already in use on 127.0.0.1` },
        }),
      );
      expect(log.last('clash')!.phase).toBe('Pending');
    });

    it('needs a command, and names missing env references', async () => {
      const { manager } = newManager();
      await manager.sync([
        makePod('nocmd', [{ name: 'c', image: 'unused' }]),
        makePod('noref', [{ name: 'c', image: 'unused', command: [NODE], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'pw' } } }] }]),
      ]);
      await until(manager, clock, 0, () => {
        expect(log.last('nocmd')?.containerStatuses?.[0].state).toEqual({ waiting: { reason: 'CreateContainerError', message: 'the process runtime needs a command' } });
        expect(log.last('noref')?.containerStatuses?.[0].state).toEqual({
          waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found (container "c")' },
        });
      });
    });
  });

  it('a pod whose command completes under restartPolicy Never ends Succeeded', async () => {
    const { manager } = newManager();
    await manager.sync([
      makePod('job', [{ name: 'c', image: 'unused', command: [NODE, '-e', 'process.exit(0)'] }], { restartPolicy: 'Never' }),
      makePod('bad', [{ name: 'c', image: 'unused', command: [NODE, '-e', 'process.exit(4)'] }], { restartPolicy: 'Never' }),
      makePod('nobin', [{ name: 'c', image: 'unused', command: [join(stateDir, 'no-such-binary')] }], { restartPolicy: 'Never' }),
    ]);
    await until(manager, clock, 0, () => {
      expect(log.last('job')?.phase).toBe('Succeeded');
      expect(log.last('bad')?.phase).toBe('Failed');
      expect(log.last('nobin')?.phase).toBe('Failed');
    });
    expect(log.last('job')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 0, reason: 'Completed' } });
    expect(log.last('bad')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 4, reason: 'Error' } });
    expect(log.last('nobin')!.containerStatuses?.[0].state).toMatchObject({ terminated: { exitCode: 128, reason: 'StartError' } });
  });
});
