// Init containers with the process runtime: real processes run one at a time, in order, before
// the main containers; a failing one is run again (or fails the pod under restartPolicy Never).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, PodManager, ProcessRuntime } from '../../src/agent/index.js';
import type { ContainerSpec } from '../../src/api/cluster.js';
import { initReason, podStatus } from '../../src/agent/status.js';
import { makePod, StatusLog, until } from './pods.js';

const NODE = process.execPath;

let stateDir: string;
let markers: string;
let clock: ManualClock;
let log: StatusLog;
const managers: PodManager[] = [];

function newManager(): PodManager {
  const manager = new PodManager({
    driver: new ProcessRuntime({ stateDir, node: 'n1' }),
    node: 'n1',
    clock,
    onStatus: log.onStatus,
    onRemoved: log.onRemoved,
    hostIP: '127.0.0.1',
    backoff: { initialMs: 100, maxMs: 200 },
  });
  managers.push(manager);
  return manager;
}

/** Appends `word` to the order file, waits `ms`, then exits with `code`. */
function step(name: string, word: string, ms = 0, code = 0): ContainerSpec {
  const js = `require('fs').appendFileSync(process.env.ORDER, ${JSON.stringify(word + '\n')}); setTimeout(() => process.exit(${code}), ${ms});`;
  return { name, image: 'unused', command: [NODE, '-e', js], env: [{ name: 'ORDER', value: join(markers, 'order') }] };
}

const order = (): string[] => (existsSync(join(markers, 'order')) ? readFileSync(join(markers, 'order'), 'utf8').trim().split('\n') : []);

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'capstan-init-'));
  markers = mkdtempSync(join(tmpdir(), 'capstan-init-markers-'));
  chmodSync(markers, 0o777);
  clock = new ManualClock();
  log = new StatusLog();
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close({ stopContainers: true });
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(markers, { recursive: true, force: true });
});

