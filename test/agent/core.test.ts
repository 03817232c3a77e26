import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  ManualClock,
  backoffNext,
  crashBackoffUntil,
  crashLoopMessage,
  expandVars,
  initialProbeState,
  podPhase,
  podStatus,
  probeSettings,
  probeVerdict,
  dueProbes,
  pullBackoffUntil,
  recordProbeResult,
  resolveEnv,
  resolveHostPort,
  shouldRestart,
  terminationReason,
  type BackoffEntry,
  type ContainerView,
} from '../../src/agent/index.js';
import { isCapstanError } from '../../src/common/index.js';

describe('restart back-off (kubelet semantics)', () => {
  it('restarts the first crash at once, then waits 10 s, 20 s, 40 s … up to 300 s', () => {
    let entry: BackoffEntry | undefined;
    let now = 0;
    const waits: number[] = [];
    for (let crash = 0; crash < 8; crash++) {
      const finishedAt = now;
      const until = crashBackoffUntil(entry, finishedAt, now);
      const startAt = until ?? now;
      waits.push(startAt - finishedAt);
      entry = backoffNext(entry, startAt);
      now = startAt + 1; // crashes right away
    }
    expect(waits).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  });

  it('starts over after ten minutes of clean running', () => {
    let entry = backoffNext(undefined, 0);
    for (let i = 0; i < 5; i++) entry = backoffNext(entry, i * 1000);
    expect(entry.backoffMs).toBe(300_000);
    const finishedAt = entry.lastUpdate + 10 * 60_000 + 1;
    expect(crashBackoffUntil(entry, finishedAt, finishedAt)).toBeUndefined();
    expect(backoffNext(entry, finishedAt).backoffMs).toBe(DEFAULT_BACKOFF.initialMs);
    // Nine minutes is not enough.
    expect(crashBackoffUntil(entry, entry.lastUpdate + 9 * 60_000, entry.lastUpdate + 9 * 60_000)).toBe(entry.lastUpdate + 9 * 60_000 + 300_000);
  });

  it('image pulls back off from the last attempt', () => {
    const entry = backoffNext(undefined, 1000);
    expect(pullBackoffUntil(entry, 5000)).toBe(11_000);
    expect(pullBackoffUntil(entry, 11_000)).toBeUndefined();
    expect(pullBackoffUntil(undefined, 0)).toBeUndefined();
  });

  it('follows the restart policy and names exits as Kubernetes does', () => {
    expect([shouldRestart('Always', 0), shouldRestart('OnFailure', 0), shouldRestart('OnFailure', 1), shouldRestart('Never', 1)]).toEqual([true, false, true, false]);
    expect(terminationReason({ exitCode: 0 })).toBe('Completed');
    expect(terminationReason({ exitCode: 2 })).toBe('Error');
    expect(terminationReason({ exitCode: 137, oomKilled: true })).toBe('OOMKilled');
    expect(crashLoopMessage(20_000, 'web', 'web-1', 'default')).toBe('back-off 20s restarting failed container=web pod=web-1_default');
    expect(crashLoopMessage(300_000, 'web', 'web-1', 'default')).toBe('back-off 5m0s restarting failed container=web pod=web-1_default');
  });
});

