// One worker per pod: a level-based pass reads the runtime, runs due probes, applies the
// restart policy and back-off, starts what is missing and publishes status. Passes never
// overlap; a kick during a pass runs one more pass after it.

import { isCapstanError, type Logger } from '../common/index.js';
import type { ContainerSpec, Pod, PodStatus } from '../api/cluster.js';
import type { AgentClock, TimerHandle } from './clock.js';
import {
  REASONS,
  backoffNext,
  crashBackoffUntil,
  crashLoopMessage,
  pullBackoffUntil,
  shouldRestart,
  terminationReason,
  type BackoffEntry,
  type BackoffOptions,
} from './backoff.js';
import { resolveEnv, type EnvSourceRef } from './env.js';
import { runProbe } from './probe-run.js';
import {
  dueProbes,
  initialProbeState,
  nextProbeAt,
  probeSettings,
  probeVerdict,
  recordProbeResult,
  type ContainerProbeStates,
  type ProbeKind,
  type ProbeSettings,
} from './probes.js';
import {
  LABEL_RESTART_COUNT,
  LABEL_SPEC_HASH,
  RUNTIME_UNAVAILABLE,
  containerSpecHash,
  isRuntimeUnavailable,
  portMap,
  type ContainerHandle,
  type ContainerState,
  type CreateRequest,
  type PullCredentials,
  type RuntimeDriver,
} from './runtime.js';
import { effectiveSecurity } from './docker-security.js';
import { podStatus, type ContainerView } from './status.js';
import { terminateContainer } from './termination.js';
import type { VolumePlan } from './volumes.js';
import { prepareVolumes, removePodVolumes, resolveMounts } from './volumes-fs.js';

export interface PodWorkerDeps {
  driver: RuntimeDriver;
  clock: AgentClock;
  logger: Logger;
  probeHost: string;
  hostIP?: string;
  backoff: BackoffOptions;
  resyncMs: number;
  envLookup: (namespace: string, ref: EnvSourceRef) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  /** The Service variables a container of this pod starts with, read at each start; none when absent. */
  serviceEnv?: (pod: Pod) => Record<string, string>;
  onStatus: (pod: Pod, status: PodStatus) => void;
  onRemoved: (pod: Pod) => void;
  /** The node runs privileged containers (`--allow-privileged`); else one is refused (CreateContainerConfigError). */
  allowPrivileged?: boolean;
  /** The agent's data dir, where pod volumes are made; without one, volumes are not mounted (a warning says so). */
  dataDir?: string;
  /** How often configMap, secret and downwardAPI volumes are written again from their sources (default 10 s). */
  volumeSyncMs?: number;
}

/** main: spec.containers; init: an init container run to completion; sidecar: an init container with restartPolicy Always. */
type ContainerRole = 'main' | 'init' | 'sidecar';

interface ContainerRecord {
  spec: ContainerSpec;
  role: ContainerRole;
  settings: Partial<Record<ProbeKind, ProbeSettings>>;
  handle?: ContainerHandle;
  /** The last dead container, kept (with its logs) until the next one starts. */
  previous?: ContainerHandle;
  everStarted: boolean;
  restartCount: number;
  crashBackoff?: BackoffEntry;
  pullBackoff?: BackoffEntry;
  /** Why the last pull failed (the daemon's words), kept for the back-off message. */
  lastPullError?: string;
  waiting?: { reason: string; message?: string };
  lastTermination?: { exitCode: number; reason: string; message?: string; finishedAt: number };
  finished: boolean;
  probes: ContainerProbeStates;
  started: boolean;
  ready: boolean;
  runningSince?: number;
  /** Earliest time a start may be tried again. */
  retryAt?: number;
  /** Why the agent itself is stopping this container (a failed probe). */
  killMessage?: string;
}

export type PodWorkerState = 'active' | 'terminating' | 'removed';

