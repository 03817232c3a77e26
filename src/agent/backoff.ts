// Restart policy and back-off, as the kubelet does them. Pure functions of (state, time).
//
// The kubelet keeps one back-off entry per container: the first crash restarts at once and
// starts the window at 10 s; each later crash waits `finishedAt + window` (shown as
// CrashLoopBackOff) and doubles the window up to 300 s. An entry not touched for twice the
// maximum (10 minutes) has expired, so a container that ran cleanly that long starts over.
// Image pulls use the same shape, keyed on the pull: ErrImagePull, then ImagePullBackOff.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 10_000, maxMs: 300_000 });

export interface BackoffEntry {
  /** The current window. */
  backoffMs: number;
  /** When the window was last stepped (a restart or a pull attempt). */
  lastUpdate: number;
}

function expired(entry: BackoffEntry, eventTime: number, options: BackoffOptions): boolean {
  return eventTime - entry.lastUpdate > 2 * options.maxMs;
}

/** Step the window: start at the initial value, or double it (up to the maximum). */
export function backoffNext(entry: BackoffEntry | undefined, now: number, options: BackoffOptions = DEFAULT_BACKOFF): BackoffEntry {
  if (entry === undefined || expired(entry, now, options)) return { backoffMs: options.initialMs, lastUpdate: now };
  return { backoffMs: Math.min(entry.backoffMs * 2, options.maxMs), lastUpdate: now };
}

/**
 * For a container that finished at `finishedAt`: the time it may start again, or undefined
 * when it may start now (no entry, the entry expired, or the window has passed).
 */
export function crashBackoffUntil(
  entry: BackoffEntry | undefined,
  finishedAt: number,
  now: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number | undefined {
  if (entry === undefined || expired(entry, finishedAt, options)) return undefined;
  const until = finishedAt + entry.backoffMs;
  return now < until ? until : undefined;
}

/** For an image pull: the time the next attempt may run, or undefined when it may run now. */
export function pullBackoffUntil(entry: BackoffEntry | undefined, now: number, options: BackoffOptions = DEFAULT_BACKOFF): number | undefined {
  if (entry === undefined || expired(entry, now, options)) return undefined;
  const until = entry.lastUpdate + entry.backoffMs;
  return now < until ? until : undefined;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** Whether a container that exited with `exitCode` is started again. */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCode !== 0;
  return false;
}

/** Reasons as `kubectl get pods` shows them. */
export const REASONS = {
  containerCreating: 'ContainerCreating',
  crashLoopBackOff: 'CrashLoopBackOff',
  errImagePull: 'ErrImagePull',
  imagePullBackOff: 'ImagePullBackOff',
  errImageNeverPull: 'ErrImageNeverPull',
  createContainerConfigError: 'CreateContainerConfigError',
  createContainerError: 'CreateContainerError',
  /** A main container waiting for the pod's init containers. */
  podInitializing: 'PodInitializing',
  completed: 'Completed',
  error: 'Error',
  oomKilled: 'OOMKilled',
  unknown: 'ContainerStatusUnknown',
} as const;

/** The reason a terminated container shows. */
export function terminationReason(exit: { exitCode: number; oomKilled?: boolean; unknown?: boolean }): string {
  if (exit.oomKilled) return REASONS.oomKilled;
  if (exit.unknown) return REASONS.unknown;
  return exit.exitCode === 0 ? REASONS.completed : REASONS.error;
}

/** `back-off 20s restarting failed container=web pod=web-1_default`, as the kubelet words it. */
export function crashLoopMessage(backoffMs: number, container: string, pod: string, namespace: string): string {
  return `back-off ${formatSeconds(backoffMs)} restarting failed container=${container} pod=${pod}_${namespace}`;
}

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m}m0s` : `${m}m${s % 60}s`;
}