describe('init containers (process runtime)', () => {
  it('run in order, each to completion, before the main container; status goes Init:0/2 → Init:1/2 → Running', async () => {
    const manager = newManager();
    const main = { ...step('app', 'app'), command: [NODE, '-e', `require('fs').appendFileSync(process.env.ORDER, 'app\\n'); setInterval(() => {}, 1000);`] };
    const pod = makePod('web', [main], { initContainers: [step('first', 'first', 300), step('second', 'second', 300)] });
    await manager.sync([pod]);
    await until(manager, clock, 100, () => expect(log.last('web')?.phase).toBe('Running'));
    await until(manager, clock, 100, () => expect(order()).toEqual(['first', 'second', 'app']));
    const reasons = log.seen.filter((s) => s.key === 'default/web').map((s) => s.status.reason ?? s.status.phase);
    expect(reasons).toContain('Init:0/2');
    expect(reasons).toContain('Init:1/2');
    expect(reasons.indexOf('Init:0/2')).toBeLessThan(reasons.indexOf('Init:1/2'));
    const status = log.last('web')!;
    expect(status.ready).toBe(true);
    expect(status.reason).toBeUndefined();
    // READY counts the main container only; the init containers report apart.
    expect(status.containerStatuses!.map((c) => c.name)).toEqual(['app']);
    expect(status.initContainerStatuses!.map((c) => [c.name, 'terminated' in c.state ? c.state.terminated.reason : 'not terminated'])).toEqual([
      ['first', 'Completed'],
      ['second', 'Completed'],
    ]);
    // While initialising, the main container waited for them.
    const early = log.seen.find((s) => s.status.reason === 'Init:0/2')!.status;
    expect(early.phase).toBe('Pending');
    expect(early.ready).toBe(false);
    expect(early.containerStatuses![0].state).toEqual({ waiting: { reason: 'PodInitializing' } });
  });

  it('a failing init container is run again with back-off; the main container waits, then runs once it succeeds', async () => {
    const manager = newManager();
    // Fails the first two times (counted in a file), then succeeds.
    const flaky: ContainerSpec = {
      name: 'flaky',
      image: 'unused',
      command: [NODE, '-e', `const fs = require('fs'); const f = process.env.ORDER; fs.appendFileSync(f, 'try\\n'); const n = fs.readFileSync(f, 'utf8').split('try').length - 1; process.exit(n < 3 ? 1 : 0);`],
      env: [{ name: 'ORDER', value: join(markers, 'order') }],
    };
    const pod = makePod('web', [step('app', 'app', 60_000)], { initContainers: [flaky] });
    await manager.sync([pod]);
    // The first failure restarts at once; the clock stands still, so the second failure's
    // back-off never runs out: the pod rests in it, Pending, and the last report says why.
    await until(manager, undefined, 0, () => {
      expect(order()).toEqual(['try', 'try']);
      expect(['Init:CrashLoopBackOff', 'Init:Error']).toContain(log.last('web')?.reason);
    });
    expect(log.last('web')!.phase).toBe('Pending');
    expect(log.last('web')!.containerStatuses![0].state).toEqual({ waiting: { reason: 'PodInitializing' } });
    await until(manager, clock, 100, () => expect(order()).toEqual(['try', 'try', 'try', 'app']));
    const init = log.last('web')!.initContainerStatuses![0];
    expect(init.restartCount).toBe(2);
    expect(log.seen.filter((s) => s.status.reason?.startsWith('Init:')).every((s) => s.status.phase === 'Pending')).toBe(true);
  });

  it('under restartPolicy Never a failing init container fails the pod, and the main container never runs', async () => {
    const manager = newManager();
    const pod = makePod('job', [step('app', 'app')], { restartPolicy: 'Never', initContainers: [step('first', 'first', 0, 3), step('second', 'second')] });
    await manager.sync([pod]);
    await until(manager, clock, 100, () => expect(log.last('job')?.phase).toBe('Failed'));
    await manager.idle();
    expect(order()).toEqual(['first']);
    expect(log.last('job')!.reason).toBe('Init:Error');
    expect(log.last('job')!.initContainerStatuses![0].state).toMatchObject({ terminated: { exitCode: 3 } });
  });

  it('a sidecar (restartPolicy Always) starts in order and keeps running beside the main container', async () => {
    const manager = newManager();
    const sidecar: ContainerSpec = {
      ...step('proxy', 'proxy'),
      restartPolicy: 'Always',
      command: [NODE, '-e', `require('fs').appendFileSync(process.env.ORDER, 'proxy\\n'); setInterval(() => {}, 1000);`],
    };
    const main = { ...step('app', 'app'), command: [NODE, '-e', `require('fs').appendFileSync(process.env.ORDER, 'app\\n'); setInterval(() => {}, 1000);`] };
    const pod = makePod('web', [main], { initContainers: [step('migrate', 'migrate'), sidecar] });
    await manager.sync([pod]);
    await until(manager, clock, 100, () => expect(log.last('web')?.ready).toBe(true));
    // migrate ran to completion before either started; which of proxy and app writes first is
    // up to the processes, so the order they were started in is read from their statuses.
    await until(manager, clock, 100, () => expect([...order()].sort()).toEqual(['app', 'migrate', 'proxy']));
    expect(order()[0]).toBe('migrate');
    const statuses = log.last('web')!.initContainerStatuses!;
    expect(statuses[1]).toMatchObject({ name: 'proxy', state: { running: {} } });
    const started = (c: { state: unknown }) => Date.parse((c.state as { running: { startedAt: string } }).running.startedAt);
    expect(started(statuses[1]!)).toBeLessThanOrEqual(started(log.last('web')!.containerStatuses![0]!));
    expect(log.last('web')!.containerStatuses).toHaveLength(1);
  });

  it('an agent restart does not run the init containers of an initialised pod again', async () => {
    const first = newManager();
    const main = { ...step('app', 'app'), command: [NODE, '-e', `require('fs').appendFileSync(process.env.ORDER, 'app\\n'); setInterval(() => {}, 1000);`] };
    const pod = makePod('web', [main], { initContainers: [step('first', 'first')] });
    await first.sync([pod]);
    await until(first, clock, 100, () => expect(log.last('web')?.ready).toBe(true));
    await until(first, clock, 100, () => expect(order()).toEqual(['first', 'app']));
    // The agent goes away, leaving the containers for the next one.
    managers.splice(managers.indexOf(first), 1);
    await first.close({ stopContainers: false });
    log = new StatusLog();
    const second = newManager();
    await second.sync([pod]);
    await until(second, clock, 100, () => expect(log.last('web')?.ready).toBe(true));
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await second.idle();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(order()).toEqual(['first', 'app']);
    expect(log.seen.some((s) => s.status.reason?.startsWith('Init:'))).toBe(false);
  });
});

describe('init status (pure)', () => {
  const view = (name: string, extra: Partial<Parameters<typeof initReason>[0][number]> = {}) => ({ name, finished: false, restartCount: 0, started: false, ready: false, ...extra });
  it('names the first init container not done', () => {
    expect(initReason([view('a'), view('b')])).toBe('Init:0/2');
    expect(initReason([view('a', { completed: true, finished: true }), view('b', { running: { startedAt: 0 } })])).toBe('Init:1/2');
    expect(initReason([view('a', { sidecar: true, running: { startedAt: 0 }, started: true }), view('b', { waiting: { reason: 'ImagePullBackOff' } })])).toBe('Init:ImagePullBackOff');
    expect(initReason([view('a', { finished: true, lastTermination: { exitCode: 1, reason: 'Error', finishedAt: 0 } })])).toBe('Init:Error');
  });
  it('a pod with a sidecar that is not ready is not ready', () => {
    const main = view('app', { running: { startedAt: 0 }, started: true, ready: true });
    const sidecar = view('proxy', { sidecar: true, running: { startedAt: 0 }, started: true, ready: false });
    const status = podStatus({ policy: 'Always', views: [main], initViews: [sidecar], initialized: true, now: 0, ports: {} });
    expect(status.phase).toBe('Running');
    expect(status.ready).toBe(false);
    expect(podStatus({ policy: 'Always', views: [main], initViews: [{ ...sidecar, ready: true }], initialized: true, now: 0, ports: {} }).ready).toBe(true);
  });
});
