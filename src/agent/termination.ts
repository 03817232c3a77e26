// Stopping a container the Kubernetes way: the preStop hook (exec or httpGet) runs first and
// counts against the grace period; then SIGTERM; then SIGKILL when the grace period is over.

import type { Logger } from '../common/index.js';
import type { ContainerSpec } from '../api/cluster.js';
import type { AgentClock } from './clock.js';
import { runProbe } from './probe-run.js';
import type { ContainerHandle, RuntimeDriver } from './runtime.js';

/** After a preStop hook, the kubelet still allows at least this long for SIGTERM to work. */
export const MIN_GRACE_AFTER_PRESTOP_MS = 2000;

export interface TerminateOptions {
  driver: RuntimeDriver;
  handle: ContainerHandle;
  container: ContainerSpec;
  graceMs: number;
  clock: AgentClock;
  host: string;
  logger: Logger;
}

export async function terminateContainer(options: TerminateOptions): Promise<void> {
  const { driver, handle, container, clock, logger } = options;
  const start = clock.now();
  const preStop = container.lifecycle?.preStop;
  let graceMs = options.graceMs;
  if (preStop !== undefined && (preStop.exec !== undefined || preStop.httpGet !== undefined) && options.graceMs > 0) {
    const state = await driver.inspect(handle);
    if (state.running) {
      const outcome = await runProbe(
        { exec: preStop.exec, httpGet: preStop.httpGet },
        { driver, handle, clock, host: options.host, timeoutMs: options.graceMs },
      );
      if (outcome.result === 'failure') logger.warn({ container: container.name, message: outcome.message }, 'preStop hook failed');
      graceMs = Math.max(options.graceMs - (clock.now() - start), MIN_GRACE_AFTER_PRESTOP_MS);
    }
  }
  await driver.stop(handle, graceMs);
}
