// Every controller of the control plane, run on the elected leader only.

import type { Registry } from 'prom-client';
import type { Logger } from '../common/index.js';
import { ControllerManager, createWorkloadControllers, nodeLifecycleController, schedulingController } from '../controllers/index.js';
import type { KV } from '../store/types.js';

export interface ControllersOptions {
  kv: KV;
  logger: Logger;
  registry: Registry;
  /** Who this instance is in the leader lease. */
  identity: string;
  evictionTimeoutSeconds?: number;
}

export interface RunningControllers {
  manager: ControllerManager;
  stop(): Promise<void>;
}

export async function startControllers(options: ControllersOptions): Promise<RunningControllers> {
  const { kv, registry } = options;
  const logger = options.logger.child({ component: 'controllers' });
  const workloads = createWorkloadControllers({ kv, logger, metrics: registry });
  const scheduling = schedulingController({ kv, logger, registry });
  const nodes = nodeLifecycleController({
    kv,
    logger,
    registry,
    ...(options.evictionTimeoutSeconds !== undefined ? { evictionTimeoutMs: options.evictionTimeoutSeconds * 1000 } : {}),
  });
  const manager = new ControllerManager({
    controllers: [...workloads.all, scheduling, nodes],
    leaderElection: { kv, identity: options.identity },
    logger,
  });
  manager.start();
  return {
    manager,
    // Release the lease on a clean stop, so another member takes over at once.
    stop: () => manager.stop({ release: true }),
  };
}
