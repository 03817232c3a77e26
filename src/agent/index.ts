// The node agent's core. Typical use:
//   const driver = new ProcessRuntime({ stateDir, node }) // or new DockerRuntime({ node })
//   const manager = new PodManager({ driver, node, onStatus, envLookup })
//   await manager.sync(podsBoundToThisNode) // on every change; again on a timer is harmless
//   await manager.close({ stopContainers: false }) // on shutdown: containers stay for adoption
export { PodManager } from './pod-manager.js';
export type { PodManagerOptions } from './pod-manager.js';
export { PodWorker } from './pod-worker.js';
export type { PodWorkerDeps, PodWorkerState } from './pod-worker.js';
export { ProcessRuntime } from './process-runtime.js';
export type { ProcessRuntimeOptions } from './process-runtime.js';
export { DockerRuntime, dockerUnavailableReason, followProgressStream, DOCKER_API_VERSION, LABEL_PORTS } from './docker-runtime.js';
export type { DockerRuntimeOptions } from './docker-runtime.js';
export {
  LABEL_POD,
  LABEL_NAMESPACE,
  LABEL_NODE,
  LABEL_CONTAINER,
  LABEL_RESTART_COUNT,
  LABEL_SPEC_HASH,
  RUNTIME_UNAVAILABLE,
  isRuntimeUnavailable,
  ownershipLabels,
  refFromLabels,
  containerSpecHash,
  portEnvName,
  portMap,
  resolveHostPort,
  freePort,
  portIsFree,
} from './runtime.js';
export type {
  RuntimeName,
  RuntimeDriver,
  ContainerRef,
  ContainerHandle,
  ContainerState,
  CreateRequest,
  ExecResult,
  PortBinding,
  PullProgress,
} from './runtime.js';
export { resolveEnv, expandVars } from './env.js';
export { claimVolumePath, podVolumesDir, volumeEnvName } from './volumes.js';
export type { ResolvedMount } from './volumes.js';
export type { EnvLookup, EnvSourceRef } from './env.js';
export {
  PROBE_DEFAULTS,
  probeSettings,
  initialProbeState,
  recordProbeResult,
  probeDue,
  probeVerdict,
  dueProbes,
  nextProbeAt,
} from './probes.js';
export type { ProbeKind, ProbeResult, ProbeOutput, ProbeSettings, ProbeState, ProbeVerdict, ContainerProbeStates, ProbeTimingFields } from './probes.js';
export { runProbe } from './probe-run.js';
export type { ProbeAction, ProbeContext, ProbeOutcome } from './probe-run.js';
export {
  DEFAULT_BACKOFF,
  REASONS,
  backoffNext,
  crashBackoffUntil,
  pullBackoffUntil,
  shouldRestart,
  terminationReason,
  crashLoopMessage,
} from './backoff.js';
export type { BackoffEntry, BackoffOptions, RestartPolicy } from './backoff.js';
export { terminateContainer, MIN_GRACE_AFTER_PRESTOP_MS } from './termination.js';
export type { TerminateOptions } from './termination.js';
export { containerStatus, podPhase, podStatus } from './status.js';
export type { ContainerView, PodStatusInput } from './status.js';
export { systemClock, ManualClock, sleep } from './clock.js';
export type { AgentClock, TimerHandle } from './clock.js';
export { NodeAgent } from './node-agent.js';
export type { NodeAgentOptions, NodeAgentState } from './node-agent.js';
export type { AgentApiOptions, ApiEvent } from './api-client.js';
export { chooseRuntime, pickRuntime } from './choose-runtime.js';
export type { RuntimeChoice, ChosenRuntime } from './choose-runtime.js';
export { defaultPodUser, describePodUser, findPasswdUser, canSearch } from './pod-user.js';
export type { PodUser } from './pod-user.js';
// The exec stream protocol, for the CLI's `capstan exec` and the API server's proxy.
export { CHANNEL, EXEC_PROTOCOL, FrameDecoder, encodeFrame, encodeResize, parseExit } from './exec-frames.js';
export type { ExitMessage, Frame, ResizeMessage } from './exec-frames.js';