export class PodWorker {
  private pod: Pod;
  private readonly records: ContainerRecord[];
  private state: PodWorkerState = 'active';
  private running: Promise<void> | undefined;
  private dirty = false;
  private timer: TimerHandle | undefined;
  private lastStatus: PodStatus | undefined;
  private lastStatusJson = '';
  private readonly log: Logger;
  /** Stale adopted containers being stopped; the first pass waits for them. */
  private discards: Promise<void>[] = [];
  /** Dead containers whose removal failed (the runtime did not answer): retried every pass. */
  private leftovers: ContainerHandle[] = [];
  /** Why the last pass could not reach the runtime; cleared by the next pass that does. */
  private runtimeDown: string | undefined;
  /**
   * Every init container has completed (sidecars: started): main containers run, and init
   * containers are never run again. True at once after an agent restart when a main
   * container of the pod is found, as the kubelet takes a started main container for proof.
   */
  private initialized: boolean;
  /** Process-runtime fields already warned about as not enforceable, per container. */
  private readonly warnedFields = new Set<string>();
  /** The pod's volumes once made; configMap, secret and downwardAPI ones are written again every volumeSyncMs. */
  private volumePlans: VolumePlan[] | undefined;
  /** When the volumes were last made or tried (a failed try waits volumeSyncMs too). */
  private volumesSyncedAt: number | undefined;
  private warnedNoDataDir = false;

  constructor(
    pod: Pod,
    private readonly deps: PodWorkerDeps,
    adopted: ContainerHandle[] = [],
  ) {
    this.pod = pod;
    this.log = deps.logger.child({ pod: `${pod.metadata.namespace}/${pod.metadata.name}` });
    const record = (spec: ContainerSpec, role: ContainerRole): ContainerRecord => {
      const settings: ContainerRecord['settings'] = {};
      if (spec.startupProbe) settings.startup = probeSettings('startup', spec.startupProbe);
      if (spec.livenessProbe) settings.liveness = probeSettings('liveness', spec.livenessProbe);
      if (spec.readinessProbe) settings.readiness = probeSettings('readiness', spec.readinessProbe);
      return { spec, role, settings, everStarted: false, restartCount: 0, finished: false, probes: {}, started: false, ready: false };
    };
    // Init containers first, in order: passes walk them before the main containers.
    this.records = [
      ...(pod.spec.initContainers ?? []).map((spec) => record(spec, spec.restartPolicy === 'Always' ? 'sidecar' : 'init')),
      ...pod.spec.containers.map((spec) => record(spec, 'main')),
    ];
    this.initialized = !this.records.some((r) => r.role !== 'main');
    // Newest start first: with Docker an older, exited container of the same name can still be there.
    const restarts = (h: ContainerHandle): number => Number(h.labels[LABEL_RESTART_COUNT] ?? 0) || 0;
    for (const handle of [...adopted].sort((a, b) => restarts(b) - restarts(a))) this.adopt(handle);
    if (!this.initialized && this.records.some((r) => r.role === 'main' && r.handle !== undefined)) {
      this.initialized = true;
      for (const rec of this.records) if (rec.role === 'init') this.markCompleted(rec);
    }
  }

