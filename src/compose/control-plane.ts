// The composition root: the parts of the pipeline wired into one running control plane.
// `capstan up` adds a local node agent; `capstan server` runs this alone.

import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { isCapstanError, type Logger } from '../common/index.js';
import { openSource } from '../source/index.js';
import type { Source } from '../source/types.js';
import { buildServer, bootstrapAdminToken, type CapstanServer } from '../server/index.js';
import type { KV } from '../store/types.js';
import { SyncLoop, type SyncState } from '../sync/index.js';
import { startControllers, type RunningControllers } from './controllers.js';
import { startCompactor } from './compaction.js';
import { startServiceTraffic } from './services.js';
import { StatusWriter } from '../gitstatus/index.js';
import type { RevisionStatsSource } from '../analysis/index.js';
import { rolloutControlHandlers } from '../controllers/index.js';
// [webhooks/gitserve] the webhook receiver and the Git server for plain folders.
import { createGitHttpHandler, servedSourceFor } from '../gitserve/index.js';
import { createWebhookHandler, loadWebhookSecret } from '../webhooks/index.js';
// [rollback] `capstan rollback` commits to the source repository (or pins, with --live).
import { rollbackHandler, rollbackWriter } from '../rollback/index.js';

export interface ControlPlaneOptions {
  /** Folder, local repository or http(s) URL of the manifests. */
  source: string;
  branch?: string;
  dataDir: string;
  host?: string;
  port?: number;
  logger: Logger;
  /** node-cron expression for polling Git (default every minute). */
  syncSchedule?: string;
  /** The store to use; the embedded one under `<dataDir>/store` when absent. */
  kv?: KV;
  /** Seconds a node may miss heartbeats before its pods move (default 60). */
  evictionTimeoutSeconds?: number;
  // [webhooks/gitserve]
  /** Serve a plain-folder source as `<dataDir>/repo.git` over /git/ (default true). */
  serveGit?: boolean;
  /** `--webhook-secret-file`; else CAPSTAN_WEBHOOK_SECRET; neither → the webhook route is 404. */
  webhookSecretFile?: string;
  /** Seconds a node's lease lasts without a heartbeat before it reads NotReady (default 40). */
  nodeLeaseSeconds?: number;
  /** Run the service router here, listening on each Service's port (off unless given). */
  router?: { bindAddress?: string };
  /** Commit status annotations back to the source repository (off unless given). */
  statusWriteBack?: { statusBranch?: string };
  /** Compact the store's history this often (default 5 minutes; 0 turns it off). */
  compactionIntervalMs?: number;
}

export interface ControlPlane {
  url: string;
  adminTokenFile: string;
  kv: KV;
  source: Source;
  sync: SyncLoop;
  server: CapstanServer;
  registry: Registry;
  firstSync: SyncState;
  /** [gitserve] Clone URL of the served repository, when a plain folder is served. */
  gitUrl?: string;
  stop(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.logger;
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const registry = new Registry();
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };

  try {
    let kv = options.kv;
    if (!kv) {
      const { openEmbeddedStore } = await import('../store/embedded/index.js');
      kv = await openEmbeddedStore({ dir: resolve(dataDir, 'store'), logger: log.child({ component: 'store' }), metrics: registry });
      const opened = kv;
      stops.push(() => opened.close());
    }
    const store = kv;

    // [gitserve] a plain folder is served as a Git repository, which becomes the source.
    const origin = await servedSourceFor({ source: options.source, branch: options.branch, dataDir, serveGit: options.serveGit, logger: log.child({ component: 'git-serve' }) });
    const source = await openSource(origin.source, { dataDir, logger: log.child({ component: 'source' }) });
    const sync = new SyncLoop({ source, ref: origin.branch, kv: store, logger: log, schedule: options.syncSchedule });
    // [webhooks/gitserve] a verified webhook or a push through /git/ syncs at once.
    const webhookSecret = await loadWebhookSecret(options.webhookSecretFile ? { file: options.webhookSecretFile } : {});
    const webhook = createWebhookHandler({
      secret: webhookSecret,
      repository: { urls: [options.source], ...(origin.branch !== undefined ? { branch: origin.branch } : {}) },
      sync: (trigger) => sync.sync(trigger),
      logger: log,
    });
    const gitHttp = origin.served
      ? createGitHttpHandler({ repoPath: origin.served.path, kv: store, logger: log, onPush: () => sync.sync('push') })
      : undefined;

    const server = buildServer({
      kv: store,
      logger: log,
      registry,
      publicMetrics: false,
      webhook, // [webhooks]
      ...(gitHttp ? { gitHttp } : {}), // [gitserve]
      ...(options.nodeLeaseSeconds !== undefined ? { nodeLeaseSeconds: options.nodeLeaseSeconds } : {}),
    });
    server.setControlHandlers({
      // promote, abort, retry, pause and resume: override records the workload controller acts on.
      ...rolloutControlHandlers(store),
      sync: async (req) => {
        const body = (req.body ?? {}) as { allowMassPrune?: boolean };
        const state = await sync.sync(`capstan sync (${req.principal.user})`, { allowMassPrune: body.allowMassPrune === true });
        return state as unknown as Record<string, unknown>;
      },
      // [rollback]
      rollback: rollbackHandler({
        kv: store,
        writer: rollbackWriter({ repo: origin.source, branch: origin.branch ?? 'main', dataDir, logger: log.child({ component: 'rollback' }) }),
        branch: origin.branch ?? 'main',
        sync: (trigger) => sync.sync(trigger),
        logger: log,
      }),
    });
    const listening = await server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 7480 });
    stops.push(() => server.close());
    const adminTokenFile = resolve(dataDir, 'admin.token');
    await bootstrapAdminToken(store, dataDir);

    // The router first: analysis reads its per-revision figures.
    let stats: RevisionStatsSource | undefined;
    if (options.router) {
      const traffic = await startServiceTraffic({ kv: store, logger: log, registry, bindAddress: options.router.bindAddress });
      stops.push(() => traffic.stop());
      stats = (service, revision, windowSeconds) => traffic.router.statsFor(service, revision, windowSeconds);
    }

    const controllers: RunningControllers = await startControllers({
      ...(stats ? { stats } : {}),
      kv: store,
      logger: log,
      registry,
      identity: `${process.pid}@${listening.url}`,
      evictionTimeoutSeconds: options.evictionTimeoutSeconds,
    });
    stops.push(() => controllers.stop());

    if (options.compactionIntervalMs !== 0) {
      const compactor = startCompactor({ kv: store, logger: log.child({ component: 'compaction' }), intervalMs: options.compactionIntervalMs });
      stops.push(async () => compactor.stop());
    }

    const firstSync = await sync.sync('startup');
    sync.start();
    stops.push(() => sync.stop());

    if (options.statusWriteBack) {
      const writer = new StatusWriter({
        kv: store,
        repo: origin.source,
        branch: origin.branch ?? 'main',
        ...(options.statusWriteBack.statusBranch ? { statusBranch: options.statusWriteBack.statusBranch } : {}),
        dataDir,
        logger: log.child({ component: 'git-status' }),
      });
      await writer.start();
      stops.push(() => writer.stop());
    }

    return {
      url: listening.url,
      adminTokenFile,
      kv: store,
      source,
      sync,
      server,
      registry,
      firstSync,
      ...(origin.served ? { gitUrl: `${listening.url}/git/${basename(origin.served.path)}` } : {}), // [gitserve]
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    if (isCapstanError(err)) throw err;
    throw err;
  }
}
