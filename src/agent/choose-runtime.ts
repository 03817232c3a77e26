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

export interface ChosenRuntime {
  driver: RuntimeDriver;
  /** Which runtime, why, and for processes who pods run as: one line for the console. */
  summary: string;
}

export const PROCESS_RUNTIME_README = "see README 'What the process runtime does not isolate'";

function processRuntime(choice: RuntimeChoice, logger: Logger, why: string, fellBack: boolean): ChosenRuntime {
  const driver = new ProcessRuntime({ stateDir: choice.stateDir, node: choice.name, logger });
  const summary = `process (${why}); ${driver.isolation} — ${PROCESS_RUNTIME_README}`;
  // Falling back, or running pods with Capstan's own rights, is worth a warning: pods are
  // much less isolated than in containers.
  if (fellBack || driver.user === undefined) logger.warn({ runtime: 'process', reason: why, podUser: driver.user?.name ?? null }, `runtime: ${summary}`);
  else logger.info({ runtime: 'process', reason: why, podUser: driver.user.name }, `runtime: ${summary}`);
  return { driver, summary };
}

/** The runtime asked for, and why; `auto` is Docker when a daemon answers, else plain processes. */
export async function pickRuntime(choice: RuntimeChoice, logger: Logger): Promise<ChosenRuntime> {
  if (choice.runtime === 'process') return processRuntime(choice, logger, '--runtime process', false);
  if (choice.runtime === 'docker') {
    logger.info({ runtime: 'docker' }, 'runtime: docker (--runtime docker)');
    return { driver: new DockerRuntime({ node: choice.name, logger }), summary: 'docker (--runtime docker)' };
  }
  const reason = await dockerUnavailableReason();
  if (reason === undefined) {
    const summary = 'docker (--runtime auto: a Docker daemon answered)';
    logger.info({ runtime: 'docker' }, `runtime: ${summary}`);
    return { driver: new DockerRuntime({ node: choice.name, logger }), summary };
  }
  return processRuntime(choice, logger, `--runtime auto: ${reason}`, true);
}

/** The runtime asked for; `auto` is Docker when a daemon answers, else plain processes. */
export async function chooseRuntime(choice: RuntimeChoice, logger: Logger): Promise<RuntimeDriver> {
  return (await pickRuntime(choice, logger)).driver;
}
