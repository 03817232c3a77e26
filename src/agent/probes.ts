// Probe state machines, one per probe per running container. Pure: the caller feeds results
// and the time, and reads back the output and when the next probe is due.
//
// Kubernetes semantics: a result changes the output only after `successThreshold` (or
// `failureThreshold`) identical results in a row. Readiness starts at failure (not ready),
// liveness at success, startup at unknown. Until the startup probe succeeds, liveness and
// readiness do not run; a startup or liveness failure restarts the container.

export type ProbeKind = 'startup' | 'liveness' | 'readiness';
export type ProbeResult = 'success' | 'failure';
export type ProbeOutput = ProbeResult | 'unknown';

/** Timing settings in milliseconds, after Kubernetes defaults. */
export interface ProbeSettings {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

export const PROBE_DEFAULTS = Object.freeze({
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
});

export interface ProbeTimingFields {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** Defaults applied, seconds → milliseconds. Liveness and startup need one success (as in Kubernetes). */
export function probeSettings(kind: ProbeKind, probe: ProbeTimingFields): ProbeSettings {
  const pick = (v: number | undefined, d: number, min: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= min ? v : d);
  return {
    initialDelayMs: pick(probe.initialDelaySeconds, PROBE_DEFAULTS.initialDelaySeconds, 0) * 1000,
    periodMs: pick(probe.periodSeconds, PROBE_DEFAULTS.periodSeconds, 1) * 1000,
    timeoutMs: pick(probe.timeoutSeconds, PROBE_DEFAULTS.timeoutSeconds, 1) * 1000,
    successThreshold: kind === 'readiness' ? pick(probe.successThreshold, PROBE_DEFAULTS.successThreshold, 1) : 1,
    failureThreshold: pick(probe.failureThreshold, PROBE_DEFAULTS.failureThreshold, 1),
  };
}

export interface ProbeState {
  kind: ProbeKind;
  output: ProbeOutput;
  /** Identical results in a row, counting the last one. */
  run: number;
  last?: ProbeResult;
  lastMessage?: string;
  /** When the next probe is due. */
  dueAt: number;
  probes: number;
}

export function initialProbeState(kind: ProbeKind, settings: ProbeSettings, containerStartedAt: number): ProbeState {
  const output: ProbeOutput = kind === 'readiness' ? 'failure' : kind === 'liveness' ? 'success' : 'unknown';
  return { kind, output, run: 0, dueAt: containerStartedAt + settings.initialDelayMs, probes: 0 };
}

export function probeDue(state: ProbeState, now: number): boolean {
  return now >= state.dueAt;
}

/** Feed one result observed at `now`. */
export function recordProbeResult(state: ProbeState, settings: ProbeSettings, result: ProbeResult, now: number, message?: string): ProbeState {
  const run = state.last === result ? state.run + 1 : 1;
  const threshold = result === 'success' ? settings.successThreshold : settings.failureThreshold;
  const output: ProbeOutput = run >= threshold ? result : state.output;
  return { ...state, output, run, last: result, lastMessage: message, dueAt: now + settings.periodMs, probes: state.probes + 1 };
}

export interface ContainerProbeStates {
  startup?: ProbeState;
  liveness?: ProbeState;
  readiness?: ProbeState;
}

/** What the probes say about a running container. */
export interface ProbeVerdict {
  /** Startup probe passed (or there is none). */
  started: boolean;
  ready: boolean;
  /** Set when the container must be restarted, with why. */
  restart?: string;
}

export function probeVerdict(states: ContainerProbeStates): ProbeVerdict {
  if (states.startup !== undefined && states.startup.output !== 'success') {
    if (states.startup.output === 'failure') return { started: false, ready: false, restart: `Startup probe failed: ${states.startup.lastMessage ?? 'failure'}` };
    return { started: false, ready: false };
  }
  if (states.liveness?.output === 'failure') {
    return { started: true, ready: false, restart: `Liveness probe failed: ${states.liveness.lastMessage ?? 'failure'}` };
  }
  const ready = states.readiness === undefined ? true : states.readiness.output === 'success';
  return { started: true, ready };
}

/** The probes due at `now`, in the order they should run (startup holds the others). */
export function dueProbes(states: ContainerProbeStates, now: number): ProbeKind[] {
  if (states.startup !== undefined && states.startup.output !== 'success') return probeDue(states.startup, now) ? ['startup'] : [];
  const due: ProbeKind[] = [];
  if (states.liveness !== undefined && probeDue(states.liveness, now)) due.push('liveness');
  if (states.readiness !== undefined && probeDue(states.readiness, now)) due.push('readiness');
  return due;
}

/** When any probe of the container is next due (for scheduling the next wake-up). */
export function nextProbeAt(states: ContainerProbeStates): number | undefined {
  if (states.startup !== undefined && states.startup.output !== 'success') return states.startup.dueAt;
  const times = [states.liveness?.dueAt, states.readiness?.dueAt].filter((t): t is number => t !== undefined);
  return times.length === 0 ? undefined : Math.min(...times);
}
