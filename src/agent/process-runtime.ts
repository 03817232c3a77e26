// The `process` runtime: each container is a child process (no shell) in its own process
// group, so stopping it reaches everything it spawned. A container port is the containerPort
// on 127.0.0.1 when it is free there, else one the node allocates (host-ports.ts), handed to
// the process as PORT / PORT_<NAME>. State files let a restarted agent adopt its children.
// A Capstan running as root starts pods (and their exec probes and hooks) as an unprivileged
// user (see pod-user.ts) in a working dir of their own; the state dir, logs and state files
// stay private to Capstan. The environment is the pod's own plus PATH, HOME, HOSTNAME and
// the ports: nothing of Capstan's (CAPSTAN_TOKEN, say) is passed on.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { CapstanError, logModeChanges, silentLogger, tightenModes, type Logger } from '../common/index.js';
import type { ContainerSpec } from '../api/cluster.js';
import { systemClock, sleep, type AgentClock } from './clock.js';
import { expandVars } from './env.js';
import {
  LABEL_NODE,
  ownershipLabels,
  portEnvName,
  portIsFree,
  type ContainerHandle,
  type ContainerRef,
  type ContainerState,
  type CreateRequest,
  type ExecResult,
  type PortBinding,
  type RuntimeDriver,
} from './runtime.js';
import { processMatches, procStartTime, readStates, removeState, stateDirFor, writeState, type ProcessStateFile } from './process-state.js';
import { containerUser, defaultPodUser, describePodUser, userCanReach, type PodUser } from './pod-user.js';
import { effectiveSecurity } from './docker-security.js';
import { volumeEnvName } from './volumes.js';
import { processTreeUsage, type ContainerUsage } from './stats.js';
import { HostPortAllocator, hostPortKey } from './host-ports.js';

export interface ProcessRuntimeOptions {
  /** Root for state files, working dirs and logs. */
  stateDir: string;
  node: string;
  /** Address ports are chosen on and probes reach. */
  host?: string;
  /** PATH given to processes; defaults to the agent's own. */
  path?: string;
  clock?: AgentClock;
  logger?: Logger;
  /** How often stop() checks whether an adopted process (not our child) has exited. */
  pollMs?: number;
  /**
   * Who pods run as. By default `nobody` when Capstan runs as root, else Capstan's own user
   * (only root can switch); null runs them as Capstan's own user even as root.
   */
  user?: PodUser | null;
  /** Allocates host ports (default: one over `host`'s ports; below 1024 only when pods run as root). */
  hostPorts?: HostPortAllocator;
}

interface Child {
  child?: ChildProcess;
  env: Record<string, string>;
  exit?: { code: number; at: number };
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGPIPE: 13 };
const MAX_EXEC_OUTPUT = 64 * 1024;

export class ProcessRuntime implements RuntimeDriver {
  readonly name = 'process' as const;
  private readonly clock: AgentClock;
  private readonly logger: Logger;
  private readonly host: string;
  private readonly children = new Map<string, Child>();
  private readonly states = new Map<string, ProcessStateFile>();
  private readonly listeners = new Set<(id: string) => void>();
  /** The user pods run as, or undefined for Capstan's own. */
  readonly user: PodUser | undefined;
  readonly hostPorts: HostPortAllocator;
  private prepared?: Promise<void>;

  constructor(private readonly options: ProcessRuntimeOptions) {
    this.clock = options.clock ?? systemClock();
    this.logger = (options.logger ?? silentLogger()).child({ component: 'agent.process' });
    this.host = options.host ?? '127.0.0.1';
    this.user = options.user === null ? undefined : (options.user ?? defaultPodUser(process.getuid?.()));
    const podsAreRoot = (this.user === undefined ? process.getuid?.() : this.user.uid) === 0;
    this.hostPorts = options.hostPorts ?? new HostPortAllocator({ isFree: (port) => portIsFree(port, this.host), lowestPort: podsAreRoot ? 1 : 1024 });
  }

  /** Who pods run as, in one line for the console. */
  get isolation(): string {
    return describePodUser(this.user, process.getuid?.());
  }

