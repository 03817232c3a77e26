import type { Logger } from '../common/index.js';
import { DockerRuntime, dockerUnavailableReason } from './docker-runtime.js';
import { ProcessRuntime } from './process-runtime.js';
import type { RuntimeDriver } from './runtime.js';

export interface RuntimeChoice {
  runtime: 'auto' | 'process' | 'docker';
  /** The node name (ownership labels) and where the process runtime keeps its state. */
  name: string;
  stateDir: string;
}

/** The runtime asked for; `auto` is Docker when a daemon answers, else plain processes. */
export async function chooseRuntime(choice: RuntimeChoice, logger: Logger): Promise<RuntimeDriver> {
  if (choice.runtime === 'process') return new ProcessRuntime({ stateDir: choice.stateDir, node: choice.name, logger });
  if (choice.runtime === 'docker') return new DockerRuntime({ node: choice.name, logger });
  const reason = await dockerUnavailableReason();
  if (reason === undefined) return new DockerRuntime({ node: choice.name, logger });
  logger.info({ reason }, 'no Docker daemon answers: using the process runtime');
  return new ProcessRuntime({ stateDir: choice.stateDir, node: choice.name, logger });
}