describe('probe state machine', () => {
  it('applies Kubernetes defaults', () => {
    expect(probeSettings('readiness', {})).toEqual({ initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
    // Liveness and startup probes need exactly one success.
    expect(probeSettings('liveness', { successThreshold: 3 }).successThreshold).toBe(1);
  });

  it('changes output only after the threshold of identical results in a row', () => {
    const s = probeSettings('readiness', { successThreshold: 2, failureThreshold: 3, periodSeconds: 5, initialDelaySeconds: 2 });
    let st = initialProbeState('readiness', s, 0);
    expect(st.output).toBe('failure');
    expect(st.dueAt).toBe(2000);
    st = recordProbeResult(st, s, 'success', 2000);
    expect(st.output).toBe('failure');
    expect(st.dueAt).toBe(7000);
    st = recordProbeResult(st, s, 'success', 7000);
    expect(st.output).toBe('success');
    st = recordProbeResult(st, s, 'failure', 12_000);
    st = recordProbeResult(st, s, 'success', 17_000);
    st = recordProbeResult(st, s, 'failure', 22_000);
    st = recordProbeResult(st, s, 'failure', 27_000);
    expect(st.output).toBe('success');
    st = recordProbeResult(st, s, 'failure', 32_000);
    expect(st.output).toBe('failure');
  });

  it('startup holds liveness and readiness, and a liveness failure asks for a restart', () => {
    const ss = probeSettings('startup', { failureThreshold: 2 });
    const ls = probeSettings('liveness', { failureThreshold: 1 });
    const rs = probeSettings('readiness', {});
    let states = { startup: initialProbeState('startup', ss, 0), liveness: initialProbeState('liveness', ls, 0), readiness: initialProbeState('readiness', rs, 0) };
    expect(dueProbes(states, 0)).toEqual(['startup']);
    expect(probeVerdict(states)).toEqual({ started: false, ready: false });
    states = { ...states, startup: recordProbeResult(states.startup, ss, 'success', 0) };
    expect(dueProbes(states, 0)).toEqual(['liveness', 'readiness']);
    expect(probeVerdict(states)).toEqual({ started: true, ready: false });
    states = { ...states, readiness: recordProbeResult(states.readiness, rs, 'success', 0) };
    expect(probeVerdict(states)).toEqual({ started: true, ready: true });
    states = { ...states, liveness: recordProbeResult(states.liveness, ls, 'failure', 10_000, 'connection refused') };
    expect(probeVerdict(states).restart).toBe('Liveness probe failed: connection refused');
  });

  it('a startup probe that reaches its failure threshold asks for a restart', () => {
    const ss = probeSettings('startup', { failureThreshold: 2 });
    let st = initialProbeState('startup', ss, 0);
    st = recordProbeResult(st, ss, 'failure', 0);
    expect(probeVerdict({ startup: st }).restart).toBeUndefined();
    st = recordProbeResult(st, ss, 'failure', 10_000);
    expect(probeVerdict({ startup: st }).restart).toMatch(/^Startup probe failed/);
  });
});

describe('pod status', () => {
  const view = (v: Partial<ContainerView>): ContainerView => ({ name: 'c', finished: false, restartCount: 0, started: false, ready: false, ...v });

  it('derives the phase as the kubelet does', () => {
    expect(podPhase('Always', [view({})])).toBe('Pending');
    expect(podPhase('Always', [view({ running: { startedAt: 0 } })])).toBe('Running');
    const crashed = view({ lastTermination: { exitCode: 1, reason: 'Error', finishedAt: 0 }, waiting: { reason: 'CrashLoopBackOff' } });
    expect(podPhase('Always', [crashed])).toBe('Running');
    const done0 = view({ finished: true, lastTermination: { exitCode: 0, reason: 'Completed', finishedAt: 0 } });
    const done1 = view({ finished: true, lastTermination: { exitCode: 1, reason: 'Error', finishedAt: 0 } });
    expect(podPhase('Never', [done0])).toBe('Succeeded');
    expect(podPhase('Never', [done0, done1])).toBe('Failed');
    expect(podPhase('OnFailure', [done0])).toBe('Succeeded');
    expect(podPhase('OnFailure', [crashed])).toBe('Running');
  });

  it('keeps readySince while ready and reports ports and container states', () => {
    const running = view({ running: { startedAt: 1000 }, started: true, ready: true, id: 'x' });
    const first = podStatus({ policy: 'Always', views: [running], now: 5000, ports: { http: 4000 }, hostIP: '127.0.0.1' });
    expect(first).toMatchObject({ phase: 'Running', ready: true, readySince: new Date(5000).toISOString(), ports: { http: 4000 }, hostIP: '127.0.0.1' });
    expect(first.containerStatuses?.[0]).toMatchObject({ name: 'c', ready: true, started: true, id: 'x', state: { running: { startedAt: new Date(1000).toISOString() } } });
    const second = podStatus({ policy: 'Always', views: [running], now: 9000, ports: {}, previous: first });
    expect(second.readySince).toBe(first.readySince);
    const waiting = podStatus({ policy: 'Always', views: [view({ waiting: { reason: 'ErrImagePull', message: 'no' } })], now: 0, ports: {} });
    expect(waiting.containerStatuses?.[0].state).toEqual({ waiting: { reason: 'ErrImagePull', message: 'no' } });
    expect(waiting.ready).toBe(false);
  });
});

describe('env and ports', () => {
  it('resolves env and envFrom through the lookup, env winning, with $(VAR) expansion', async () => {
    const data: Record<string, Record<string, string>> = { 'ConfigMap/app': { MODE: 'prod', 'bad key': 'x' }, 'Secret/db': { password: 's3cret' } };
    const env = await resolveEnv(
      {
        name: 'web',
        envFrom: [{ configMapRef: { name: 'app' }, prefix: 'APP_' }, { configMapRef: { name: 'missing', optional: true } }],
        env: [
          { name: 'APP_MODE', value: 'dev' },
          { name: 'URL', value: 'http://$(HOST):80/$$(HOST)' },
          { name: 'HOST', value: 'h' },
          { name: 'URL2', value: 'http://$(HOST)' },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        ],
      },
      (ref) => data[`${ref.kind}/${ref.name}`],
    );
    expect(env).toEqual({ APP_MODE: 'dev', URL: 'http://$(HOST):80/$(HOST)', HOST: 'h', URL2: 'http://h', PW: 's3cret' });
    expect(expandVars('$(A)$(B)', { A: '1' })).toBe('1$(B)');
  });

  it('fails with a config error when a reference is missing', async () => {
    const err = await resolveEnv({ name: 'web', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }] }, () => ({ other: '1' })).catch(
      (e: unknown) => e,
    );
    expect(isCapstanError(err, 'CAPSTAN_ERR_AGENT_CONTAINER_CONFIG')).toBe(true);
    expect((err as Error).message).toBe('key "k" in configmap "cm" not found (container "web")');
  });

  it('maps probe ports by name or container port to host ports', () => {
    const b = [{ name: 'http', containerPort: 8080, hostPort: 41000, protocol: 'TCP' as const }];
    expect(resolveHostPort(b, 'http')).toBe(41000);
    expect(resolveHostPort(b, 8080)).toBe(41000);
    expect(resolveHostPort(b, '8080')).toBe(41000);
    expect(resolveHostPort(b, 9090)).toBe(9090);
    expect(resolveHostPort(b, 'metrics')).toBeUndefined();
  });
});

