// The `docker` runtime over dockerode, with the API version pinned so a newer daemon never
// changes the wire format under us. Containers use host networking: a container port is
// reached on the host at the same number when it is free, at hostPort when the spec sets one,
// else at a port the agent allocates (host-ports.ts). While the node's DNS runs, each
// container binds its pod's resolv.conf at /etc/resolv.conf (Docker refuses --dns with host
// networking).

import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { CapstanError, silentLogger, type Logger } from '../common/index.js';
import { parseQuantity, pullPolicyFor } from '../api/index.js';
import type { ContainerSpec } from '../api/cluster.js';
import { systemClock, type AgentClock } from './clock.js';
import { REASONS } from './backoff.js';
import { expandVars } from './env.js';
import { dockerSecurity, effectiveSecurity } from './docker-security.js';
import { pickRegistryAuth } from './registry-auth.js';
import {
  LABEL_NODE,
  RUNTIME_UNAVAILABLE,
  ownershipLabels,
  portEnvName,
  portIsFree,
  refFromLabels,
  type ContainerHandle,
  type ContainerRef,
  type ContainerState,
  type CreateRequest,
  type ExecResult,
  type PortBinding,
  type PullCredentials,
  type PullProgress,
  type RuntimeDriver,
} from './runtime.js';
import { dockerUsage, type ContainerUsage, type DockerStats } from './stats.js';
import { HostPortAllocator, hostPortKey } from './host-ports.js';

// dockerode, with the gRPC, protobuf and SSH modules it brings (about 29 MiB resident, a
// WebAssembly heap among it), loads when a Docker client is first made, not with the CLI.
const requireModule = createRequire(import.meta.url);
const newDocker = (options: Docker.DockerOptions): Docker => new (requireModule('dockerode') as typeof Docker)(options);

export const DOCKER_API_VERSION = 'v1.41';
/** The port bindings, as JSON, so an adopted container's probes know where to go. */
export const LABEL_PORTS = 'capstan.dev/ports';

export interface DockerRuntimeOptions {
  node: string;
  /** A client to use; by default one on the local socket (or DOCKER_HOST) with the pinned API version. */
  docker?: Docker;
  clock?: AgentClock;
  logger?: Logger;
  /** How long a pull may take before it fails as ErrImagePull (default 5 minutes). */
  pullTimeoutMs?: number;
  /** Allocates host ports (default: one over this host's ports, checked on every address). */
  hostPorts?: HostPortAllocator;
}

const MAX_EXEC_OUTPUT = 64 * 1024;

interface DockerApiError {
  statusCode?: number;
  json?: { message?: string };
  message?: string;
}

