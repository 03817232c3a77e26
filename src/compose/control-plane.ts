// The composition root: the parts of the pipeline wired into one running control plane.
// `capstan up` adds a local node agent; `capstan server` runs this alone.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { isCapstanError, type Logger } from '../common/index.js';
import { openSource } from '../source/index.js';
import type { Source } from '../source/types.js';
import { buildServer, bootstrapAdminToken, type CapstanServer } from '../server/index.js';
import type { KV } from '../store/types.js';
import { SyncLoop, type SyncState } from '../sync/index.js';
import { startControllers, type RunningControllers } from './controllers.js';

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

    const source = await openSource(options.source, { dataDir, logger: log.child({ component: 'source' }) });
    const sync = new SyncLoop({ source, ref: options.branch, kv: store, logger: log, schedule: options.syncSchedule });

    const server = buildServer({ kv: store, logger: log, registry, publicMetrics: false });
    server.setControlHandlers({
      sync: async (req) => {
        const body = (req.body ?? {}) as { allowMassPrune?: boolean };
        const state = await sync.sync(`capstan sync (${req.principal.user})`, { allowMassPrune: body.allowMassPrune === true });
        return state as unknown as Record<string, unknown>;
      },
    });
    const listening = await server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 7480 });
    stops.push(() => server.close());
    const adminTokenFile = resolve(dataDir, 'admin.token');
    await bootstrapAdminToken(store, dataDir);

    const controllers: RunningControllers = await startControllers({
      kv: store,
      logger: log,
      registry,
      identity: `${process.pid}@${listening.url}`,
      evictionTimeoutSeconds: options.evictionTimeoutSeconds,
    });
    stops.push(() => controllers.stop());

    const firstSync = await sync.sync('startup');
    sync.start();
    stops.push(() => sync.stop());

    return {
      url: listening.url,
      adminTokenFile,
      kv: store,
      source,
      sync,
      server,
      registry,
      firstSync,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    if (isCapstanError(err)) throw err;
    throw err;
  }
}