describe('ManualClock', () => {
  it('fires due timers in order and only when time is advanced', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    const a = clock.setTimeout(() => fired.push('a'), 10);
    clock.setTimeout(() => {
      fired.push('c');
      clock.setTimeout(() => fired.push('d'), 5);
    }, 15);
    clock.clearTimeout(a);
    clock.advance(19);
    expect(fired).toEqual(['c']);
    clock.advance(1);
    // Same due time: the one set first fires first.
    expect(fired).toEqual(['c', 'b', 'd']);
    expect(clock.now()).toBe(20);
  });
});

describe('public surface', () => {
  it('grows only on purpose', async () => {
    const agent = await import('../../src/agent/index.js');
    expect(Object.keys(agent).sort()).toEqual([
      'CHANNEL',
      'DEFAULT_BACKOFF',
      'DOCKER_API_VERSION',
      'DockerRuntime',
      'EXEC_PROTOCOL',
      'FrameDecoder',
      'LABEL_CONTAINER',
      'LABEL_NAMESPACE',
      'LABEL_NODE',
      'LABEL_POD',
      'LABEL_PORTS',
      'LABEL_RESTART_COUNT',
      'LABEL_SPEC_HASH',
      'MIN_GRACE_AFTER_PRESTOP_MS',
      'ManualClock',
      'NodeAgent',
      'PROBE_DEFAULTS',
      'PodManager',
      'PodWorker',
      'ProcessRuntime',
      'REASONS',
      'RUNTIME_UNAVAILABLE',
      'backoffNext',
      'canSearch',
      'chooseRuntime',
      'claimVolumePath',
      'containerSpecHash',
      'containerStatus',
      'crashBackoffUntil',
      'crashLoopMessage',
      'defaultPodUser',
      'describePodUser',
      'dockerUnavailableReason',
      'dueProbes',
      'encodeFrame',
      'encodeResize',
      'expandVars',
      'findPasswdUser',
      'followProgressStream',
      'freePort',
      'initialProbeState',
      'isRuntimeUnavailable',
      'nextProbeAt',
      'ownershipLabels',
      'parseExit',
      'pickRuntime',
      'podPhase',
      'podStatus',
      'podVolumesDir',
      'portEnvName',
      'portIsFree',
      'portMap',
      'probeDue',
      'probeSettings',
      'probeVerdict',
      'pullBackoffUntil',
      'recordProbeResult',
      'refFromLabels',
      'resolveEnv',
      'resolveHostPort',
      'runProbe',
      'shouldRestart',
      'sleep',
      'systemClock',
      'terminateContainer',
      'terminationReason',
      'volumeEnvName',
    ]);
  });
});
