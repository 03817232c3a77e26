// Pod volumes through the runtimes: a process finds its volumes by CAPSTAN_VOLUME_<NAME> and
// sees a configMap change; Docker containers get bind mounts (configMap read-only, a shared
// emptyDir between two containers).

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DockerRuntime, ManualClock, PodManager, ProcessRuntime } from '../../src/agent/index.js';
import { podVolumesDir } from '../../src/agent/volumes.js';
import { createLogger } from '../../src/common/index.js';
import { dockerSkipReason, ensureTestImage, removeTestContainers, testDocker, TEST_IMAGE } from '../helpers/docker.js';
import { makePod, StatusLog, until } from './pods.js';

const dirs: string[] = [];
const managers: PodManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.close({ stopContainers: true });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'capstan-volrt-'));
  dirs.push(d);
  return d;
}

describe('volumes in the process runtime', () => {
  it('gives the process CAPSTAN_VOLUME_<NAME> paths and updates a configMap volume while it runs', async () => {
    const stateDir = tmp();
    const clock = new ManualClock();
    const log = new StatusLog();
    const config: Record<string, string> = { key: 'first' };
    const manager = new PodManager({
      driver: new ProcessRuntime({ stateDir, node: 'n1', clock }),
      node: 'n1',
      clock,
      dataDir: stateDir,
      volumeSyncMs: 500,
      onStatus: log.onStatus,
      onRemoved: log.onRemoved,
      envLookup: (_ns, ref) => (ref.kind === 'ConfigMap' && ref.name === 'app' ? { ...config } : undefined),
    });
    managers.push(manager);
    const pod = makePod(
      'reader',
      [
        {
          name: 'main',
          image: 'unused',
          command: ['/bin/sh', '-c', 'while true; do cat "$CAPSTAN_VOLUME_CONFIG/key" > "$CAPSTAN_VOLUME_SCRATCH/seen.tmp" && mv "$CAPSTAN_VOLUME_SCRATCH/seen.tmp" "$CAPSTAN_VOLUME_SCRATCH/seen"; sleep 0.05; done'],
          volumeMounts: [
            { name: 'config', mountPath: '/etc/app', readOnly: true },
            { name: 'scratch', mountPath: '/scratch' },
          ],
        },
      ],
      { volumes: [{ name: 'config', configMap: { name: 'app' } }, { name: 'scratch', emptyDir: {} }], terminationGracePeriodSeconds: 1 },
    );
    await manager.sync([pod]);
    const seen = join(podVolumesDir(stateDir, 'default', 'reader'), 'scratch', 'seen');
    await until(manager, clock, 100, () => expect(readFileSync(seen, 'utf8')).toBe('first'));
    config.key = 'second';
    const keyFile = join(podVolumesDir(stateDir, 'default', 'reader'), 'config', 'key');
    await until(manager, clock, 600, () => expect(readFileSync(keyFile, 'utf8')).toBe('second'));
    await until(manager, clock, 600, () => expect(readFileSync(seen, 'utf8')).toBe('second'));
    expect(log.last('reader')?.phase).toBe('Running');

    await manager.sync([]);
    await until(manager, clock, 1000, () => expect(log.removed).toContain('default/reader'));
    expect(existsSync(podVolumesDir(stateDir, 'default', 'reader'))).toBe(false);
  });

  it('keeps following a configMap after the agent restarts and adopts the running process', async () => {
    const stateDir = tmp();
    const clock = new ManualClock();
    const log = new StatusLog();
    const config: Record<string, string> = { key: 'first' };
    const newManager = (): PodManager => {
      const manager = new PodManager({
        // A real clock for the runtime: stopping an adopted process polls on it.
        driver: new ProcessRuntime({ stateDir, node: 'n1' }),
        node: 'n1',
        clock,
        dataDir: stateDir,
        volumeSyncMs: 500,
        onStatus: log.onStatus,
        envLookup: (_ns, ref) => (ref.kind === 'ConfigMap' && ref.name === 'app' ? { ...config } : undefined),
      });
      managers.push(manager);
      return manager;
    };
    const pod = makePod('kept', [{ name: 'main', image: 'unused', command: ['/bin/sleep', '30'], volumeMounts: [{ name: 'config', mountPath: '/etc/app' }] }], {
      volumes: [{ name: 'config', configMap: { name: 'app' } }],
      terminationGracePeriodSeconds: 1,
    });
    const first = newManager();
    await first.sync([pod]);
    const keyFile = join(podVolumesDir(stateDir, 'default', 'kept'), 'config', 'key');
    await until(first, clock, 100, () => expect(log.last('kept')?.phase).toBe('Running'));
    expect(readFileSync(keyFile, 'utf8')).toBe('first');
    await first.close();
    config.key = 'second';
    const second = newManager();
    await second.sync([pod]);
    await until(second, clock, 100, () => expect(readFileSync(keyFile, 'utf8')).toBe('second'));
  });

  it('writes secret files without logging their contents', async () => {
    const stateDir = tmp();
    const clock = new ManualClock();
    const log = new StatusLog();
    let text = '';
    const destination = { write: (line: string) => void (text += line) };
    let secret: Record<string, string> = { password: 'hunter2-value' };
    const manager = new PodManager({
      driver: new ProcessRuntime({ stateDir, node: 'n1', clock }),
      node: 'n1',
      clock,
      dataDir: stateDir,
      volumeSyncMs: 500,
      logger: createLogger({ level: 'debug', destination }),
      onStatus: log.onStatus,
      onRemoved: log.onRemoved,
      envLookup: (_ns, ref) => (ref.kind === 'Secret' && ref.name === 'db' ? { ...secret } : undefined),
    });
    managers.push(manager);
    const pod = makePod('s', [{ name: 'main', image: 'unused', command: ['/bin/sleep', '30'], volumeMounts: [{ name: 'creds', mountPath: '/creds' }] }], {
      volumes: [{ name: 'creds', secret: { secretName: 'db', items: [{ key: 'password', path: 'password' }] } }],
      terminationGracePeriodSeconds: 1,
    });
    await manager.sync([pod]);
    const file = join(podVolumesDir(stateDir, 'default', 's'), 'creds', 'password');
    await until(manager, clock, 100, () => expect(readFileSync(file, 'utf8')).toBe('hunter2-value'));
    expect(statSync(file).mode & 0o777).toBe(0o644);
    secret = { password: 'second-hunter2' };
    await until(manager, clock, 600, () => expect(readFileSync(file, 'utf8')).toBe('second-hunter2'));
    secret = {};
    await until(manager, clock, 600, () => expect(text).toContain('could not update the volume files'));
    expect(readFileSync(file, 'utf8')).toBe('second-hunter2');
    await manager.sync([]);
    await until(manager, clock, 1000, () => expect(log.removed).toContain('default/s'));
    expect(text).toContain('volume files updated');
    expect(text).not.toContain('hunter2');
  });

  it('waits with CreateContainerConfigError while a configMap volume has no ConfigMap', async () => {
    const stateDir = tmp();
    const clock = new ManualClock();
    const log = new StatusLog();
    const manager = new PodManager({ driver: new ProcessRuntime({ stateDir, node: 'n1', clock }), node: 'n1', clock, dataDir: stateDir, onStatus: log.onStatus });
    managers.push(manager);
    const pod = makePod('lost', [{ name: 'main', image: 'unused', command: ['/bin/sleep', '30'], volumeMounts: [{ name: 'c', mountPath: '/c' }] }], {
      volumes: [{ name: 'c', configMap: { name: 'missing' } }],
    });
    await manager.sync([pod]);
    await until(manager, clock, 100, () => {
      const state = log.last('lost')?.containerStatuses?.[0]?.state;
      const waiting = state !== undefined && 'waiting' in state ? state.waiting : undefined;
      expect(waiting?.reason).toBe('CreateContainerConfigError');
      expect(waiting?.message).toMatch(/configmap "missing" not found/);
    });
  });
});

