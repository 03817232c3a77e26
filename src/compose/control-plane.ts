// The composition root: the parts of the pipeline wired into one running control plane.
// `capstan up` adds a local node agent; `capstan server` runs this alone.

import { mkdirSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { basename, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { isCapstanError, tightenDataDir, type Logger } from '../common/index.js';
import { openSource } from '../source/index.js';
import type { Source } from '../source/types.js';
import { buildServer, bootstrapAdminToken, type CapstanServer, type ConnectionLimits } from '../server/index.js';
import type { KV } from '../store/types.js';
import type { ClusterStore, ClusterStoreOptions } from '../store/cluster/index.js';
import { SyncLoop, type SyncLoopOptions, type SyncState } from '../sync/index.js';
import { startControllers, type RunningControllers } from './controllers.js';
import { startCompactor } from './compaction.js';
import { startServiceTraffic } from './services.js';
import { StatusWriter } from '../gitstatus/index.js';
import type { RevisionStatsSource } from '../analysis/index.js';
import { EventRecorder, rolloutControlHandlers } from '../controllers/index.js';
// [webhooks/gitserve] the webhook receiver and the Git server for plain folders.
import { anonymousReadWarning, createGitHttpHandler, servedSourceFor } from '../gitserve/index.js';
import { createWebhookHandler, loadWebhookSecret } from '../webhooks/index.js';
import { pullRequestPlanner } from '../notify/index.js';
// [rollback] `capstan rollback` commits to the source repository (or pins, with --live).
import { rollbackHandler, rollbackWriter } from '../rollback/index.js';
// [pki] the cluster CA, and HTTPS for the API off loopback.
import { certificateHosts, ensureClusterPki, listenerSecurity, type ClusterPki } from '../pki/index.js';
import { parseSchedulerConfig } from '../scheduler/index.js';

export interface ControlPlaneOptions {
  /** Folder, local repository or http(s) URL of the manifests. */
  source: string;
  branch?: string;
  dataDir: string;
  host?: string;
  port?: number;
  /** `--tls`: HTTPS even on loopback (off loopback it is the default). */
  tls?: boolean;
  /** `--insecure-http`: plain HTTP off loopback (warned). */
  insecureHttp?: boolean;
  /** `--tls-san`: more names and addresses for the server certificate. */
  tlsSans?: string[];
  logger: Logger;
  /** node-cron expression for polling Git (default every minute). */
  syncSchedule?: string;
  /** The store to use; the embedded one under `<dataDir>/store` when absent. */
  kv?: KV;
  /** Seconds a node may miss heartbeats before its pods move (default 60). */
  evictionTimeoutSeconds?: number;
  /** `--hpa-sync-period`: seconds between an autoscaler's looks at its target (default 15). */
  hpaSyncPeriodSeconds?: number;
  // [webhooks/gitserve]
  /** Serve a plain-folder source as `<dataDir>/repo.git` over /git/ (default true). */
  serveGit?: boolean;
  /** `--git-anonymous-read`: clone and fetch of the served repository without a token. */
  gitAnonymousRead?: boolean;
  /** `--max-push-size`: largest push the served repository accepts (default 100 MiB). */
  maxPushBytes?: number;
  /** `--max-replicas`: most pods one workload may ask for (default 1,000). */
  maxReplicas?: number;
  /** `--allow-unknown-fields`: a field no Kubernetes object has is a warning, not a refused commit. */
  allowUnknownFields?: boolean;
  /** Told when a sync's outcome is news: a commit refused, held or unreadable, or the recovery. */
  onSyncChange?: SyncLoopOptions['onChange'];
  /** Timeouts and connection caps of the API listener (`--max-connections`, `--max-pending-per-address`). */
  connections?: ConnectionLimits;
  /** `--webhook-secret-file`; else CAPSTAN_WEBHOOK_SECRET; neither → the webhook route is 404. */
  webhookSecretFile?: string;
  /** `--scheduler-config`: a YAML or JSON file with the scheduler's scoringStrategy. */
  schedulerConfigFile?: string;
  /** Seconds a node's lease lasts without a heartbeat before it reads NotReady (default 40). */
  nodeLeaseSeconds?: number;
  /** Run the service router here, listening on each Service's port (off unless given). */
  router?: {
    bindAddress?: string;
    ingress?: { httpPort: number; httpsPort?: number };
    nodePortAddresses?: string[];
    /** Worker processes serving the HTTP Service ports (`--router-workers`; unset or 1: none). */
    workers?: number;
  };
  /** Commit status annotations back to the source repository (off unless given). */
  statusWriteBack?: { statusBranch?: string };
  /** Compact the store's history this often (default 5 minutes; 0 turns it off). */
  compactionIntervalMs?: number;
  /**
   * [raft] Run as a member of a Raft group (`capstan server --peers`): the store is this
   * member's, and the sync loop, router and status writer run only on the member holding
   * the controller lease, like the controllers.
   */
  cluster?: Omit<ClusterStoreOptions, 'dir' | 'logger' | 'metrics'>;
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
  /** [raft] This member of the Raft group, when running as one. */
  cluster?: ClusterStore;
  /** [gitserve] Clone URL of the served repository, when a plain folder is served. */
  gitUrl?: string;
  /** [pki] The cluster CA (always made) and whether the API serves HTTPS. */
  pki: { caFile: string; caFingerprint: string; https: boolean };
  stop(): Promise<void>;
}

/** Every address of this machine's interfaces (for a certificate of a server bound to 0.0.0.0). */
function machineAddresses(): { hostname: string; addresses: string[] } {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.replace(/%.*$/, '')));
  return { hostname: hostname(), addresses };
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.logger;
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Tokens, logs and the store are Capstan's alone: an older, looser data dir is tightened.
  await tightenDataDir(dataDir, log);
  const registry = new Registry();
  const stops: (() => Promise<void>)[] = [];
  /** [raft] Run before the stops: the group member bounds every store call from then on. */
  const beforeStops: (() => void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const f of beforeStops.splice(0)) f();
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };

  try {
    // [pki] The CA is made on first start, whatever the scheme, so join tokens can carry it.
    const host = options.host ?? '127.0.0.1';
    const security = listenerSecurity({ host, tls: options.tls, insecureHttp: options.insecureHttp });
    if (security.warning) log.warn({ component: 'api-server', host }, security.warning);
    if (options.cluster) await (await import('../store/cluster/index.js')).checkClusterCa(resolve(dataDir, 'pki'), options.cluster); // [raft] https peers: never a CA of its own over half a copied one
    const pki: ClusterPki = await ensureClusterPki({ dataDir, hosts: certificateHosts(host, machineAddresses(), options.tlsSans ?? []) });
    if (pki.made !== 'none') log.info({ component: 'pki', ca: pki.paths.caCert, made: pki.made }, pki.made === 'all' ? 'made the cluster CA and the server certificate' : 'issued a new server certificate');

    let kv = options.kv;
    let cluster: ClusterStore | undefined;
    if (!kv && options.cluster) {
      const { openClusterStore } = await import('../store/cluster/index.js');
      cluster = await openClusterStore({ ...options.cluster, dir: resolve(dataDir, 'store'), pkiDir: pki.paths.dir, logger: log, metrics: registry });
      kv = cluster.kv;
      const opened = cluster;
      stops.push(() => opened.close());
      // Without a quorum each store call on the way out (releasing the controller lease, say)
      // would wait out the whole request timeout; a short grace bounds them all together.
      const graceMs = clusterShutdownGraceMs(options.cluster);
      beforeStops.push(() => opened.member.drain(graceMs));
    }
    if (!kv) {
      const { openEmbeddedStore } = await import('../store/embedded/index.js');
      kv = await openEmbeddedStore({ dir: resolve(dataDir, 'store'), logger: log.child({ component: 'store' }), metrics: registry });
      const opened = kv;
      stops.push(() => opened.close());
    }
    const store = kv;
    const schedulerConfig = options.schedulerConfigFile ? parseSchedulerConfig(readFileSync(options.schedulerConfigFile, 'utf8'), options.schedulerConfigFile) : {};

    // [gitserve] a plain folder is served as a Git repository, which becomes the source.
    const origin = await servedSourceFor({ source: options.source, branch: options.branch, dataDir, serveGit: options.serveGit, logger: log.child({ component: 'git-serve' }) });
    const source = await openSource(origin.source, { dataDir, logger: log.child({ component: 'source' }) });
    const gitEvents = new EventRecorder({ kv: store, source: 'git-sync', logger: log });
    const sync = new SyncLoop({ source, ref: origin.branch, kv: store, logger: log, schedule: options.syncSchedule, events: gitEvents, ...(options.onSyncChange ? { onChange: options.onSyncChange } : {}), ...(options.allowUnknownFields ? { allowUnknownFields: true } : {}), ...(options.maxReplicas !== undefined ? { admission: { maxReplicas: options.maxReplicas } } : {}) });
    // [webhooks/gitserve] a verified webhook or a push through /git/ syncs at once.
    const webhookSecret = await loadWebhookSecret(options.webhookSecretFile ? { file: options.webhookSecretFile } : {});
    const webhook = createWebhookHandler({
      secret: webhookSecret,
      repository: { urls: [options.source], ...(origin.branch !== undefined ? { branch: origin.branch } : {}) },
      sync: (trigger) => sync.sync(trigger),
      // A pull request against the followed branch: its plan as a comment (Notifications with trigger `plan`).
      plan: pullRequestPlanner({ kv: store, source, logger: log, desired: { ...(options.allowUnknownFields ? { allowUnknownFields: true } : {}), ...(options.maxReplicas !== undefined ? { admission: { maxReplicas: options.maxReplicas } } : {}) } }).plan,
      logger: log,
    });
    const gitHttp = origin.served
      ? createGitHttpHandler({
          repoPath: origin.served.path,
          kv: store,
          logger: log,
          onPush: () => sync.sync('push'),
          onHistoryRewritten: (r) =>
            gitEvents.record({
              namespace: 'default',
              object: `Repository/${basename(origin.served!.path)}`,
              type: 'Warning',
              reason: 'ForcePush',
              message: `force push by ${r.pusher || 'an anonymous user'} to ${r.ref}: ${r.old.slice(0, 12)} -> ${r.new.slice(0, 12)}, ${r.dropped} commit(s) no longer in its history`,
            }),
          ...(options.gitAnonymousRead ? { anonymousRead: true } : {}),
          ...(options.maxPushBytes !== undefined ? { maxPushBytes: options.maxPushBytes } : {}),
          ...(options.statusWriteBack ? { statusBranch: options.statusWriteBack.statusBranch ?? origin.branch ?? 'main' } : {}),
        })
      : undefined;

    const server = buildServer({
      kv: store,
      logger: log,
      registry,
      publicMetrics: false,
      webhook, // [webhooks]
      ...(cluster ? { members: (await import('../store/cluster/index.js')).membersAdmin(cluster) } : {}), // [raft]
      ...(gitHttp ? { gitHttp } : {}), // [gitserve]
      ...(options.nodeLeaseSeconds !== undefined ? { nodeLeaseSeconds: options.nodeLeaseSeconds } : {}),
      ...(options.connections ? { connections: options.connections } : {}),
      ...(security.scheme === 'https' ? { tls: { cert: pki.server.cert, key: pki.server.key } } : {}), // [pki]
      pki: { ca: pki.ca, caFingerprint: pki.caFingerprint },
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
    const listening = await server.listen({ host, port: options.port ?? 7480 });
    stops.push(() => server.close());
    if (origin.served && options.gitAnonymousRead) log.warn({ component: 'git-http' }, anonymousReadWarning(`${listening.url}/git/${basename(origin.served.path)}`));
    const adminTokenFile = resolve(dataDir, 'admin.token');
    await bootstrapAdminToken(store, dataDir);

    // The router first: analysis reads its per-revision figures. In a Raft group it runs on
    // the lease holder only (started below), so figures come from wherever it runs now.
    let stats: RevisionStatsSource | undefined;
    let traffic: Awaited<ReturnType<typeof startServiceTraffic>> | undefined;
    const startRouter = async (): Promise<() => Promise<void>> => {
      const { bindAddress, ingress, nodePortAddresses, workers } = options.router!;
      const t = await startServiceTraffic({ kv: store, logger: log, registry, bindAddress, ingress, nodePortAddresses, workers });
      traffic = t;
      return async () => {
        traffic = undefined;
        await t.stop();
      };
    };
    if (options.router) {
      if (!cluster) stops.push(await startRouter());
      // Summed over this router and every node's (the routing mesh).
      stats = (service, revision, windowSeconds) => traffic?.statsFor(service, revision, windowSeconds);
    }

    const controllers: RunningControllers = await startControllers({
      ...(stats ? { stats } : {}),
      kv: store,
      logger: log,
      registry,
      identity: `${process.pid}@${listening.url}`,
      evictionTimeoutSeconds: options.evictionTimeoutSeconds,
      ...(options.hpaSyncPeriodSeconds !== undefined ? { hpaSyncPeriodSeconds: options.hpaSyncPeriodSeconds } : {}),
      ...(schedulerConfig.scoringStrategy ? { scoringStrategy: schedulerConfig.scoringStrategy } : {}),
      ...(options.cluster ? { leaseTiming: clusterLeaseTiming(options.cluster) } : {}),
    });
    stops.push(() => controllers.stop());

    if (options.compactionIntervalMs !== 0) {
      const compactor = startCompactor({ kv: store, logger: log.child({ component: 'compaction' }), intervalMs: options.compactionIntervalMs });
      stops.push(async () => compactor.stop());
    }

    const startSync = async (): Promise<SyncState> => {
      const first = await sync.sync('startup');
      sync.start();
      return first;
    };
    const startWriter = async (): Promise<() => Promise<void>> => {
      const writer = new StatusWriter({
        kv: store,
        repo: origin.source,
        branch: origin.branch ?? 'main',
        ...(options.statusWriteBack?.statusBranch ? { statusBranch: options.statusWriteBack.statusBranch } : {}),
        dataDir,
        logger: log.child({ component: 'git-status' }),
      });
      await writer.start();
      return () => writer.stop();
    };
    let firstSync: SyncState;
    if (!cluster) {
      firstSync = await startSync();
      stops.push(() => sync.stop());
      if (options.statusWriteBack) stops.push(await startWriter());
    } else {
      // [raft] Only the member holding the controller lease syncs, routes and writes status.
      const elector = controllers.manager.elector!;
      const gate = followLeadership(() => elector.isLeader, async () => {
        const undo: (() => Promise<void>)[] = [];
        if (options.router) undo.push(await startRouter());
        await startSync();
        undo.push(() => sync.stop());
        if (options.statusWriteBack) undo.push(await startWriter());
        return async () => {
          for (const u of undo.reverse()) await u();
        };
      }, log);
      stops.push(() => gate.stop());
      firstSync = {
        id: 'default',
        location: source.location,
        phase: 'Synced',
        message: 'this member syncs only while it holds the controller lease',
        errors: [],
        trigger: 'startup',
        at: new Date().toISOString(),
      };
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
      ...(cluster ? { cluster } : {}),
      ...(origin.served ? { gitUrl: `${listening.url}/git/${basename(origin.served.path)}` } : {}), // [gitserve]
      pki: { caFile: pki.paths.caCert, caFingerprint: pki.caFingerprint, https: security.scheme === 'https' },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    if (isCapstanError(err)) throw err;
    throw err;
  }
}

type ClusterTiming = { tickMs?: number; electionTicks?: number };

function electionTimeoutMs(cluster: ClusterTiming): number {
  return (cluster.tickMs ?? 50) * (cluster.electionTicks ?? 10);
}

/** [raft] Store calls made while stopping get this long in all: an election and a commit, with room. */
export function clusterShutdownGraceMs(cluster: ClusterTiming): number {
  return Math.max(2000, 4 * electionTimeoutMs(cluster));
}

/**
 * [raft] Controller leadership in a Raft group: a record that goes stale after two election
 * timeouts (1 s at the default 500 ms), renewed every 200 ms. A waiting member reads it every
 * 100 ms and measures the staleness on its own clock, and that clock keeps running while the
 * group elects a new Raft leader. So after a kill -9 of the holder another member runs the
 * controllers in about the duration plus a commit: about 1.2 s, also when the holder led the
 * group too. The holder keeps its term through renewals that wait out a Raft election (up to
 * six timeouts). Its controllers' writes are fenced (framework/fenced-kv.ts), so the longer
 * deadline never lets two terms both write.
 */
export function clusterLeaseTiming(cluster: ClusterTiming): { leaseDurationMs: number; renewDeadlineMs: number; renewMs: number; retryMs: number } {
  const electionMs = electionTimeoutMs(cluster);
  const leaseDurationMs = Math.max(1000, 2 * electionMs);
  return {
    leaseDurationMs,
    renewDeadlineMs: Math.max(3000, 6 * electionMs),
    renewMs: Math.max(50, Math.floor(leaseDurationMs / 5)),
    retryMs: Math.max(50, Math.min(electionMs / 5, 1000)),
  };
}

/**
 * [raft] Runs `start` while `isLeader()` holds and undoes it when it stops holding: polled,
 * as the lease's own renewals are, so a new holder takes over within one poll of winning.
 */
function followLeadership(isLeader: () => boolean, start: () => Promise<() => Promise<void>>, log: Logger, pollMs = 50): { stop(): Promise<void> } {
  let undo: (() => Promise<void>) | undefined;
  let busy: Promise<void> = Promise.resolve();
  let stopped = false;
  const step = async (): Promise<void> => {
    const lead = isLeader() && !stopped;
    if (lead && !undo) {
      log.info('holding the controller lease: starting the sync loop, router and status writer');
      undo = await start().catch((err: unknown) => {
        log.error({ err }, 'starting the leader-only services failed');
        return undefined;
      });
    } else if (!lead && undo) {
      log.info('no longer holding the controller lease: stopping the sync loop, router and status writer');
      const u = undo;
      undo = undefined;
      await u().catch((err: unknown) => log.warn({ err }, 'stopping the leader-only services failed'));
    }
  };
  const timer = setInterval(() => {
    busy = busy.then(step);
  }, pollMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      busy = busy.then(step);
      await busy;
    },
  };
}