  /**
   * The state dir, once per runtime: private to Capstan (0700; 0711 when pods run as another
   * user, who must pass through it to its working dir but cannot list it), state files and
   * logs 0600, with an info line when older modes were looser.
   */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      const root = this.options.stateDir;
      await mkdir(root, { recursive: true, mode: 0o700 });
      const pods = join(root, 'pods');
      // Everything but the pods' working dirs, which belong to the pods, and the folders on
      // the way to them, which a pod user passes through.
      // Claims' folders (volumes/) keep the modes their pods gave their files.
      const claims = join(root, 'volumes');
      const changes = await tightenModes(root, Infinity, (p) => p === pods || p === claims);
      for (const ns of await readdir(pods).catch(() => [])) {
        if (this.user === undefined) changes.push(...(await tightenModes(join(pods, ns), 0)));
        for (const pod of await readdir(join(pods, ns)).catch(() => [])) {
          if (this.user === undefined) changes.push(...(await tightenModes(join(pods, ns, pod), 0)));
          changes.push(...(await tightenModes(join(pods, ns, pod, 'logs'), Infinity)));
        }
      }
      logModeChanges(this.logger, changes, root);
      if (this.user !== undefined) {
        await chmod(root, 0o711);
        await mkdir(pods, { recursive: true, mode: 0o711 });
        await chmod(pods, 0o711);
      }
      await mkdir(stateDirFor(root), { recursive: true, mode: 0o700 });
    })();
    return this.prepared;
  }

  // No image to fetch: the command runs from the host.
  async ensureImage(): Promise<void> {}

  async create(request: CreateRequest): Promise<ContainerHandle> {
    const { ref, container } = request;
    const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) => expandVars(a, request.env));
    if ((container.command ?? []).length === 0) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', 'the process runtime needs a command', { context: { ...ref } });
    }
    // securityContext runAsUser / runAsGroup / runAsNonRoot (the rest is warned about by the worker).
    const decision = containerUser(this.user, process.getuid?.(), effectiveSecurity(request.podSecurity, container.securityContext), request.allowPrivileged === true);
    if ('refusal' in decision) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `container "${ref.container}": ${decision.refusal}`, { context: { ...ref, reason: 'CreateContainerConfigError' } });
    }
    if (decision.ignored) this.logger.warn({ ...ref }, 'runAsUser and runAsGroup are ignored: Capstan is not root, so the process runtime cannot switch users');
    const user = decision.user;
    const id = `${safe(ref.namespace)}_${safe(ref.pod)}_${safe(ref.container)}_${request.restartCount}_${randomBytes(4).toString('hex')}`;
    const ports = await this.choosePorts(container, ref, id);
    try {
      return await this.createProcess(request, id, ports, argv, user);
    } catch (err) {
      this.hostPorts.release(id);
      throw err;
    }
  }

  private async createProcess(request: CreateRequest, id: string, ports: PortBinding[], argv: string[], user: PodUser | undefined): Promise<ContainerHandle> {
    const { ref, container } = request;
    await this.prepare();
    const podDir = join(this.options.stateDir, 'pods', safe(ref.namespace), safe(ref.pod));
    const cwd = await this.workDir(podDir, container.workingDir, ref, user);
    // A process cannot mount: it finds each volume through CAPSTAN_VOLUME_<NAME>. The pod's
    // volumes folder lets a pod user pass (not list) on the way to them.
    const volumeEnv: Record<string, string> = {};
    for (const m of request.mounts ?? []) volumeEnv[volumeEnvName(m.volume)] ??= m.followPath ?? m.source;
    if (user !== undefined && (request.mounts ?? []).length > 0) await chmod(join(podDir, 'volumes'), 0o711).catch(() => undefined);
    const logDir = join(podDir, 'logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    const state: ProcessStateFile = {
      version: 1,
      id,
      ref,
      labels: ownershipLabels(ref, this.options.node, request.restartCount, container),
      ports,
      command: argv,
      cwd,
      logPath: join(logDir, `${safe(ref.container)}-${request.restartCount}.log`),
      ...(user !== undefined && user !== this.user ? { uid: user.uid, gid: user.gid } : {}),
    };
    await writeState(this.options.stateDir, state);
    this.states.set(id, state);
    this.children.set(id, { env: this.processEnv(ref.pod, cwd, ports, { ...volumeEnv, ...request.env }) });
    return toHandle(state, false);
  }

  async start(handle: ContainerHandle): Promise<ContainerHandle> {
    const state = this.states.get(handle.id);
    const entry = this.children.get(handle.id);
    if (state === undefined || entry === undefined) throw this.unknown(handle);
    const log = await open(state.logPath, 'a', 0o600);
    let child: ChildProcess | undefined;
    try {
      const spawned = spawn(state.command[0], state.command.slice(1), {
        cwd: state.cwd,
        env: entry.env,
        ...this.identity(state),
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
      });
      // Listen before any await: a command that exits at once must not be missed.
      spawned.on('exit', (code, signal) => {
        entry.exit = { code: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0), at: this.clock.now() };
        // A container ends with its first process: whatever it left in its group goes too.
        // While any member is left the group id cannot be reused, so this reaches only them.
        if (spawned.pid !== undefined) killGroup(spawned.pid, 'SIGKILL');
        for (const l of this.listeners) l(handle.id);
      });
      await new Promise<void>((resolve, reject) => {
        spawned.once('spawn', resolve);
        spawned.once('error', reject);
      });
      spawned.on('error', (err) => this.logger.warn({ err, id: handle.id }, 'child process error'));
      // Containers outlive the agent (the next start adopts them): a stopping agent must not
      // wait for its children to exit before its own process can.
      spawned.unref();
      child = spawned;
    } catch (err) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_RUNTIME', `could not start ${state.command[0]}: ${(err as Error).message}`, {
        cause: err,
        context: { ...state.ref },
      });
    } finally {
      await log.close();
    }
    const pid = child.pid!;
    entry.child = child;
    state.pid = pid;
    state.procStart = procStartTime(pid);
    state.startedAt = this.clock.now();
    await writeState(this.options.stateDir, state);
    this.logger.debug({ id: handle.id, pid }, 'process started');
    return toHandle(state, false);
  }

  /** Cpu time and resident memory of the process and its descendants (for the autoscaler). */
  async stats(handle: ContainerHandle): Promise<ContainerUsage | undefined> {
    const state = this.states.get(handle.id);
    if (state?.pid === undefined || !processMatches(state.pid, state.procStart)) return undefined;
    return processTreeUsage(state.pid);
  }

  async inspect(handle: ContainerHandle): Promise<ContainerState> {
    const state = this.states.get(handle.id);
    if (state === undefined) return { running: false, missing: true, exitCode: 137, exitUnknown: true };
    const entry = this.children.get(handle.id);
    if (entry?.exit !== undefined) return { running: false, exitCode: entry.exit.code, startedAt: state.startedAt, finishedAt: entry.exit.at };
    if (state.pid === undefined) return { running: false, exitCode: 128, message: 'the process was never started' };
    if (entry?.child !== undefined) return { running: true, startedAt: state.startedAt };
    // Adopted: not our child, so the exit code is not ours to read.
    if (processMatches(state.pid, state.procStart)) return { running: true, startedAt: state.startedAt };
    return { running: false, exitCode: 137, exitUnknown: true, startedAt: state.startedAt, finishedAt: this.clock.now() };
  }

  async stop(handle: ContainerHandle, graceMs: number): Promise<void> {
    const state = this.states.get(handle.id);
    // Signal only a process that is still the one we started: a dead one's pid may be reused.
    if (state?.pid === undefined || !(await this.isRunning(handle))) return;
    const pid = state.pid;
    killGroup(pid, 'SIGTERM');
    if (await this.waitForExit(handle, graceMs)) return;
    this.logger.info({ id: handle.id, pid, graceMs }, 'grace period over: SIGKILL');
    if (await this.isRunning(handle)) killGroup(pid, 'SIGKILL');
    await this.waitForExit(handle, 5000);
  }

  async remove(handle: ContainerHandle): Promise<void> {
    if (this.states.has(handle.id) && (await this.isRunning(handle))) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_RUNTIME', 'cannot remove a running process; stop it first', { context: { id: handle.id } });
    }
    this.states.delete(handle.id);
    this.children.delete(handle.id);
    this.hostPorts.release(handle.id);
    await removeState(this.options.stateDir, handle.id);
  }

  async list(): Promise<ContainerHandle[]> {
    await this.prepare();
    const out: ContainerHandle[] = [];
    for (const state of await readStates(this.options.stateDir)) {
      if (state.labels[LABEL_NODE] !== this.options.node) continue;
      if (this.states.has(state.id)) {
        out.push(toHandle(this.states.get(state.id)!, false));
        continue;
      }
      if (state.pid === undefined) {
        // Created but never started: nothing to adopt.
        await removeState(this.options.stateDir, state.id);
        continue;
      }
      // A process that is gone (or whose pid now belongs to another) is still listed, so its
      // pod sees the exit (status unknown) and removing it cleans up the state file.
      if (!processMatches(state.pid, state.procStart)) this.logger.info({ id: state.id, pid: state.pid }, 'process from a previous run has exited');
      this.states.set(state.id, state);
      for (const p of state.ports) this.hostPorts.adopt(hostPortKey(state.ref, p), p.hostPort, state.id);
      this.children.set(state.id, { env: this.processEnv(state.ref.pod, state.cwd, state.ports, {}) });
      out.push(toHandle(state, true));
    }
    return out;
  }

  async exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult> {
    if (command.length === 0) return { exitCode: 126, output: 'empty command', timedOut: false };
    const child = this.spawnIn(handle, command, 'ignore');
    return new Promise<ExecResult>((resolve) => {
      let output = '';
      let timedOut = false;
      const take = (chunk: Buffer): void => {
        if (output.length < MAX_EXEC_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_EXEC_OUTPUT - output.length);
      };
      child.stdout?.on('data', take);
      child.stderr?.on('data', take);
      const timer = this.clock.setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      child.once('error', (err) => {
        this.clock.clearTimeout(timer);
        resolve({ exitCode: 127, output: err.message, timedOut: false });
      });
      child.once('close', (code, signal) => {
        this.clock.clearTimeout(timer);
        resolve({ exitCode: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0), output, timedOut });
      });
    });
  }

  logsPath(handle: ContainerHandle): string | undefined {
    return this.states.get(handle.id)?.logPath ?? handle.logPath;
  }

  /**
   * Spawns `command` as the container's process would be: its env, working dir and user, in
   * a process group of its own (see killProcessGroup). Exec probes, hooks and `capstan exec`
   * use it. stdout and stderr are pipes; stdin is a pipe or ignored.
   */
  spawnIn(handle: ContainerHandle, command: string[], stdin: 'pipe' | 'ignore'): ChildProcess {
    const state = this.states.get(handle.id);
    const entry = this.children.get(handle.id);
    if (state === undefined || entry === undefined) throw this.unknown(handle);
    return spawn(command[0]!, command.slice(1), { cwd: state.cwd, env: entry.env, ...this.identity(state), detached: true, stdio: [stdin, 'pipe', 'pipe'] });
  }

  onExit(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** spawn's uid and gid for pods (libuv also drops the supplementary groups), or nothing to run as ourselves. */
  private identity(state: ProcessStateFile): { uid?: number; gid?: number } {
    if (state.uid !== undefined && state.gid !== undefined) return { uid: state.uid, gid: state.gid };
    return this.user === undefined ? {} : { uid: this.user.uid, gid: this.user.gid };
  }

  /**
   * The container's working dir. By default `<pod dir>/work`, owned by the pod user (0700);
   * a relative workingDir lives inside it. An absolute one is used as it is, but when pods run
   * as another user only if that user could reach it on its own: the process enters it before
   * it drops root, so `workingDir: /root` must not hand it what it could not open.
   */
  private async workDir(podDir: string, wanted: string | undefined, ref: CreateRequest['ref'], user = this.user): Promise<string> {
    const podWork = join(podDir, 'work');
    const cwd = workingDir(podWork, wanted);
    if (user === undefined) {
      await mkdir(cwd, { recursive: true });
      return cwd;
    }
    // The pod dir lets the pod user pass (not list) on the way to its working dir.
    await mkdir(podDir, { recursive: true, mode: 0o711 });
    await chmod(dirname(podDir), 0o711);
    await chmod(podDir, 0o711);
    if (cwd !== podWork && !cwd.startsWith(podWork + sep)) {
      const reachable = await stat(cwd).then((s) => s.isDirectory() && userCanReach(cwd, user), () => false);
      if (!reachable) {
        throw new CapstanError(
          'CAPSTAN_ERR_AGENT_CONTAINER_CONFIG',
          `workingDir ${cwd} is not a directory user ${user.name} (uid ${user.uid}) can enter; the process runtime runs pods as that user`,
          { context: { ...ref, workingDir: cwd } },
        );
      }
      return cwd;
    }
    // Each level from the pod's work dir down to the working dir is the pod user's.
    await mkdir(cwd, { recursive: true, mode: 0o700 });
    let dir = cwd;
    for (;;) {
      await chown(dir, user.uid, user.gid);
      if (dir === podWork) break;
      dir = dirname(dir);
    }
    await chmod(podWork, 0o700);
    return cwd;
  }

  private async isRunning(handle: ContainerHandle): Promise<boolean> {
    return (await this.inspect(handle)).running;
  }

  private async waitForExit(handle: ContainerHandle, ms: number): Promise<boolean> {
    const entry = this.children.get(handle.id);
    const deadline = this.clock.now() + ms;
    if (entry?.child !== undefined) {
      if (entry.exit !== undefined) return true;
      const child = entry.child;
      return new Promise<boolean>((resolve) => {
        const onExit = (): void => {
          this.clock.clearTimeout(timer);
          resolve(true);
        };
        const timer = this.clock.setTimeout(() => {
          child.off('exit', onExit);
          resolve(entry.exit !== undefined);
        }, ms);
        child.once('exit', onExit);
      });
    }
    // Adopted: poll, since only the parent hears about the exit.
    const poll = this.options.pollMs ?? 50;
    while (this.clock.now() < deadline) {
      if (!(await this.isRunning(handle))) return true;
      await sleep(this.clock, Math.min(poll, deadline - this.clock.now()));
    }
    return !(await this.isRunning(handle));
  }

  /** Host ports held by `owner` (released on remove, or here when one cannot be had). */
  private async choosePorts(container: ContainerSpec, ref: ContainerRef, owner: string): Promise<PortBinding[]> {
    const out: PortBinding[] = [];
    try {
      for (const p of container.ports ?? []) {
        let hostPort: number;
        if (p.hostPort !== undefined && p.hostPort > 0) {
          if (!(await portIsFree(p.hostPort, this.host))) {
            throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `host port ${p.hostPort} is already in use on ${this.host}`, {
              context: { container: ref.container, port: p.hostPort },
            });
          }
          hostPort = p.hostPort;
        } else {
          try {
            hostPort = await this.hostPorts.allocate(hostPortKey(ref, p), p.containerPort, owner);
          } catch (err) {
            throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `container "${ref.container}" port ${p.name ?? p.containerPort}: ${(err as Error).message}`, {
              cause: err,
              context: { container: ref.container, port: p.containerPort },
            });
          }
        }
        out.push({ name: p.name, containerPort: p.containerPort, hostPort, protocol: p.protocol ?? 'TCP' });
      }
    } catch (err) {
      this.hostPorts.release(owner);
      throw err;
    }
    return out;
  }

  private processEnv(pod: string, cwd: string, ports: PortBinding[], env: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = { PATH: this.options.path ?? process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, HOSTNAME: pod };
    if (ports.length > 0) out.PORT = String(ports[0].hostPort);
    for (const p of ports) if (p.name !== undefined) out[portEnvName(p.name)] = String(p.hostPort);
    return { ...out, ...env };
  }

  private unknown(handle: ContainerHandle): CapstanError {
    return new CapstanError('CAPSTAN_ERR_AGENT_RUNTIME', `unknown process container ${handle.id}`, { context: { id: handle.id } });
  }
}

function toHandle(state: ProcessStateFile, adopted: boolean): ContainerHandle {
  return {
    id: state.id,
    runtime: 'process',
    ref: state.ref,
    labels: state.labels,
    ports: state.ports,
    pid: state.pid,
    startedAt: state.startedAt,
    logPath: state.logPath,
    adopted,
  };
}

/** Signal a whole process group; a group already gone is not an error. */
export function killProcessGroup(pid: number, signal: NodeJS.Signals): void {
  killGroup(pid, signal);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** An absolute workingDir is used as it is; a relative one lives inside the pod's own work dir. */
function workingDir(podWork: string, wanted: string | undefined): string {
  if (wanted === undefined || wanted === '') return podWork;
  if (isAbsolute(wanted)) return wanted;
  const resolved = resolve(podWork, wanted);
  return resolved === podWork || resolved.startsWith(podWork + sep) ? resolved : podWork;
}

/** Names become path segments: keep them to a safe alphabet. */
function safe(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_').replace(/^\.+/, '_');
}