  /** An init container of an initialised pod: done, its found container kept only for its logs. */
  private markCompleted(rec: ContainerRecord): void {
    if (rec.handle !== undefined) {
      rec.previous = rec.handle;
      rec.handle = undefined;
    }
    rec.probes = {};
    rec.runningSince = undefined;
    rec.finished = true;
    rec.lastTermination ??= { exitCode: 0, reason: REASONS.completed, finishedAt: this.deps.clock.now() };
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  get lifecycle(): PodWorkerState {
    return this.state;
  }

  get status(): PodStatus | undefined {
    return this.lastStatus;
  }

  /** A pass is running. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** The container is this worker's: running, its last dead one, or one still to remove. */
  owns(id: string): boolean {
    return this.records.some((r) => r.handle?.id === id || r.previous?.id === id) || this.leftovers.some((h) => h.id === id);
  }

  /** Names of the pod's containers: init containers (sidecars included) first, then the main ones. */
  containerNames(): string[] {
    return this.records.map((r) => r.spec.name);
  }

  /**
   * A container's runtime handles, for logs and exec: `current` is the running one (or the
   * last one when none runs), `previous` the dead one before it (`logs --previous`).
   */
  containerHandles(name: string): { current?: ContainerHandle; previous?: ContainerHandle; running: boolean } | undefined {
    const rec = this.records.find((r) => r.spec.name === name);
    if (rec === undefined) return undefined;
    if (rec.handle !== undefined) return { current: rec.handle, ...(rec.previous !== undefined ? { previous: rec.previous } : {}), running: true };
    // Waiting to restart (back-off) or finished: the dead one is both, as the kubelet has it.
    return { ...(rec.previous !== undefined ? { current: rec.previous, previous: rec.previous } : {}), running: false };
  }

  /** The runtime could not be reached in the last pass (its message), or undefined. */
  get runtimeProblem(): string | undefined {
    return this.runtimeDown;
  }

  /** A newer copy of the pod; only deletion is acted on (a pod's containers never change). */
  update(pod: Pod): void {
    this.pod = pod;
    if (pod.metadata.deletionRequestedAt !== undefined) this.requestDeletion();
    else this.kick();
  }

  requestDeletion(): void {
    if (this.state === 'active') this.state = 'terminating';
    this.kick();
  }

  /** Run a pass now (or right after the current one). */
  kick(): void {
    if (this.state === 'removed') return;
    if (this.running !== undefined) {
      this.dirty = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stop the timers; containers keep running (another agent instance may adopt them). */
  detach(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'removed';
  }

  private adopt(handle: ContainerHandle): void {
    const rec = this.records.find((r) => r.spec.name === handle.ref.container);
    const stale = rec === undefined || rec.handle !== undefined || handle.labels[LABEL_SPEC_HASH] !== containerSpecHash(rec.spec);
    if (stale) {
      // From an older spec, an older start, or a container the pod no longer has.
      this.log.info({ id: handle.id }, 'found container is not the current one for this pod: removing it');
      this.discards.push(this.discard(handle));
      return;
    }
    rec.handle = handle;
    rec.everStarted = true;
    rec.restartCount = Number(handle.labels[LABEL_RESTART_COUNT] ?? 0) || 0;
    this.startProbes(rec, handle.startedAt ?? this.deps.clock.now());
  }

  private async discard(handle: ContainerHandle): Promise<void> {
    try {
      await this.deps.driver.stop(handle, this.graceMs());
      await this.deps.driver.remove(handle);
    } catch (err) {
      this.log.warn({ err, id: handle.id }, 'could not remove a stale container');
    }
  }

  private async loop(): Promise<void> {
    do {
      this.dirty = false;
      try {
        await this.pass();
        if (this.runtimeDown !== undefined) {
          this.log.info('container runtime answers again');
          this.runtimeDown = undefined;
          this.publish();
        }
      } catch (err) {
        if (isRuntimeUnavailable(err)) this.runtimeUnavailable((err as Error).message);
        else this.log.error({ err }, 'pod pass failed');
      }
    } while (this.dirty && this.state !== 'removed');
    this.schedule();
  }

  /**
   * The runtime did not answer: what runs is unknown, so no container counts as ready (the
   * kubelet's PLEG turns the node NotReady likewise); the pod says why until a pass succeeds.
   */
  private runtimeUnavailable(message: string): void {
    if (this.runtimeDown === undefined) this.log.warn({ message }, 'container runtime unavailable; the pod is not ready until it answers');
    this.runtimeDown = message;
    for (const rec of this.records) rec.ready = false;
    this.publish(this.state === 'terminating');
  }

  private async pass(): Promise<void> {
    if (this.state === 'removed') return;
    if (this.leftovers.length > 0) {
      const retry = this.leftovers;
      this.leftovers = [];
      for (const h of retry) await this.removeQuietly(h);
    }
    if (this.discards.length > 0) {
      const pending = this.discards;
      this.discards = [];
      await Promise.all(pending);
    }
    if (this.state === 'terminating') {
      await this.terminateAll();
      return;
    }
    await this.resyncVolumes();
    if (!this.initialized) {
      await this.initialize();
      if (!this.initialized) {
        this.publish();
        return;
      }
    }
    for (const rec of this.records) if (rec.role !== 'init') await this.reconcileContainer(rec);
    // A Job's pod is done when its main containers are: its sidecars are stopped then.
    const mains = this.records.filter((r) => r.role === 'main');
    if (mains.every((r) => r.finished)) {
      for (const rec of this.records) {
        if (rec.role !== 'sidecar' || rec.finished) continue;
        if (rec.handle !== undefined) {
          await this.stopContainer(rec, rec.handle);
          await this.recordExit(rec, await this.deps.driver.inspect(rec.handle));
        }
        rec.finished = true;
        rec.waiting = undefined;
      }
    }
    this.publish();
  }

  /**
   * One step of initialisation: init containers in order, each to exit 0 before the next
   * starts; a sidecar must be running (and started, by its startup probe) before the next.
   */
  private async initialize(): Promise<void> {
    for (const rec of this.records) {
      if (rec.role === 'main') break;
      if (rec.role === 'init' && rec.finished && rec.lastTermination?.exitCode === 0) continue;
      await this.reconcileContainer(rec);
      if (rec.role === 'init') {
        if (rec.finished && rec.lastTermination?.exitCode === 0) {
          this.log.info({ container: rec.spec.name }, 'init container completed');
          this.dirty = true;
          continue;
        }
        return;
      }
      if (rec.handle === undefined || !rec.started) return;
    }
    this.initialized = true;
    this.dirty = true;
    this.log.info('pod initialised');
  }

  /** Whether a container that exited with `exitCode` runs again. */
  private restartsAfter(rec: ContainerRecord, exitCode: number): boolean {
    if (rec.role === 'sidecar') return this.state === 'active' && !this.records.filter((r) => r.role === 'main').every((r) => r.finished);
    // An init container that succeeded never runs again; one that failed is run again unless
    // the pod's restartPolicy is Never (Always counts as OnFailure for init containers).
    if (rec.role === 'init') return exitCode !== 0 && this.pod.spec.restartPolicy !== 'Never';
    return shouldRestart(this.pod.spec.restartPolicy, exitCode);
  }

  private async reconcileContainer(rec: ContainerRecord): Promise<void> {
    if (rec.handle !== undefined) {
      let state = await this.deps.driver.inspect(rec.handle);
      if (state.running) {
        await this.runDueProbes(rec);
        const verdict = probeVerdict(rec.probes);
        rec.started = verdict.started;
        rec.ready = verdict.ready;
        if (verdict.restart === undefined) return;
        this.log.info({ container: rec.spec.name, why: verdict.restart }, 'restarting container');
        rec.killMessage = verdict.restart;
        rec.ready = false;
        this.publish();
        await this.stopContainer(rec, rec.handle);
        state = await this.deps.driver.inspect(rec.handle);
        if (state.running) return;
      }
      await this.recordExit(rec, state);
    }
    if (rec.handle === undefined && !rec.finished && this.state === 'active') await this.maybeStart(rec);
  }

  private async recordExit(rec: ContainerRecord, state: ContainerState): Promise<void> {
    const now = this.deps.clock.now();
    const exitCode = state.exitCode ?? 137;
    const reason = terminationReason({ exitCode, oomKilled: state.oomKilled, unknown: state.exitUnknown });
    const message = rec.killMessage ?? state.message;
    // Seen now, on this worker's clock: back-off windows are measured on it.
    rec.lastTermination = { exitCode, reason, finishedAt: now, ...(message ? { message } : {}) };
    this.log.info({ container: rec.spec.name, exitCode, reason }, 'container exited');
    rec.killMessage = undefined;
    if (rec.previous !== undefined) await this.removeQuietly(rec.previous);
    rec.previous = rec.handle;
    rec.handle = undefined;
    rec.runningSince = undefined;
    rec.probes = {};
    rec.started = false;
    rec.ready = false;
    rec.waiting = undefined;
    if (!this.restartsAfter(rec, exitCode)) rec.finished = true;
  }

  private async maybeStart(rec: ContainerRecord): Promise<void> {
    const { driver, clock } = this.deps;
    const now = clock.now();
    const ref = { namespace: this.pod.metadata.namespace, pod: this.pod.metadata.name, container: rec.spec.name };
    if (rec.lastTermination !== undefined) {
      const until = crashBackoffUntil(rec.crashBackoff, rec.lastTermination.finishedAt, now, this.deps.backoff);
      if (until !== undefined) {
        rec.waiting = { reason: REASONS.crashLoopBackOff, message: crashLoopMessage(rec.crashBackoff!.backoffMs, ref.container, ref.pod, ref.namespace) };
        rec.retryAt = until;
        return;
      }
    }
    const pullUntil = pullBackoffUntil(rec.pullBackoff, now, this.deps.backoff);
    if (pullUntil !== undefined) {
      const why = rec.lastPullError ? `: ${rec.lastPullError}` : '';
      rec.waiting = { reason: REASONS.imagePullBackOff, message: `Back-off pulling image "${rec.spec.image}"${why}` };
      rec.retryAt = pullUntil;
      return;
    }
    const refusal = this.securityRefusal(rec);
    if (refusal !== undefined) {
      rec.waiting = { reason: REASONS.createContainerConfigError, message: refusal };
      rec.retryAt = now + this.deps.resyncMs;
      return;
    }
    try {
      const credentials = await this.pullCredentials();
      await driver.ensureImage(rec.spec, (p) => this.log.debug({ image: rec.spec.image, ...p }, 'pulling image'), credentials);
      rec.pullBackoff = undefined;
      rec.lastPullError = undefined;
    } catch (err) {
      if (isRuntimeUnavailable(err)) throw err;
      rec.pullBackoff = backoffNext(rec.pullBackoff, now, this.deps.backoff);
      const reason = isCapstanError(err) && typeof err.context.reason === 'string' ? err.context.reason : REASONS.errImagePull;
      rec.lastPullError = (err as Error).message;
      rec.waiting = { reason, message: rec.lastPullError };
      rec.retryAt = rec.pullBackoff.lastUpdate + rec.pullBackoff.backoffMs;
      return;
    }
    let env: Record<string, string>;
    try {
      env = await resolveEnv(rec.spec, (r) => this.deps.envLookup(ref.namespace, r), this.deps.serviceEnv?.(this.pod));
    } catch (err) {
      rec.waiting = { reason: REASONS.createContainerConfigError, message: (err as Error).message };
      rec.retryAt = now + this.deps.resyncMs;
      return;
    }
    let mounts;
    try {
      mounts = await this.volumeMounts(rec);
    } catch (err) {
      if (!isCapstanError(err)) this.log.warn({ err, container: rec.spec.name }, 'could not make the pod volumes');
      rec.waiting = { reason: REASONS.createContainerConfigError, message: (err as Error).message };
      rec.retryAt = now + this.deps.resyncMs;
      return;
    }
    const restartCount = rec.everStarted ? rec.restartCount + 1 : rec.restartCount;
    let handle: ContainerHandle;
    try {
      handle = await driver.create({
        ref,
        container: rec.spec,
        env,
        restartCount,
        ...(this.pod.spec.securityContext !== undefined ? { podSecurity: this.pod.spec.securityContext } : {}),
        allowPrivileged: this.deps.allowPrivileged === true,
        ...(mounts !== undefined && mounts.length > 0 ? { mounts } : {}),
      });
    } catch (err) {
      // A create the daemon may have done before the connection dropped leaves a container
      // this worker does not know: the manager's sweep removes it once the runtime answers.
      if (isRuntimeUnavailable(err)) throw err;
      const reason = isCapstanError(err) && typeof err.context.reason === 'string' ? err.context.reason : REASONS.createContainerError;
      rec.waiting = { reason, message: (err as Error).message };
      rec.retryAt = now + this.deps.resyncMs;
      return;
    }
    // The process runtime keeps the previous dead container (its log files, for `logs
    // --previous`) until this one exits; a Docker pod keeps one container, as before: the
    // previous one's logs are served only while it waits to restart.
    if (rec.previous !== undefined && this.deps.driver.name !== 'process') {
      await this.removeQuietly(rec.previous);
      rec.previous = undefined;
    }
    // The kubelet steps the back-off window each time it restarts a container.
    if (rec.lastTermination !== undefined) rec.crashBackoff = backoffNext(rec.crashBackoff, now, this.deps.backoff);
    rec.restartCount = restartCount;
    rec.everStarted = true;
    rec.retryAt = undefined;
    try {
      handle = await driver.start(handle);
    } catch (err) {
      if (isRuntimeUnavailable(err)) {
        // Not the container's failure: keep it to be removed, and start another once the runtime answers.
        if (rec.previous !== undefined) await this.removeQuietly(rec.previous);
        rec.previous = handle;
        throw err;
      }
      // Like containerd's StartError: a run that ended at once, under the restart policy.
      this.log.warn({ err, container: rec.spec.name }, 'container did not start');
      if (rec.previous !== undefined) await this.removeQuietly(rec.previous);
      rec.previous = handle;
      rec.lastTermination = { exitCode: 128, reason: 'StartError', message: (err as Error).message, finishedAt: clock.now() };
      rec.waiting = undefined;
      if (!this.restartsAfter(rec, 128)) rec.finished = true;
      else this.dirty = true;
      return;
    }
    rec.handle = handle;
    rec.waiting = undefined;
    // Look again right away: an exit reported while starting found no owner to wake.
    this.dirty = true;
    this.startProbes(rec, clock.now());
    this.log.info({ container: rec.spec.name, id: handle.id, restartCount }, 'container started');
  }

  /** Makes the pod's volumes (once) and returns the container's mounts; throws when a volume cannot be made. */
  private async volumeMounts(rec: ContainerRecord): Promise<CreateRequest['mounts']> {
    if ((this.pod.spec.volumes ?? []).length === 0) return undefined;
    if (this.deps.dataDir === undefined) {
      if (!this.warnedNoDataDir) this.log.warn('the agent has no data dir: pod volumes are not mounted');
      this.warnedNoDataDir = true;
      return undefined;
    }
    if (this.volumePlans === undefined) await this.syncVolumes();
    return resolveMounts(rec.spec, this.volumePlans!);
  }

  private async syncVolumes(): Promise<void> {
    const { plans, changed } = await prepareVolumes(this.pod, this.deps.dataDir!, (ref) => this.deps.envLookup(this.pod.metadata.namespace, ref));
    if (this.volumePlans !== undefined && changed.length > 0) this.log.info({ volumes: changed }, 'volume files updated');
    this.volumePlans = plans;
    this.volumesSyncedAt = this.deps.clock.now();
  }

  /** configMap, secret and downwardAPI volumes follow their sources while the pod runs; a failure keeps the old files. */
  private async resyncVolumes(): Promise<void> {
    if (this.state !== 'active' || this.deps.dataDir === undefined || (this.pod.spec.volumes ?? []).length === 0) return;
    // Containers adopted after an agent restart: their volumes are followed from the first pass.
    const adopted = this.volumePlans === undefined && this.records.some((r) => r.handle !== undefined);
    if (this.volumePlans === undefined && !adopted) return;
    if (this.volumesSyncedAt !== undefined && this.deps.clock.now() - this.volumesSyncedAt < (this.deps.volumeSyncMs ?? 10_000)) return;
    if (this.volumePlans !== undefined && !this.volumePlans.some((p) => p.kind === 'files')) return;
    try {
      await this.syncVolumes();
    } catch (err) {
      this.volumesSyncedAt = this.deps.clock.now();
      if (isRuntimeUnavailable(err)) throw err;
      this.log.warn({ message: (err as Error).message }, 'could not update the volume files; keeping the last ones');
    }
  }

  /** Why the container may not run on this node (privileged without --allow-privileged), or undefined. */
  private securityRefusal(rec: ContainerRecord): string | undefined {
    const sc = effectiveSecurity(this.pod.spec.securityContext, rec.spec.securityContext);
    if (sc.privileged === true && this.deps.allowPrivileged !== true) {
      return `container "${rec.spec.name}" is privileged, and this node does not allow privileged containers (start the agent with --allow-privileged)`;
    }
    if (this.deps.driver.name === 'process') {
      const ignored = [
        sc.readOnlyRootFilesystem === true ? 'readOnlyRootFilesystem' : undefined,
        sc.capAdd.length > 0 || sc.capDrop.length > 0 ? 'capabilities' : undefined,
        sc.allowPrivilegeEscalation !== undefined ? 'allowPrivilegeEscalation' : undefined,
        sc.seccompProfile !== undefined ? 'seccompProfile' : undefined,
        sc.appArmorProfile !== undefined ? 'appArmorProfile' : undefined,
        sc.groups.length > 0 ? 'supplementalGroups/fsGroup' : undefined,
      ].filter((f): f is string => f !== undefined && !this.warnedFields.has(`${rec.spec.name}/${f}`));
      for (const f of ignored) this.warnedFields.add(`${rec.spec.name}/${f}`);
      if (ignored.length > 0) this.log.warn({ container: rec.spec.name, fields: ignored }, 'securityContext fields the process runtime cannot enforce are ignored');
    }
    return undefined;
  }

  /** The data of the pod's imagePullSecrets that exist (a missing one is skipped, as the kubelet does). */
  private async pullCredentials(): Promise<PullCredentials | undefined> {
    const names = this.pod.spec.imagePullSecrets ?? [];
    if (names.length === 0) return undefined;
    const secrets: Array<Record<string, string>> = [];
    for (const { name } of names) {
      const data = await this.deps.envLookup(this.pod.metadata.namespace, { kind: 'Secret', name });
      if (data !== undefined) secrets.push(data);
      else this.log.warn({ secret: name }, 'imagePullSecrets names a Secret that does not exist; pulling without it');
    }
    return { secrets };
  }

  private startProbes(rec: ContainerRecord, startedAt: number): void {
    // Initial delays count from the container's start, as the kubelet's do; the runtime may
    // keep a different clock, so never let a start time lie in this clock's future.
    const from = Math.min(startedAt, this.deps.clock.now());
    rec.runningSince = from;
    rec.probes = {};
    for (const kind of ['startup', 'liveness', 'readiness'] as const) {
      const s = rec.settings[kind];
      if (s !== undefined) rec.probes[kind] = initialProbeState(kind, s, from);
    }
    const verdict = probeVerdict(rec.probes);
    rec.started = verdict.started;
    rec.ready = verdict.ready;
  }

  private async runDueProbes(rec: ContainerRecord): Promise<void> {
    const handle = rec.handle!;
    // Startup first: its success releases liveness and readiness in the same pass.
    for (let round = 0; round < 2; round++) {
      const due = dueProbes(rec.probes, this.deps.clock.now());
      if (due.length === 0) return;
      await Promise.all(
        due.map(async (kind) => {
          const settings = rec.settings[kind]!;
          const probe = kind === 'startup' ? rec.spec.startupProbe! : kind === 'liveness' ? rec.spec.livenessProbe! : rec.spec.readinessProbe!;
          const outcome = await runProbe(probe, { driver: this.deps.driver, handle, clock: this.deps.clock, host: this.deps.probeHost, timeoutMs: settings.timeoutMs });
          rec.probes[kind] = recordProbeResult(rec.probes[kind]!, settings, outcome.result, this.deps.clock.now(), outcome.message);
        }),
      );
      if (!due.includes('startup') || rec.probes.startup?.output !== 'success') return;
    }
  }

  private async stopContainer(rec: ContainerRecord, handle: ContainerHandle): Promise<void> {
    await terminateContainer({
      driver: this.deps.driver,
      handle,
      container: rec.spec,
      graceMs: this.graceMs(),
      clock: this.deps.clock,
      host: this.deps.probeHost,
      logger: this.log,
    });
  }

  private graceMs(): number {
    const s = this.pod.spec.terminationGracePeriodSeconds;
    return (typeof s === 'number' && s >= 0 ? s : 30) * 1000;
  }

  private async terminateAll(): Promise<void> {
    for (const rec of this.records) rec.ready = false;
    this.publish(true);
    await Promise.all(
      this.records.map(async (rec) => {
        if (rec.handle !== undefined) {
          try {
            await this.stopContainer(rec, rec.handle);
            const state = await this.deps.driver.inspect(rec.handle);
            await this.recordExit(rec, state);
          } catch (err) {
            this.log.warn({ err, container: rec.spec.name }, 'could not stop container');
            return;
          }
        }
        rec.finished = true;
        if (rec.previous !== undefined) await this.removeQuietly(rec.previous);
        rec.previous = undefined;
      }),
    );
    // Some container would not stop: the resync timer tries again (not at once, so a runtime
    // that keeps failing is not hammered).
    if (this.records.some((r) => r.handle !== undefined)) return;
    if (this.deps.dataDir !== undefined && (this.pod.spec.volumes ?? []).length > 0) {
      await removePodVolumes(this.deps.dataDir, this.pod.metadata.namespace, this.pod.metadata.name).catch((err: unknown) =>
        this.log.warn({ err }, 'could not remove the pod volumes'),
      );
    }
    this.publish(false, 'Never');
    this.state = 'removed';
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.deps.onRemoved(this.pod);
  }

  private async removeQuietly(handle: ContainerHandle): Promise<void> {
    try {
      await this.deps.driver.remove(handle);
    } catch (err) {
      // Kept and retried each pass, so a dead container never outlives its pod unnoticed.
      if (!this.leftovers.some((h) => h.id === handle.id)) this.leftovers.push(handle);
      this.log.warn({ err, id: handle.id }, 'could not remove container; trying again on the next pass');
    }
  }

  private views(roles: ContainerRole[]): ContainerView[] {
    return this.records.filter((rec) => roles.includes(rec.role)).map((rec) => ({
      name: rec.spec.name,
      id: rec.handle?.id ?? rec.previous?.id,
      running: rec.handle !== undefined ? { startedAt: rec.runningSince ?? this.deps.clock.now() } : undefined,
      waiting: rec.waiting,
      lastTermination: rec.lastTermination,
      finished: rec.finished,
      restartCount: rec.restartCount,
      started: rec.started,
      ready: rec.ready,
      ...(rec.role === 'init' && rec.finished && rec.lastTermination?.exitCode === 0 ? { completed: true } : {}),
      ...(rec.role === 'sidecar' ? { sidecar: true } : {}),
      ...(rec.role === 'main' && !this.initialized && rec.waiting === undefined ? { waiting: { reason: REASONS.podInitializing } } : {}),
    }));
  }

  private publish(terminating = false, policy = this.pod.spec.restartPolicy): void {
    const ports: Record<string, number> = {};
    for (const rec of this.records) if (rec.handle !== undefined) Object.assign(ports, portMap(rec.handle.ports));
    const started = this.records.map((r) => r.runningSince).filter((t): t is number => t !== undefined);
    const status = podStatus({
      policy,
      views: this.views(['main']),
      initViews: this.views(['init', 'sidecar']),
      initialized: this.initialized,
      previous: this.lastStatus,
      now: this.deps.clock.now(),
      hostIP: this.deps.hostIP,
      ports,
      startedAt: this.lastStatus?.startedAt !== undefined ? Date.parse(this.lastStatus.startedAt) : started.length > 0 ? Math.min(...started) : undefined,
      terminating,
    });
    if (this.runtimeDown !== undefined) {
      if (!terminating) status.reason = RUNTIME_UNAVAILABLE;
      status.message = `the container runtime does not answer: ${this.runtimeDown}`;
    }
    const json = JSON.stringify(status);
    if (json === this.lastStatusJson) return;
    this.lastStatus = status;
    this.lastStatusJson = json;
    try {
      this.deps.onStatus(this.pod, status);
    } catch (err) {
      this.log.warn({ err }, 'status callback failed');
    }
  }

  private schedule(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.state === 'removed') return;
    const now = this.deps.clock.now();
    let next = now + this.deps.resyncMs;
    for (const rec of this.records) {
      if (rec.retryAt !== undefined && rec.handle === undefined && !rec.finished) next = Math.min(next, rec.retryAt);
      if (rec.handle !== undefined) {
        const p = nextProbeAt(rec.probes);
        if (p !== undefined) next = Math.min(next, p);
      }
    }
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, Math.max(0, next - now));
  }
}
