// `capstan up` (everything in one process) and `capstan server` (the control plane alone).

import { chmodSync, createWriteStream, mkdirSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { pino } from 'pino';
import { CapstanError, REDACT_PATHS, type Logger } from '../../common/index.js';
import type { ControlPlane } from '../../compose/index.js';
import { anonymousReadWarning, cloneCommand } from '../../gitserve/clone-hint.js';
import type { KV } from '../../store/types.js';
import type { CliIO } from '../io.js';
import type { SyncState } from '../../sync/index.js';
import { syncChangeText } from '../sync-view.js';
import { syncedObjects, tryLines } from '../up-hints.js';
import { parseAgentNetwork, thisHost, type AgentCommandOptions } from './agent.js';

export interface UpOptions {
  /** commander's `--no-router` / `--no-status-write` negations. */
  router?: boolean;
  routerAddress?: string;
  /** `--ingress-port` / `--ingress-https-port`: where the router serves Ingresses (default 8080 / 8443). */
  ingressPort?: number;
  ingressHttpsPort?: number;
  /** `--node-port-addresses a,b`: every address NodePort Services are served on (default: --router-address). */
  nodePortAddresses?: string;
  /** `--router-workers N`: worker processes serving the router's HTTP Service ports (1: none). */
  routerWorkers?: number;
  statusWrite?: boolean;
  statusBranch?: string;
  webhookSecretFile?: string;
  /** `--git-anonymous-read`: clone the served repository without a token. */
  gitAnonymousRead?: boolean;
  /** `--max-push-size`: largest receive-pack body the served repository accepts, in bytes. */
  maxPushSize?: number;
  /** `--max-replicas`: most pods one workload may ask for. */
  maxReplicas?: number;
  /** `--hpa-sync-period`: seconds between an autoscaler's looks at its target. */
  hpaSyncPeriod?: number;
  /** `--scheduler-config`: the scheduler's scoringStrategy, in a YAML or JSON file. */
  schedulerConfig?: string;
  /** `--allow-unknown-fields`: unknown spec fields warn instead of refusing the commit. */
  allowUnknownFields?: boolean;
  /** `--max-connections`: open API connections in all (default derived from the open-files limit). */
  maxConnections?: number;
  /** `--max-pending-per-address`: API connections per address without a complete request yet (default 256). */
  maxPendingPerAddress?: number;
  dataDir: string;
  port: number;
  host: string;
  /** `--tls`, `--insecure-http`, `--tls-san a,b`: the API's scheme and its certificate's extra names. */
  tls?: boolean;
  insecureHttp?: boolean;
  tlsSan?: string;
  runtime?: 'auto' | 'process' | 'docker';
  /** The local agent runs privileged containers. */
  allowPrivileged?: boolean;
  /** `--service-address`, `--dns-address`, `--dns-port`, `--cluster-domain` of the local node. */
  serviceAddress?: AgentCommandOptions['serviceAddress'];
  dnsAddress?: AgentCommandOptions['dnsAddress'];
  dnsPort?: AgentCommandOptions['dnsPort'];
  clusterDomain?: AgentCommandOptions['clusterDomain'];
  branch?: string;
  syncSchedule?: string;
  logLevel: string;
  logFile?: string;
  /** Stops the command (tests); SIGINT/SIGTERM otherwise. */
  signal?: AbortSignal;
  onReady?: (plane: ControlPlane) => void;
}

export interface ServerCommandOptions extends UpOptions {
  source?: string;
  store: 'embedded' | 'etcd';
  etcdEndpoints?: string;
  etcdPrefix?: string;
  /** Seconds a NotReady node keeps its pods before they are recreated elsewhere. */
  evictionTimeout?: number;
  /** Seconds a node's lease lasts without a heartbeat. */
  nodeLease?: number;
  // [raft] a member of a Raft group
  peers?: string;
  name?: string;
  peerListen?: string;
  clusterTokenFile?: string;
  clusterName?: string;
  heartbeatInterval?: number;
  electionTimeout?: number;
  join?: boolean;
  clusterId?: string;
}

function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

/** Logs go to a file under the data dir (or stderr with `--log-file -`), so the terminal stays readable. */
function openLogger(io: CliIO, dataDir: string, opts: UpOptions): { logger: Logger; where: string } {
  const options = { level: opts.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: undefined };
  if (opts.logFile === '-') return { logger: pino(options, pino.destination(2)), where: 'stderr' };
  const file = resolve(io.cwd, opts.logFile ?? resolve(dataDir, 'capstan.log'));
  mkdirSync(resolve(file, '..'), { recursive: true, mode: 0o700 });
  // Logs are Capstan's own (0600): a new file is made so, an existing regular one tightened.
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  if (statSync(file, { throwIfNoEntry: false })?.isFile() && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return { logger: pino(options, stream), where: relative(io.cwd, file) || file };
}

function routerWorkers(opts: UpOptions): { workers?: number } {
  return opts.routerWorkers !== undefined && opts.routerWorkers > 1 ? { workers: opts.routerWorkers } : {};
}

/** Options every run command passes to the control plane: router, status write-back, webhooks. */
/**
 * Prints a sync's news on the console once the banner is out: a refused commit on stderr with
 * every error at its file:line:col, and the recovery on stdout. Before that, the banner says it.
 */
function syncConsole(io: CliIO): { onSyncChange: (state: SyncState) => void; ready: () => void } {
  let ready = false;
  return {
    onSyncChange: (state) => {
      if (!ready) return;
      const { stream, text } = syncChangeText(state);
      io[stream](text);
    },
    ready: () => {
      ready = true;
    },
  };
}

function planeExtras(opts: UpOptions) {
  const sans = (opts.tlsSan ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
  return {
    ...(opts.tls ? { tls: true } : {}),
    ...(opts.insecureHttp ? { insecureHttp: true } : {}),
    ...(sans.length > 0 ? { tlsSans: sans } : {}),
    ...(opts.router !== false
      ? { router: { bindAddress: opts.routerAddress ?? '127.0.0.1', ingress: { httpPort: opts.ingressPort ?? 8080, httpsPort: opts.ingressHttpsPort ?? 8443 }, ...nodePortAddresses(opts), ...routerWorkers(opts) } }
      : {}),
    ...(opts.statusWrite !== false ? { statusWriteBack: { ...(opts.statusBranch ? { statusBranch: opts.statusBranch } : {}) } } : {}),
    ...(opts.webhookSecretFile ? { webhookSecretFile: opts.webhookSecretFile } : {}),
    ...(opts.gitAnonymousRead ? { gitAnonymousRead: true } : {}),
    ...(opts.maxPushSize !== undefined ? { maxPushBytes: opts.maxPushSize } : {}),
    ...(opts.maxReplicas !== undefined ? { maxReplicas: opts.maxReplicas } : {}),
    ...(opts.hpaSyncPeriod !== undefined ? { hpaSyncPeriodSeconds: opts.hpaSyncPeriod } : {}),
    ...(opts.schedulerConfig ? { schedulerConfigFile: opts.schedulerConfig } : {}),
    ...(opts.allowUnknownFields ? { allowUnknownFields: true } : {}),
    ...(opts.maxConnections !== undefined || opts.maxPendingPerAddress !== undefined
      ? {
          connections: {
            ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
            ...(opts.maxPendingPerAddress !== undefined ? { maxPendingPerAddress: opts.maxPendingPerAddress } : {}),
          },
        }
      : {}),
  };
}

/** The `git:` lines: a clone command that reads the token file when git asks for it. */
function gitLines(plane: ControlPlane, opts: UpOptions): string[] {
  if (!plane.gitUrl) return [];
  const lines = [`  git:      ${cloneCommand(plane.gitUrl, plane.adminTokenFile, undefined, plane.pki.caFile)}`, '            (the clone reads the token from that file when git asks; edit, push, and watch it roll out)'];
  if (opts.gitAnonymousRead) lines.push(`  WARNING:  ${anonymousReadWarning(plane.gitUrl)}`);
  return lines;
}

/** The `ca:` line: what a client off this machine passes as --ca, and the fingerprint a join token carries. */
function caLines(plane: ControlPlane, io: CliIO): string[] {
  const file = relative(io.cwd, plane.pki.caFile) || plane.pki.caFile;
  if (!plane.pki.https) return [];
  return [`  ca:       ${file} (sha256 ${plane.pki.caFingerprint.slice(0, 16)}…; clients elsewhere pass --ca, or join with a token from \`capstan token create --role agent\`)`];
}

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    if (signal) {
      if (signal.aborted) return done();
      signal.addEventListener('abort', () => done(), { once: true });
      return;
    }
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function describeSync(plane: ControlPlane): string {
  const s = plane.firstSync;
  if (s.phase === 'Synced') {
    const counts = s.summary ? `${s.summary.create} created, ${s.summary.update} updated, ${s.summary.delete} deleted, ${s.summary.unchanged} unchanged` : s.message;
    return `synced ${s.syncedCommit ? `commit ${s.syncedCommit.slice(0, 12)}` : 'the folder'}: ${counts}`;
  }
  return `first sync: ${s.phase} — ${s.message}`;
}

export async function runUp(io: CliIO, source: string, opts: UpOptions): Promise<void> {
  const dataDir = resolve(io.cwd, opts.dataDir);
  const { logger, where } = openLogger(io, dataDir, opts);
  const { startLocalCluster } = await import('../../compose/index.js');
  const syncNews = syncConsole(io);
  const location = isUrl(source) ? source : resolve(io.cwd, source);
  const cluster = await startLocalCluster({
    source: location,
    branch: opts.branch,
    dataDir,
    host: opts.host,
    port: opts.port,
    logger,
    runtime: opts.runtime,
    allowPrivileged: opts.allowPrivileged === true,
    ...parseAgentNetwork(opts, thisHost()),
    syncSchedule: opts.syncSchedule,
    onSyncChange: syncNews.onSyncChange,
    ...planeExtras(opts),
  });
  const shownDir = relative(io.cwd, dataDir) || '.';
  io.out(
    [
      `Capstan is up: ${cluster.url}`,
      `  dashboard: ${cluster.url}/ (log in with the token below)`,
      `  source:   ${cluster.source.location}${opts.branch ? ` (branch ${opts.branch})` : ''}`,
      ...caLines(cluster, io),
      ...gitLines(cluster, opts),
      `  ${describeSync(cluster)}`,
      `  node:     ${cluster.nodeName}`,
      ...(cluster.agent.dnsAddress !== undefined ? [`  dns:      ${cluster.agent.dnsAddress.host}:${cluster.agent.dnsAddress.port}`] : []),
      `  runtime:  ${cluster.runtimeSummary}`,
      `  token:    ${relative(io.cwd, cluster.adminTokenFile) || cluster.adminTokenFile} (the CLI reads it from --data-dir ${shownDir})`,
      `  logs:     ${where}`,
      '',
      'Try:',
      ...tryLines(await syncedObjects(cluster.kv), shownDir === '.capstan' ? '' : ` --data-dir ${shownDir}`),
      '',
      'Press Ctrl-C to stop (running pods are kept and adopted on the next start).',
      '',
    ].join('\n'),
  );
  syncNews.ready();
  opts.onReady?.(cluster);
  await untilStopped(opts.signal);
  io.out('stopping…\n');
  await cluster.stop();
  logger.flush?.();
}

export async function runServer(io: CliIO, opts: ServerCommandOptions): Promise<void> {
  const dataDir = resolve(io.cwd, opts.dataDir);
  const { logger, where } = openLogger(io, dataDir, opts);
  let kv: KV | undefined;
  if (opts.store === 'etcd') {
    const endpoints = (opts.etcdEndpoints ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    if (endpoints.length === 0) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--store etcd needs --etcd-endpoints http://127.0.0.1:2379[,...]');
    const { openEtcdStore } = await import('../../store/index.js');
    kv = await openEtcdStore({ endpoints, prefix: opts.etcdPrefix ?? '/capstan-data', logger });
  }
  const { startControlPlane } = await import('../../compose/index.js');
  const cluster = opts.peers !== undefined ? await clusterOptions(io, opts) : undefined; // [raft]
  if (cluster) {
    const { peerSecurity } = await import('../../pki/listener.js');
    const { warning } = peerSecurity(cluster.peers, opts.insecureHttp === true);
    if (warning) {
      logger.warn(warning);
      io.err(`warning: ${warning}\n`);
    }
  }
  const syncNews = syncConsole(io);
  const source = opts.source ?? 'examples-repo';
  const plane = await startControlPlane({
    source: isUrl(source) ? source : resolve(io.cwd, source),
    branch: opts.branch,
    dataDir,
    host: opts.host,
    port: opts.port,
    logger,
    syncSchedule: opts.syncSchedule,
    ...(kv ? { kv } : {}),
    ...(cluster ? { cluster } : {}),
    ...(opts.evictionTimeout !== undefined ? { evictionTimeoutSeconds: opts.evictionTimeout } : {}),
    ...(opts.nodeLease !== undefined ? { nodeLeaseSeconds: opts.nodeLease } : {}),
    onSyncChange: syncNews.onSyncChange,
    ...planeExtras(opts),
  });
  io.out(
    [
      `Capstan server: ${plane.url} (store: ${plane.cluster ? `Raft group member ${opts.name}, peers on ${plane.cluster.member.peerUrl}` : opts.store})`,
      `  source:   ${plane.source.location}`,
      ...caLines(plane, io),
      ...gitLines(plane, opts),
      `  ${describeSync(plane)}`,
      `  token:    ${relative(io.cwd, plane.adminTokenFile) || plane.adminTokenFile}`,
      `  logs:     ${where}`,
      'Nodes join with: capstan join URL --token <join token> (make one with `capstan token create --role agent --node NODE`)',
      '',
    ].join('\n'),
  );
  syncNews.ready();
  opts.onReady?.(plane);
  await untilStopped(opts.signal);
  await plane.stop();
  if (kv) await kv.close();
}

/** [raft] `--peers` and friends as the control plane's cluster options. */
async function clusterOptions(io: CliIO, opts: ServerCommandOptions) {
  const { parsePeers } = await import('../../store/cluster/index.js');
  if (opts.store === 'etcd') throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--peers runs the embedded store as a Raft group; it cannot be combined with --store etcd');
  const peers = parsePeers(opts.peers ?? '');
  if (!opts.name) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `--peers needs --name, one of: ${peers.map((p) => p.name).join(', ')}`);
  if (!opts.clusterTokenFile) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--peers needs --cluster-token-file FILE (the same secret on every member)');
  if (opts.join && !opts.clusterId) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--join needs --cluster-id (as `capstan members add` prints it)');
  let peerListen: { host: string; port: number } | undefined;
  if (opts.peerListen) {
    const m = /^(.+):(\d+)$/.exec(opts.peerListen.replace(/^https?:\/\//, ''));
    if (!m) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `--peer-listen takes host:port, got "${opts.peerListen}"`);
    peerListen = { host: m[1]!, port: Number(m[2]) };
  }
  const tickMs = opts.heartbeatInterval ?? 50;
  return {
    name: opts.name,
    peers,
    tokenFile: resolve(io.cwd, opts.clusterTokenFile),
    clusterName: opts.clusterName ?? 'capstan',
    tickMs,
    electionTicks: Math.max(2, Math.round((opts.electionTimeout ?? 500) / tickMs)),
    ...(peerListen ? { peerListen } : {}),
    ...(opts.join ? { join: true } : {}),
    ...(opts.clusterId ? { clusterId: opts.clusterId } : {}),
  };
}

function nodePortAddresses(opts: UpOptions): { nodePortAddresses?: string[] } {
  const list = (opts.nodePortAddresses ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
  return list.length > 0 ? { nodePortAddresses: list } : {};
}
