// securityContext → Docker settings and imagePullSecrets → registry credentials, as pure
// functions; then, with a real daemon, what a container runs as and may do.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerCapability, dockerSecurity, dockerUser, effectiveSecurity, nonRootProblem } from '../../src/agent/docker-security.js';
import { DOCKER_HUB_KEY, authsOf, keyHost, pickRegistryAuth, registryHost } from '../../src/agent/registry-auth.js';
import { DockerRuntime, ManualClock, PodManager } from '../../src/agent/index.js';
import type { ContainerSpec, Pod } from '../../src/api/cluster.js';
import { dockerSkipReason, ensureTestImage, testDocker, TEST_IMAGE } from '../helpers/docker.js';
import { makePod, StatusLog, until } from './pods.js';

describe('securityContext → Docker (pure)', () => {
  it('lays the container over the pod and maps every field', () => {
    const s = dockerSecurity({
      pod: { runAsUser: 1000, runAsGroup: 2000, fsGroup: 3000, supplementalGroups: [4000, 3000] },
      container: { runAsUser: 1234, readOnlyRootFilesystem: true, capabilities: { add: ['net_bind_service', 'CAP_CHOWN'], drop: ['ALL'] } },
      containerName: 'app',
      imageUser: '',
      allowPrivileged: false,
    });
    expect(s).toEqual({
      user: '1234:2000',
      hostConfig: {
        ReadonlyRootfs: true,
        CapAdd: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
        CapDrop: ['ALL'],
        GroupAdd: ['4000', '3000'],
        SecurityOpt: ['no-new-privileges'],
      },
      notEnforced: [],
    });
  });

  it('keeps no-new-privileges unless escalation is allowed or the container is privileged (on a node that allows it)', () => {
    const base = { containerName: 'c', imageUser: '', allowPrivileged: true };
    expect(dockerSecurity({ ...base, container: { allowPrivilegeEscalation: true } })).toMatchObject({ hostConfig: { SecurityOpt: [] } });
    expect(dockerSecurity({ ...base, container: { privileged: true } })).toMatchObject({ hostConfig: { Privileged: true, SecurityOpt: [] } });
    expect(dockerSecurity({ ...base, container: { seccompProfile: { type: 'Unconfined' } }, pod: { appArmorProfile: { type: 'Localhost', localhostProfile: 'x' } } })).toMatchObject({
      hostConfig: { SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'] },
      notEnforced: ['appArmorProfile'],
    });
  });

  it('refuses privileged on a node that does not allow it, and runAsNonRoot with a root image', () => {
    expect(dockerSecurity({ container: { privileged: true }, containerName: 'c', imageUser: '', allowPrivileged: false })).toEqual({
      refusal: expect.stringContaining('--allow-privileged'),
    });
    expect(dockerSecurity({ pod: { runAsNonRoot: true }, containerName: 'c', imageUser: 'root', allowPrivileged: false })).toEqual({
      refusal: expect.stringContaining('will run as root'),
    });
    expect(dockerSecurity({ pod: { runAsNonRoot: true, runAsUser: 10 }, containerName: 'c', imageUser: '', allowPrivileged: false })).toMatchObject({ user: '10' });
    expect(nonRootProblem(undefined, '1000:1000')).toBeUndefined();
    expect(nonRootProblem(undefined, '0')).toContain('root');
    expect(nonRootProblem(undefined, 'app')).toContain('non-numeric user (app)');
    expect(nonRootProblem(0, '1000')).toContain('runAsUser is 0');
  });

  it('small pieces: capability names, users, effective fields', () => {
    expect(dockerCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(dockerCapability('CAP_SYS_TIME')).toBe('CAP_SYS_TIME');
    expect(dockerCapability('all')).toBe('ALL');
    expect(dockerUser(undefined, undefined, 'app')).toBeUndefined();
    expect(dockerUser(undefined, 50, 'app:staff')).toBe('app:50');
    expect(dockerUser(undefined, 50, '')).toBe('0:50');
    expect(effectiveSecurity({ runAsNonRoot: true, runAsUser: 5 }, { runAsNonRoot: false })).toMatchObject({ runAsNonRoot: false, runAsUser: 5 });
  });
});

describe('imagePullSecrets → registry credentials (pure)', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cfg = (auths: Record<string, unknown>) => ({ '.dockerconfigjson': JSON.stringify({ auths }) });

  it('finds the registry host of an image as Docker does', () => {
    expect(registryHost('busybox')).toBe('docker.io');
    expect(registryHost('library/busybox:1')).toBe('docker.io');
    expect(registryHost('docker.io/library/busybox')).toBe('docker.io');
    expect(registryHost('ghcr.io/org/app:1')).toBe('ghcr.io');
    expect(registryHost('localhost:5000/app')).toBe('localhost:5000');
    expect(registryHost('registry.example.com:5000/team/app@sha256:abc')).toBe('registry.example.com:5000');
    expect(keyHost('https://index.docker.io/v1/')).toBe('docker.io');
    expect(keyHost('https://Registry.Example.com:5000/v2/')).toBe('registry.example.com:5000');
  });

  it('picks the entry for the image registry, decoding auth, first Secret first', () => {
    const hub = cfg({ [DOCKER_HUB_KEY]: { auth: b64('hubuser:hub:pass') } });
    const ghcr = cfg({ 'ghcr.io': { username: 'gh', password: 'token' } });
    const other = cfg({ 'ghcr.io': { username: 'second', password: 'x' } });
    expect(pickRegistryAuth('busybox:1', [ghcr, hub])).toEqual({ username: 'hubuser', password: 'hub:pass', serveraddress: DOCKER_HUB_KEY });
    expect(pickRegistryAuth('ghcr.io/org/app', [ghcr, other])).toEqual({ username: 'gh', password: 'token', serveraddress: 'ghcr.io' });
    expect(pickRegistryAuth('quay.io/org/app', [ghcr, hub])).toBeUndefined();
    // kubernetes.io/dockercfg: the auths map itself.
    expect(pickRegistryAuth('r.example.com/app', [{ '.dockercfg': JSON.stringify({ 'https://r.example.com': { auth: b64('a:b') } }) }])).toEqual({
      username: 'a',
      password: 'b',
      serveraddress: 'r.example.com',
    });
  });

  it('ignores data that is not a pull Secret or does not parse', () => {
    expect(authsOf({ password: 'x' })).toBeUndefined();
    expect(authsOf({ '.dockerconfigjson': '{not json' })).toBeUndefined();
    expect(pickRegistryAuth('busybox', [{ '.dockerconfigjson': '{not json' }])).toBeUndefined();
  });
});

describe('pull Secrets reach the daemon as authconfig', () => {
  it('passes the picked credentials to dockerode pull, and none when no Secret matches', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const { PassThrough } = await import('node:stream');
    const fake = {
      pull: async (_image: string, opts: Record<string, unknown>) => {
        calls.push(opts);
        const s = new PassThrough();
        setImmediate(() => s.end('{"status":"done"}\n'));
        return s;
      },
    };
    const runtime = new DockerRuntime({ node: 'n', docker: fake as never });
    const secrets = [{ '.dockerconfigjson': JSON.stringify({ auths: { 'registry.example.com': { username: 'u', password: 'p' } } }) }];
    await runtime.ensureImage({ name: 'c', image: 'registry.example.com/app:1', imagePullPolicy: 'Always' }, undefined, { secrets });
    await runtime.ensureImage({ name: 'c', image: 'other.example.com/app:1', imagePullPolicy: 'Always' }, undefined, { secrets });
    expect(calls[0].authconfig).toEqual({ username: 'u', password: 'p', serveraddress: 'registry.example.com' });
    expect(calls[1].authconfig).toBeUndefined();
  });
});

