// The runtime driver seam: what the pod manager needs from Docker or from plain processes.
// Drivers are effectful; everything that decides (restarts, probes, status) lives above.

import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import type { ContainerSpec } from '../api/cluster.js';
import type { PodSecurityContext } from '../api/pod.js';
import type { ResolvedMount } from './volumes.js';

/** Labels every container the agent creates carries; `list()` finds its own by them. */
export const LABEL_POD = 'capstan.dev/pod';
export const LABEL_NAMESPACE = 'capstan.dev/namespace';
export const LABEL_NODE = 'capstan.dev/node';
export const LABEL_CONTAINER = 'capstan.dev/container';
/** Which start of the container this is (0 for the first): survives an agent restart. */
export const LABEL_RESTART_COUNT = 'capstan.dev/restart-count';
/** Hash of the container spec, so an adopted container from an older spec is replaced. */
export const LABEL_SPEC_HASH = 'capstan.dev/spec-hash';

export type RuntimeName = 'process' | 'docker';

export interface ContainerRef {
  namespace: string;
  pod: string;
  container: string;
}

/** A container port and the host port it is reachable on. */
export interface PortBinding {
  name?: string;
  containerPort: number;
  hostPort: number;
  protocol: 'TCP' | 'UDP';
}

export interface ContainerHandle {
  /** Runtime id: the Docker container id, or the process runtime's own id. */
  id: string;
  runtime: RuntimeName;
  ref: ContainerRef;
  labels: Record<string, string>;
  ports: PortBinding[];
  /** Process id, for the process runtime. */
  pid?: number;
  /** When the container started (ms since epoch), once started. */
  startedAt?: number;
  /** Where stdout and stderr go, when the runtime writes them to a file. */
  logPath?: string;
  /** True when the container was found on start-up rather than created by this instance. */
  adopted?: boolean;
}

export interface ContainerState {
  running: boolean;
  exitCode?: number;
  oomKilled?: boolean;
  /** The exit code could not be known (a process adopted after an agent restart). */
  exitUnknown?: boolean;
  startedAt?: number;
  finishedAt?: number;
  /** The runtime's own words on why it stopped (Docker's `State.Error`). */
  message?: string;
  /** The container no longer exists in the runtime. */
  missing?: boolean;
}

export interface CreateRequest {
  ref: ContainerRef;
  container: ContainerSpec;
  /** Resolved environment (see `resolveEnv`). */
  env: Record<string, string>;
  restartCount: number;
  /** The pod's securityContext (the container's own fields override it). */
  podSecurity?: PodSecurityContext;
  /** The node runs privileged containers (`--allow-privileged`); else a privileged one is refused. */
  allowPrivileged?: boolean;
  /** The container's volume mounts, their folders already made (see volumes.ts). */
  mounts?: ResolvedMount[];
}

/** The data of the pod's imagePullSecrets that exist, in the pod's order. */
export interface PullCredentials {
  secrets: Array<Record<string, string>>;
}

export interface ExecResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export interface PullProgress {
  status?: string;
  id?: string;
  progress?: string;
}

export interface RuntimeDriver {
  readonly name: RuntimeName;
  /** Make the image available (pull per imagePullPolicy). Throws CAPSTAN_ERR_AGENT_IMAGE_PULL. */
  ensureImage(container: ContainerSpec, onProgress?: (p: PullProgress) => void, credentials?: PullCredentials): Promise<void>;
  /** Create the container (ports chosen, not yet running). */
  create(request: CreateRequest): Promise<ContainerHandle>;
  start(handle: ContainerHandle): Promise<ContainerHandle>;
  /** SIGTERM (or the image's stop signal), wait up to `graceMs`, then SIGKILL; resolves once it has exited. */
  stop(handle: ContainerHandle, graceMs: number): Promise<void>;
  /** Forget the container and free what it held (state file, Docker container). Idempotent. */
  remove(handle: ContainerHandle): Promise<void>;
  inspect(handle: ContainerHandle): Promise<ContainerState>;
  /** Containers this agent owns on this node (by the labels above), running or not. */
  list(): Promise<ContainerHandle[]>;
  /** Run a command in the container's context (exec probes, preStop hooks). */
  exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult>;
  logsPath(handle: ContainerHandle): string | undefined;
  /** Called when the runtime sees a container exit, so the manager need not wait for its next pass. */
  onExit?(listener: (id: string) => void): () => void;
  /** Resolves when the runtime answers; throws (CAPSTAN_ERR_AGENT_RUNTIME, reason RuntimeUnavailable) when it does not. */
  ping?(): Promise<void>;
  /**
   * Where a pod's containers get their /etc/resolv.conf: a host file to bind read-only, or
   * undefined to keep the runtime's own (the node agent sets it while its DNS runs).
   */
  setPodResolvConf?(source: ((ref: ContainerRef) => Promise<string | undefined>) | undefined): void;
}

/** `context.reason` of a CAPSTAN_ERR_AGENT_RUNTIME error raised because the runtime itself did not answer. */
export const RUNTIME_UNAVAILABLE = 'RuntimeUnavailable';

/** True when `err` says the runtime could not be reached at all (not that one call failed). */
export function isRuntimeUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; context?: { reason?: unknown } } | undefined;
  return e?.code === 'CAPSTAN_ERR_AGENT_RUNTIME' && e.context?.reason === RUNTIME_UNAVAILABLE;
}

export function ownershipLabels(ref: ContainerRef, node: string, restartCount: number, container: ContainerSpec): Record<string, string> {
  return {
    [LABEL_POD]: ref.pod,
    [LABEL_NAMESPACE]: ref.namespace,
    [LABEL_NODE]: node,
    [LABEL_CONTAINER]: ref.container,
    [LABEL_RESTART_COUNT]: String(restartCount),
    [LABEL_SPEC_HASH]: containerSpecHash(container),
  };
}

/** The ref a set of labels names, or undefined when they are not a complete set. */
export function refFromLabels(labels: Record<string, string> | undefined): ContainerRef | undefined {
  const namespace = labels?.[LABEL_NAMESPACE];
  const pod = labels?.[LABEL_POD];
  const container = labels?.[LABEL_CONTAINER];
  if (!namespace || !pod || !container) return undefined;
  return { namespace, pod, container };
}

/** Stable hash of the parts of a container spec that need a new container when they change. */
export function containerSpecHash(container: ContainerSpec): string {
  const relevant = {
    image: container.image,
    command: container.command ?? [],
    args: container.args ?? [],
    workingDir: container.workingDir ?? '',
    env: container.env ?? [],
    envFrom: container.envFrom ?? [],
    ports: container.ports ?? [],
    resources: container.resources ?? {},
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

/** `PORT_<NAME>` for a named port: upper case, anything else than A-Z0-9 becomes `_`. */
export function portEnvName(name: string): string {
  return `PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Host ports by container port name (or number when unnamed), as `PodStatus.ports` has them. */
export function portMap(bindings: PortBinding[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of bindings) out[b.name ?? String(b.containerPort)] = b.hostPort;
  return out;
}

/** The host port a probe or hook port (name or number) reaches. Unknown numbers are used as they are. */
export function resolveHostPort(bindings: PortBinding[], port: number | string): number | undefined {
  if (typeof port === 'string' && !/^[0-9]+$/.test(port)) return bindings.find((b) => b.name === port)?.hostPort;
  const n = Number(port);
  return bindings.find((b) => b.containerPort === n)?.hostPort ?? n;
}

/** A free TCP port on `host`, chosen by the kernel. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on `host` right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
