// Every controller of the control plane, run on the elected leader only.

import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../api/cluster.js';
import { analysisReconciler, type RevisionStatsSource } from '../analysis/index.js';
import { systemClock, type Logger } from '../common/index.js';
import {
  Controller,
  ControllerManager,
  WatchCache,
  cachedKV,
  createWorkloadControllers,
  cronJobController,
  jobController,
  barePodController,
  nodeLifecycleController,
  schedulingController,
  watchSource,
  fencedKV,
  type LeaderElector,
  type LeaderElectorOptions,
} from '../controllers/index.js';
import { daemonSetController } from '../controllers/daemonset/index.js';
import { SCALE_PREFIX, hpaController, routerRequestRates, storeMetricsSource, type PodsMetricsProvider } from '../controllers/hpa/index.js';
import { CLAIMS_PREFIX, statefulSetController } from '../controllers/statefulset/index.js';
import { claimsController } from '../controllers/volumes/index.js';
import { OVERRIDES_PREFIX } from '../controllers/workload/index.js';
import { notifyController } from '../notify/index.js';
import { ALL_STRATEGIES } from '../rollout/index.js';
import type { KV } from '../store/types.js';
import type { ScoringStrategy } from '../scheduler/index.js';

export interface ControllersOptions {
  kv: KV;
  logger: Logger;
  registry: Registry;
  /** Who this instance is in the leader lease. */
  identity: string;
  evictionTimeoutSeconds?: number;
  /**
   * Timing of the controller lease (the elector's defaults when absent: a 15 s TTL). A Raft
   * group passes a short one, so controllers move within a few seconds of a member's loss.
   */
  leaseTiming?: Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'renewMs' | 'retryMs'>;
  /** Per-revision traffic figures for analysis (the router's); absent, `capstan` metrics find no data. */
  stats?: RevisionStatsSource;
  /** How often each HorizontalPodAutoscaler is looked at (default 15 s, Kubernetes' sync period). */
  hpaSyncPeriodSeconds?: number;
  /** NodeResourcesFit's scoring strategy for the scheduler (default LeastAllocated). */
  scoringStrategy?: ScoringStrategy;
  /** Pods metrics for autoscalers (e.g. requests per second per pod); absent, Pods metrics get no value. */
  podsMetrics?: PodsMetricsProvider;
}

export interface RunningControllers {
  manager: ControllerManager;
  stop(): Promise<void>;
}

/** What the controllers read: kept in one watch cache instead of listed per pass. */
export const CACHED_PREFIXES: readonly string[] = [
  STORE_PREFIX.desired,
  STORE_PREFIX.revisions,
  STORE_PREFIX.pods,
  STORE_PREFIX.nodes,
  `${STORE_PREFIX.leases}nodes/`,
  STORE_PREFIX.status,
  STORE_PREFIX.history,
  STORE_PREFIX.traffic,
  OVERRIDES_PREFIX,
  CLAIMS_PREFIX,
  SCALE_PREFIX,
];

export async function startControllers(options: ControllersOptions): Promise<RunningControllers> {
  const { registry } = options;
  const logger = options.logger.child({ component: 'controllers' });
  // One list and one store watch feed every controller; their reads and watches of the
  // cached prefixes are served from memory (see framework/watch-cache.ts).
  const cache = new WatchCache({ kv: options.kv, prefixes: CACHED_PREFIXES, logger });
  cache.start();
  // Every write of the controllers holds only while this instance's term is the store's
  // (framework/fenced-kv.ts): a holder that lost the role unawares cannot act beside the next.
  let elector: LeaderElector | undefined;
  const kv = cachedKV(fencedKV(options.kv, () => elector?.fence, (reason) => elector?.stepDown(reason)), cache, { logger });
  // Every strategy: RollingUpdate, Recreate, Canary and BlueGreen.
  const workloads = createWorkloadControllers({ kv, logger, metrics: registry, registry: ALL_STRATEGIES });
  const scheduling = schedulingController({ kv, logger, registry, ...(options.scoringStrategy ? { scoringStrategy: options.scoringStrategy } : {}) });
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
  // StatefulSets and DaemonSets make their own pods (owner kind StatefulSet / DaemonSet);
  // PersistentVolumeClaims from Git become claim records the scheduler binds to nodes.
  const apps = [statefulSetController({ kv, logger, registry }), daemonSetController({ kv, logger, registry }), claimsController({ kv, logger, registry })];
  // Autoscalers read the pods' usage the agents send with their heartbeats (on the node records)
  // and, for Pods metrics, the requests per second the router counts per revision.
  const podsMetrics = options.podsMetrics ?? (options.stats ? routerRequestRates(kv, options.stats) : undefined);
  const hpa = hpaController({
    kv,
    logger,
    registry,
    metrics: storeMetricsSource({ kv, ...(podsMetrics ? { podsMetrics } : {}) }),
    ...(options.hpaSyncPeriodSeconds !== undefined ? { periodMs: options.hpaSyncPeriodSeconds * 1000 } : {}),
  });
  apps.push(hpa);
  const manager = new ControllerManager({
    controllers: [...workloads.all, ...apps, scheduling, nodes, analysis, cronJobController({ kv, logger, registry }), jobController({ kv, logger, registry }), barePodController({ kv, logger, registry }), notifyController({ kv, logger, registry })],
    leaderElection: { kv: options.kv, identity: options.identity, registry, ...options.leaseTiming },
    logger,
  });
  elector = manager.elector;
  manager.start();
  return {
    manager,
    // Release the lease on a clean stop, so another member takes over at once.
    stop: async () => {
      await manager.stop({ release: true });
      await cache.stop();
    },
  };
}
