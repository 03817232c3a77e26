// securityContext with the process runtime: runAsUser / runAsGroup honoured when Capstan is
// root, root and privileged refused unless the node allows them.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, PodManager, ProcessRuntime } from '../../src/agent/index.js';
import { containerUser } from '../../src/agent/pod-user.js';
import type { ContainerSpec } from '../../src/api/cluster.js';
import { makePod, StatusLog, until } from './pods.js';

const NODE = process.execPath;
const nobody = { name: 'nobody', uid: 65534, gid: 65534 };

describe('containerUser (pure)', () => {
  it('replaces the pod user ids when Capstan can switch users', () => {
    expect(containerUser(nobody, 0, { runAsUser: 1234 }, false)).toEqual({ user: { name: 'uid 1234', uid: 1234, gid: 65534 } });
    expect(containerUser(nobody, 0, { runAsUser: 1234, runAsGroup: 99 }, false)).toEqual({ user: { name: 'uid 1234', uid: 1234, gid: 99 } });
    expect(containerUser(nobody, 0, {}, false)).toEqual({ user: nobody });
  });
  it('ignores them (for a warning) when Capstan is not root', () => {
    expect(containerUser(undefined, 1000, { runAsUser: 1234 }, false)).toEqual({ user: undefined, ignored: true });
  });
  it('refuses uid or gid 0 unless privileged is allowed, and runAsNonRoot when the process would be root', () => {
    expect(containerUser(nobody, 0, { runAsUser: 0 }, false)).toEqual({ refusal: expect.stringContaining('--allow-privileged') });
    expect(containerUser(nobody, 0, { runAsGroup: 0 }, false)).toEqual({ refusal: expect.stringContaining('root on the host') });
    expect(containerUser(nobody, 0, { runAsUser: 0 }, true)).toEqual({ user: { name: 'uid 0', uid: 0, gid: 65534 } });
    expect(containerUser(undefined, 0, { runAsNonRoot: true }, false)).toEqual({ refusal: expect.stringContaining('runAsNonRoot') });
    expect(containerUser(nobody, 0, { runAsNonRoot: true }, false)).toEqual({ user: nobody });
  });
});

describe('process runtime securityContext', () => {
  let stateDir: string;
  let markers: string;
  let clock: ManualClock;
  let log: StatusLog;
  const managers: PodManager[] = [];

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'capstan-psec-'));
    markers = mkdtempSync(join(tmpdir(), 'capstan-psec-markers-'));
    chmodSync(markers, 0o777);
    clock = new ManualClock();
    log = new StatusLog();
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close({ stopContainers: true });
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(markers, { recursive: true, force: true });
  });

  function manager(): PodManager {
    const m = new PodManager({ driver: new ProcessRuntime({ stateDir, node: 'n1' }), node: 'n1', clock, onStatus: log.onStatus, onRemoved: log.onRemoved });
    managers.push(m);
    return m;
  }
  const writer = (extra: Partial<ContainerSpec>): ContainerSpec => ({
    name: 'c',
    image: 'unused',
    command: [NODE, '-e', `require('fs').writeFileSync(process.env.OUT, process.getuid() + ':' + process.getgid())`],
    env: [{ name: 'OUT', value: join(markers, 'ids') }],
    ...extra,
  });

  it.skipIf(process.getuid?.() !== 0)('runs the process as runAsUser:runAsGroup when Capstan is root', async () => {
    const m = manager();
    await m.sync([makePod('ids', [writer({ securityContext: { runAsUser: 1234 } })], { restartPolicy: 'Never', securityContext: { runAsGroup: 4321 } })]);
    await until(m, clock, 200, () => expect(log.last('ids')?.phase).toBe('Succeeded'));
    expect(readFileSync(join(markers, 'ids'), 'utf8')).toBe('1234:4321');
  });

  it('refuses privileged and, as root, runAsUser 0 with CreateContainerConfigError', async () => {
    const m = manager();
    const pods = [
      makePod('priv', [writer({ securityContext: { privileged: true } })], { restartPolicy: 'Never' }),
      ...(process.getuid?.() === 0 ? [makePod('root', [writer({ securityContext: { runAsUser: 0 } })], { restartPolicy: 'Never' })] : []),
    ];
    await m.sync(pods);
    await until(m, clock, 200, () => {
      for (const p of pods) expect(log.last(p.metadata.name)?.containerStatuses?.[0].state).toMatchObject({ waiting: { reason: 'CreateContainerConfigError' } });
    });
    expect(log.last('priv')!.containerStatuses![0].state).toMatchObject({ waiting: { message: expect.stringContaining('--allow-privileged') } });
    expect(existsSync(join(markers, 'ids'))).toBe(false);
  });
});