describe('volume mounts in a Docker create call', () => {
  it('binds each mount with its read-only flag', async () => {
    let created: { HostConfig?: { Mounts?: unknown[] } } | undefined;
    const docker = { createContainer: async (opts: typeof created) => ((created = opts), { id: 'c1' }) };
    const runtime = new DockerRuntime({ node: 'n1', docker: docker as never });
    await runtime.create({
      ref: { namespace: 'default', pod: 'p', container: 'c' },
      container: { name: 'c', image: TEST_IMAGE },
      env: {},
      restartCount: 0,
      mounts: [
        { volume: 'cfg', source: '/data/pods/default/p/volumes/cfg', target: '/etc/app', readOnly: true },
        { volume: 'scratch', source: '/data/pods/default/p/volumes/scratch/sub', target: '/s', readOnly: false, subPath: 'sub' },
      ],
    });
    expect(created?.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/data/pods/default/p/volumes/cfg', Target: '/etc/app', ReadOnly: true },
      { Type: 'bind', Source: '/data/pods/default/p/volumes/scratch/sub', Target: '/s', ReadOnly: false },
    ]);
  });
});

describe.skipIf(dockerSkipReason !== undefined)('volumes in the docker runtime', () => {
  const docker = testDocker();
  const node = `test-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    await ensureTestImage(docker);
  });
  afterEach(async () => {
    await removeTestContainers(node, docker);
  });

  it('binds a read-only configMap file and an emptyDir shared by two containers', async () => {
    const dataDir = tmp();
    const clock = new ManualClock();
    const log = new StatusLog();
    const manager = new PodManager({
      driver: new DockerRuntime({ node, docker }),
      node,
      clock,
      dataDir,
      onStatus: log.onStatus,
      onRemoved: log.onRemoved,
      orphanGraceMs: 1000,
      envLookup: (_ns, ref) => (ref.kind === 'ConfigMap' && ref.name === 'app' ? { 'app.conf': 'from-configmap' } : undefined),
    });
    managers.push(manager);
    const mounts = (extra: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }> = []) => [{ name: 'shared', mountPath: '/shared' }, ...extra];
    const pod = makePod(
      'pair',
      [
        {
          name: 'writer',
          image: TEST_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', 'cat /etc/app/app.conf > /shared/out; cat /single.conf > /shared/single; touch /etc/app/x 2>/dev/null || echo ro > /shared/ro; sleep 30'],
          volumeMounts: mounts([
            { name: 'config', mountPath: '/etc/app', readOnly: true },
            { name: 'config', mountPath: '/single.conf', subPath: 'app.conf' },
          ]),
        },
        {
          name: 'copier',
          image: TEST_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', 'while [ ! -f /shared/out ]; do sleep 0.1; done; cat /shared/out > /shared/copy; sleep 30'],
          volumeMounts: mounts(),
        },
      ],
      { volumes: [{ name: 'config', configMap: { name: 'app' } }, { name: 'shared', emptyDir: {} }], terminationGracePeriodSeconds: 1 },
    );
    await manager.sync([pod]);
    const shared = join(podVolumesDir(dataDir, 'default', 'pair'), 'shared');
    await until(
      manager,
      clock,
      200,
      () => {
        expect(readFileSync(join(shared, 'copy'), 'utf8')).toBe('from-configmap');
        expect(readFileSync(join(shared, 'single'), 'utf8')).toBe('from-configmap');
        expect(readFileSync(join(shared, 'ro'), 'utf8')).toBe('ro\n');
      },
      20_000,
    );
    await manager.sync([]);
    await until(manager, clock, 1000, () => expect(log.removed).toContain('default/pair'), 20_000);
    expect(existsSync(shared)).toBe(false);
  }, 40_000);
});