describe.skipIf(dockerSkipReason !== undefined)('securityContext with Docker', () => {
  const docker = testDocker();
  const node = `sec-${process.pid}`;
  const clock = new ManualClock();
  let log: StatusLog;
  const managers: PodManager[] = [];

  beforeAll(async () => {
    await ensureTestImage(docker);
  }, 60_000);

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close({ stopContainers: true });
  });

  function manager(allowPrivileged = false): PodManager {
    log = new StatusLog();
    const m = new PodManager({ driver: new DockerRuntime({ node, docker }), node, clock, onStatus: log.onStatus, onRemoved: log.onRemoved, orphanGraceMs: 1000, allowPrivileged });
    managers.push(m);
    return m;
  }

  /** A container that exits 0 when `script` holds; the pod runs once. */
  const check = (name: string, script: string, extra: Partial<ContainerSpec> = {}): Pod =>
    makePod(name, [{ name: 'c', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', script], ...extra }], { restartPolicy: 'Never' });
  // `Field: value` of /proc/self/status, with the shell only (the image has no grep or id).
  const field = (f: string) => `while read k v rest; do [ "$k" = "${f}:" ] && echo "$v"; done < /proc/self/status`;

  it('runAsUser 1234 runs as uid 1234; readOnlyRootFilesystem refuses writes; dropped capabilities are gone', async () => {
    const m = manager();
    const pods = [
      check('uid', `[ "$(${field('Uid')})" = 1234 ] && [ "$(${field('Gid')})" = 99 ]`, { securityContext: { runAsUser: 1234, runAsGroup: 99 } }),
      check('ro', 'touch /written && exit 1; exit 0', { securityContext: { readOnlyRootFilesystem: true } }),
      check('rw', 'touch /written'),
      check('caps', `[ "$(${field('CapEff')})" = 0000000000000000 ]`, { securityContext: { capabilities: { drop: ['ALL'] } } }),
    ];
    await m.sync(pods);
    await until(m, clock, 500, () => {
      for (const p of pods) expect([p.metadata.name, log.last(p.metadata.name)?.phase]).toEqual([p.metadata.name, 'Succeeded']);
    }, 30_000);
  }, 40_000);

  it('refuses a privileged container with CreateContainerConfigError unless the node allows it', async () => {
    const m = manager(false);
    const pod = check('priv', `[ "$(${field('CapEff')})" != 0000000000000000 ]`, { securityContext: { privileged: true } });
    await m.sync([pod]);
    await until(m, clock, 500, () =>
      expect(log.last('priv')?.containerStatuses?.[0].state).toEqual({ waiting: { reason: 'CreateContainerConfigError', message: expect.stringContaining('--allow-privileged') } }),
    );
    expect(log.last('priv')!.phase).toBe('Pending');
    await m.close({ stopContainers: true });
    managers.splice(0);
    const allowed = manager(true);
    await allowed.sync([pod]);
    // Created privileged (whether it can start depends on the daemon's own capabilities).
    await until(allowed, clock, 500, () => expect(log.last('priv')?.containerStatuses?.[0].id).toBeDefined(), 30_000);
    const info = await docker.getContainer(log.last('priv')!.containerStatuses![0].id!).inspect();
    expect(info.HostConfig.Privileged).toBe(true);
    expect(info.HostConfig.SecurityOpt ?? []).not.toContain('no-new-privileges');
  }, 40_000);

  it('runAsNonRoot with an image that runs as root is refused with CreateContainerConfigError', async () => {
    const m = manager();
    const pod = check('nonroot', 'true', { securityContext: { runAsNonRoot: true } });
    await m.sync([pod]);
    await until(m, clock, 500, () =>
      expect(log.last('nonroot')?.containerStatuses?.[0].state).toEqual({ waiting: { reason: 'CreateContainerConfigError', message: expect.stringContaining('will run as root') } }),
    );
  }, 30_000);
});