/** The daemon's own words, without docker-modem's `(HTTP code 500) server error - ` prefix. */
function apiMessage(err: unknown): string {
  const e = err as DockerApiError;
  const text = e.json?.message ?? e.message ?? String(err);
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

function statusOf(err: unknown): number | undefined {
  return (err as DockerApiError).statusCode;
}

// The socket is missing or refuses (daemon stopped), or the connection dropped mid-call
// (daemon killed): the daemon did not answer, as opposed to answering with an error.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNABORTED']);

function unreachable(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (e?.statusCode !== undefined) return false;
  return (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) || (typeof e?.message === 'string' && /socket hang up/.test(e.message));
}

/** CAPSTAN_ERR_AGENT_RUNTIME with the daemon's words, marked RuntimeUnavailable when it did not answer at all. */
function runtimeError(err: unknown, context: Record<string, unknown> = {}): CapstanError {
  const down = unreachable(err);
  const message = down ? `the Docker daemon does not answer: ${apiMessage(err)}` : apiMessage(err);
  return new CapstanError('CAPSTAN_ERR_AGENT_RUNTIME', message, { cause: err, context: { ...context, ...(down ? { reason: RUNTIME_UNAVAILABLE } : {}) } });
}

/** Why Docker tests or a docker agent cannot run here, or undefined when the daemon answers. */
export async function dockerUnavailableReason(docker: Docker = newDocker({ version: DOCKER_API_VERSION }), timeoutMs = 3000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return undefined;
  } catch (err) {
    return `no Docker daemon answers: ${apiMessage(err)}`;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Read a pull (or import) progress stream to its end. Resolves with the first `error` any
 * line carried, or undefined when none did: the daemon reports most failures this way, after
 * it has already answered 200.
 */
export function followProgressStream(stream: NodeJS.ReadableStream, onProgress?: (p: PullProgress) => void): Promise<string | undefined> {
  return new Promise<string | undefined>((resolve, reject) => {
    let failure: string | undefined;
    let buffered = '';
    const handleLine = (line: string): void => {
      if (line.trim() === '') return;
      let parsed: { error?: string; errorDetail?: { message?: string }; status?: string; id?: string; progress?: string };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        return;
      }
      if (parsed.error !== undefined || parsed.errorDetail?.message !== undefined) {
        failure ??= parsed.errorDetail?.message ?? parsed.error;
        return;
      }
      onProgress?.({ status: parsed.status, id: parsed.id, progress: parsed.progress });
    };
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        handleLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    let ended = false;
    stream.on('end', () => {
      ended = true;
      handleLine(buffered);
      resolve(failure);
    });
    stream.on('error', reject);
    // Closed without an end (the connection dropped or was aborted): not a finished pull.
    stream.on('close', () => {
      if (!ended) reject(new Error('the progress stream closed before it ended'));
    });
  });
}

export class DockerRuntime implements RuntimeDriver {
  readonly name = 'docker' as const;
  readonly docker: Docker;
  private readonly clock: AgentClock;
  private readonly logger: Logger;
  /** Fields already warned about as not enforced, per container. */
  private readonly warned = new Set<string>();
  readonly hostPorts: HostPortAllocator;
  private resolvConf: ((ref: ContainerRef) => Promise<string | undefined>) | undefined;

  constructor(private readonly options: DockerRuntimeOptions) {
    this.docker = options.docker ?? newDocker({ version: DOCKER_API_VERSION });
    this.clock = options.clock ?? systemClock();
    this.logger = (options.logger ?? silentLogger()).child({ component: 'agent.docker' });
    this.hostPorts = options.hostPorts ?? new HostPortAllocator({ isFree: (port) => portIsFree(port, '0.0.0.0') });
  }

  setPodResolvConf(source: ((ref: ContainerRef) => Promise<string | undefined>) | undefined): void {
    this.resolvConf = source;
  }

  async ensureImage(container: ContainerSpec, onProgress?: (p: PullProgress) => void, credentials?: PullCredentials): Promise<void> {
    const image = container.image;
    const policy = container.imagePullPolicy ?? pullPolicyFor(image);
    if (policy !== 'Always') {
      if (await this.hasImage(image)) return;
      if (policy === 'Never') {
        throw new CapstanError('CAPSTAN_ERR_AGENT_IMAGE_PULL', `Container image "${image}" is not present with pull policy of Never`, {
          context: { image, reason: REASONS.errImageNeverPull },
        });
      }
    }
    await this.pull(image, onProgress, credentials);
  }

  /**
   * Pull and follow the progress stream: a failed pull can still answer 200, with `error` on a later line.
   * The image's registry credentials, when the pull Secrets have some, go to the daemon as authconfig (never logged).
   */
  async pull(image: string, onProgress?: (p: PullProgress) => void, credentials?: PullCredentials): Promise<void> {
    const fail = (message: string, cause?: unknown): CapstanError =>
      new CapstanError('CAPSTAN_ERR_AGENT_IMAGE_PULL', `Failed to pull image "${image}": ${message}`, {
        cause,
        context: { image, reason: REASONS.errImagePull },
      });
    // An unreachable registry can keep a pull waiting for minutes: give up after a bound.
    const timeoutMs = this.options.pullTimeoutMs ?? 300_000;
    const abort = new AbortController();
    const timer = this.clock.setTimeout(() => abort.abort(), timeoutMs);
    let failure: string | undefined;
    try {
      const authconfig = credentials !== undefined ? pickRegistryAuth(image, credentials.secrets) : undefined;
      const stream = await this.docker.pull(image, { abortSignal: abort.signal, ...(authconfig !== undefined ? { authconfig } : {}) });
      failure = await followProgressStream(stream, onProgress);
    } catch (err) {
      if (!abort.signal.aborted && unreachable(err)) throw runtimeError(err, { image });
      throw fail(abort.signal.aborted ? `no answer within ${Math.round(timeoutMs / 1000)}s` : apiMessage(err), err);
    } finally {
      this.clock.clearTimeout(timer);
    }
    if (failure !== undefined) throw fail(failure);
    this.logger.info({ image }, 'image pulled');
  }

  async create(request: CreateRequest): Promise<ContainerHandle> {
    const { ref, container } = request;
    const name = `capstan_${ref.namespace}_${ref.pod}_${ref.container}_${request.restartCount}_${randomBytes(3).toString('hex')}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
    // Host networking: a port is the container port when it is free on this host (the usual
    // case, and the only one for images that ignore PORT), else one the node allocates, passed
    // as PORT / PORT_<NAME>, so several replicas of an app that honours PORT share one host.
    const ports: PortBinding[] = [];
    try {
      for (const p of container.ports ?? []) {
        let hostPort = p.hostPort !== undefined && p.hostPort > 0 ? p.hostPort : 0;
        if (hostPort === 0) {
          try {
            hostPort = await this.hostPorts.allocate(hostPortKey(ref, p), p.containerPort, name);
          } catch (err) {
            throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', `container "${ref.container}" port ${p.name ?? p.containerPort}: ${(err as Error).message}`, {
              cause: err,
              context: { ...ref, port: p.containerPort },
            });
          }
        }
        ports.push({ name: p.name, containerPort: p.containerPort, hostPort, protocol: p.protocol ?? 'TCP' });
      }
    } catch (err) {
      this.hostPorts.release(name);
      throw err;
    }
    try {
      return await this.createContainer(request, name, ports);
    } catch (err) {
      this.hostPorts.release(name);
      throw err;
    }
  }

  private async createContainer(request: CreateRequest, name: string, ports: PortBinding[]): Promise<ContainerHandle> {
    const { ref, container, env } = request;
    const portEnv: Record<string, string> = {};
    if (ports.length > 0) portEnv.PORT = String(ports[0]!.hostPort);
    for (const p of ports) if (p.name !== undefined) portEnv[portEnvName(p.name)] = String(p.hostPort);
    const fullEnv = { ...portEnv, ...env };
    const labels = { ...ownershipLabels(ref, this.options.node, request.restartCount, container), [LABEL_PORTS]: JSON.stringify(ports) };
    const limits = container.resources?.limits;
    // securityContext (see docker-security.ts): no-new-privileges unless escalation is allowed.
    const security = await this.security(request);
    const hostConfig: Docker.HostConfig = { NetworkMode: 'host', ...security.hostConfig };
    // Each volume mount binds the folder (or, with a subPath, the file) the agent made for it.
    const mounts: NonNullable<Docker.HostConfig['Mounts']> = (request.mounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly }));
    // The node's DNS as the resolver (and the pod's search domains), unless a volume mount is there already.
    const resolvConf = mounts.some((m) => m.Target === '/etc/resolv.conf') ? undefined : await this.podResolvConf(ref);
    if (resolvConf !== undefined) mounts.push({ Type: 'bind', Source: resolvConf, Target: '/etc/resolv.conf', ReadOnly: true });
    if (mounts.length > 0) hostConfig.Mounts = mounts;
    try {
      if (limits?.cpu !== undefined) hostConfig.NanoCpus = parseQuantity(limits.cpu, 'cpu') * 1_000_000;
      if (limits?.memory !== undefined) hostConfig.Memory = parseQuantity(limits.memory, 'memory');
    } catch (err) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', (err as Error).message, { cause: err, context: { ...ref } });
    }
    const expand = (list: string[] | undefined): string[] | undefined => list?.map((a) => expandVars(a, fullEnv));
    const command = expand(container.command);
    const args = expand(container.args);
    try {
      const created = await this.docker.createContainer({
        name,
        Image: container.image,
        Labels: labels,
        Env: Object.entries(fullEnv).map(([k, v]) => `${k}=${v}`),
        // Kubernetes: command replaces the entrypoint (and drops the image's CMD), args replace CMD.
        ...(command !== undefined && command.length > 0 ? { Entrypoint: command, Cmd: args ?? [] } : args !== undefined && args.length > 0 ? { Cmd: args } : {}),
        ...(container.workingDir ? { WorkingDir: container.workingDir } : {}),
        ...(security.user !== undefined ? { User: security.user } : {}),
        HostConfig: hostConfig,
      });
      this.hostPorts.transfer(name, created.id);
      return { id: created.id, runtime: 'docker', ref, labels, ports };
    } catch (err) {
      throw runtimeError(err, { ...ref, image: container.image });
    }
  }

  async start(handle: ContainerHandle): Promise<ContainerHandle> {
    const c = this.docker.getContainer(handle.id);
    try {
      await c.start();
      const info = await c.inspect();
      return { ...handle, startedAt: Date.parse(info.State.StartedAt), logPath: info.LogPath || undefined };
    } catch (err) {
      throw runtimeError(err, { ...handle.ref, id: handle.id });
    }
  }

  async stop(handle: ContainerHandle, graceMs: number): Promise<void> {
    try {
      // The daemon sends the stop signal, waits `t` seconds, then SIGKILL.
      await this.docker.getContainer(handle.id).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      const status = statusOf(err);
      if (status === 304 || status === 404) return; // already stopped, or gone
      throw runtimeError(err, { id: handle.id });
    }
  }

  async remove(handle: ContainerHandle): Promise<void> {
    try {
      await this.docker.getContainer(handle.id).remove({ force: true });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || (status === 409 && /already in progress/.test(apiMessage(err)))) {
        this.hostPorts.release(handle.id);
        return;
      }
      throw runtimeError(err, { id: handle.id });
    }
    this.hostPorts.release(handle.id);
  }

  /** Docker's one-shot stats as usage (for the autoscaler); undefined when it cannot say. */
  async stats(handle: ContainerHandle): Promise<ContainerUsage | undefined> {
    try {
      return dockerUsage((await this.docker.getContainer(handle.id).stats({ stream: false })) as DockerStats);
    } catch {
      return undefined;
    }
  }

  async inspect(handle: ContainerHandle): Promise<ContainerState> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(handle.id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return { running: false, missing: true, exitCode: 137, exitUnknown: true };
      throw runtimeError(err, { id: handle.id });
    }
    const s = info.State;
    const time = (t: string | undefined): number | undefined => {
      const ms = t ? Date.parse(t) : NaN;
      return Number.isFinite(ms) && ms > 0 ? ms : undefined;
    };
    if (s.Running || s.Restarting) return { running: true, startedAt: time(s.StartedAt) };
    // Created but never started counts as exited; the worker then decides what to do.
    return {
      running: false,
      exitCode: s.ExitCode,
      oomKilled: s.OOMKilled,
      startedAt: time(s.StartedAt),
      finishedAt: time(s.FinishedAt),
      ...(s.Error ? { message: s.Error } : {}),
    };
  }

  async list(): Promise<ContainerHandle[]> {
    let infos: Docker.ContainerInfo[];
    try {
      infos = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_NODE}=${this.options.node}`] } });
    } catch (err) {
      throw runtimeError(err);
    }
    const out: ContainerHandle[] = [];
    for (const info of infos) {
      const ref = refFromLabels(info.Labels);
      if (ref === undefined) continue;
      let ports: PortBinding[] = [];
      try {
        ports = JSON.parse(info.Labels[LABEL_PORTS] ?? '[]') as PortBinding[];
      } catch {
        // An unreadable label only costs the probes their port names.
      }
      for (const p of ports) if (typeof p?.hostPort === 'number') this.hostPorts.adopt(hostPortKey(ref, p), p.hostPort, info.Id);
      out.push({ id: info.Id, runtime: 'docker', ref, labels: info.Labels, ports, startedAt: info.Created * 1000, adopted: true });
    }
    return out;
  }

  async exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult> {
    const container = this.docker.getContainer(handle.id);
    try {
      const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
      const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & { destroy(): void };
      let output = '';
      const sink = new PassThrough();
      sink.on('data', (chunk: Buffer) => {
        if (output.length < MAX_EXEC_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_EXEC_OUTPUT - output.length);
      });
      this.docker.modem.demuxStream(stream, sink, sink);
      const finished = await new Promise<boolean>((resolve) => {
        const timer = this.clock.setTimeout(() => {
          // Docker cannot kill an exec'd process; the probe just stops waiting for it.
          stream.destroy();
          resolve(false);
        }, timeoutMs);
        const done = (): void => {
          this.clock.clearTimeout(timer);
          resolve(true);
        };
        stream.on('end', done);
        stream.on('close', done);
        stream.on('error', done);
      });
      if (!finished) return { exitCode: 1, output, timedOut: true };
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? 1, output, timedOut: false };
    } catch (err) {
      return { exitCode: 126, output: apiMessage(err), timedOut: false };
    }
  }

  async ping(): Promise<void> {
    const reason = await dockerUnavailableReason(this.docker, 3000);
    if (reason !== undefined) throw new CapstanError('CAPSTAN_ERR_AGENT_RUNTIME', reason, { context: { reason: RUNTIME_UNAVAILABLE } });
  }

  logsPath(handle: ContainerHandle): string | undefined {
    return handle.logPath;
  }

  /** The securityContext as Docker settings; a refusal is CAPSTAN_ERR_AGENT_CONTAINER_CONFIG (CreateContainerConfigError). */
  private async security(request: CreateRequest): Promise<{ user?: string; hostConfig: Docker.HostConfig }> {
    const { ref, container } = request;
    const sc = effectiveSecurity(request.podSecurity, container.securityContext);
    // The image's user matters only to runAsNonRoot and to a group set without a user.
    let imageUser = '';
    if (sc.runAsNonRoot === true || (sc.runAsGroup !== undefined && sc.runAsUser === undefined)) {
      try {
        const info = await this.docker.getImage(container.image).inspect();
        imageUser = info.Config?.User ?? '';
      } catch (err) {
        throw runtimeError(err, { ...ref, image: container.image });
      }
    }
    const settings = dockerSecurity({
      pod: request.podSecurity,
      container: container.securityContext,
      containerName: ref.container,
      imageUser,
      allowPrivileged: request.allowPrivileged === true,
    });
    if ('refusal' in settings) {
      throw new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', settings.refusal, { context: { ...ref, reason: REASONS.createContainerConfigError } });
    }
    for (const field of settings.notEnforced) {
      const key = `${ref.namespace}/${ref.pod}/${ref.container}/${field}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      this.logger.warn({ ...ref, field }, `${field} Localhost is not enforced: the runtime's default profile applies`);
    }
    return settings;
  }

  /** The pod's resolv.conf on the host, while the node's DNS runs; a failure to write it keeps Docker's own. */
  private async podResolvConf(ref: ContainerRef): Promise<string | undefined> {
    if (this.resolvConf === undefined) return undefined;
    try {
      return await this.resolvConf(ref);
    } catch (err) {
      this.logger.warn({ ...ref, err }, "could not write the pod's resolv.conf; the container keeps the host's resolver");
      return undefined;
    }
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw runtimeError(err, { image });
    }
  }
}
