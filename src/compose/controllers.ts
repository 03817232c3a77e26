// Every controller of the control plane, run on the elected leader only.

import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../api/cluster.js';
import { analysisReconciler, type RevisionStatsSource } from '../analysis/index.js';
import { systemClock, type Logger } from '../common/index.js';
import {
  Controller,
  ControllerManager,
  createWorkloadControllers,
  cronJobController,
  nodeLifecycleController,
  schedulingController,
  watchSource,
} from '../controllers/index.js';
import { ALL_STRATEGIES } from '../rollout/index.js';
import type { KV } from '../store/types.js';

export interface ControllersOptions {
  kv: KV;
  logger: Logger;
  registry: Registry;
  /** Who this instance is in the leader lease. */
  identity: string;
  evictionTimeoutSeconds?: number;
  /** Per-revision traffic figures for analysis (the router's); absent, `capstan` metrics find no data. */
  stats?: RevisionStatsSource;
}

export interface RunningControllers {
  manager: ControllerManager;
  stop(): Promise<void>;
}

export async function startControllers(options: ControllersOptions): Promise<RunningControllers> {
  const { kv, registry } = options;
  const logger = options.logger.child({ component: 'controllers' });
  // Every strategy: RollingUpdate, Recreate, Canary and BlueGreen.
  const workloads = createWorkloadControllers({ kv, logger, metrics: registry, registry: ALL_STRATEGIES });
  const scheduling = schedulingController({ kv, logger, registry });
  const nodes = nodeLifecycleController({
    kv,
    logger,
    registry,
    ...(options.evictionTimeoutSeconds !== undefined ? { evictionTimeoutMs: options.evictionTimeoutSeconds * 1000 } : {}),
  });
  // Analysis runs measure while a rollout waits on them; keyed like workloads (<Kind>/<ns>/<name>).
  const analysis = new Controller({
    reconciler: analysisReconciler({ kv, clock: systemClock, providers: { ...(options.stats ? { stats: options.stats } : {}), fetch } }),
    sources: [watchSource({ kv, prefix: STORE_PREFIX.status, logger })],
    logger,
    registry,
  });
  const manager = new ControllerManager({
    controllers: [...workloads.all, scheduling, nodes, analysis, cronJobController({ kv, logger, registry })],
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
