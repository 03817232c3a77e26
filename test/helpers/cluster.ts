// Shared helpers for end-to-end tests: a local cluster (control plane + one agent) on a temp
// data dir and a free port, a recorder of pod history read from the store's watch, polling
// waits, and cleanup that stops everything and kills leftover processes by their folder.
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../../src/compose/index.js';
import { STORE_PREFIX, type Pod, type WorkloadStatus } from '../../src/api/cluster.js';
import type { KV } from '../../src/store/types.js';
import type { Logger } from '../../src/common/index.js';
import { freePort } from './git-server.js';

/** A cron expression that never fires during a test: syncs are triggered by hand. */
export const NEVER = '0 0 1 1 *';

export function tempDataDir(prefix = 'capstan-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A pino logger writing to `<dir>/test.log`, so a failing run can be read afterwards. */
export function fileLogger(dir: string, level = process.env.CAPSTAN_TEST_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined }, createWriteStream(join(dir, 'test.log'), { flags: 'a' }));
}

export interface TestClusterOptions extends Partial<LocalClusterOptions> {
  /** Where the manifests come from (a Git URL or folder). */
  source: string;
  /** Reuse a data dir (restart tests); a fresh one otherwise. */
  dataDir?: string;
}

export interface TestCluster extends LocalCluster {
  dataDir: string;
  adminToken: string;
}

/** `startLocalCluster` on 127.0.0.1, a free port, the process runtime and no cron syncs. */
export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const dataDir = options.dataDir ?? tempDataDir();
  const cluster = await startLocalCluster({
    logger: fileLogger(dataDir),
    runtime: 'process',
    nodeName: 'e2e-node',
    syncSchedule: NEVER,
    host: '127.0.0.1',
    port: await freePort(),
    ...options,
    dataDir,
  });
  return { ...cluster, dataDir, adminToken: readFileSync(cluster.adminTokenFile, 'utf8').trim() };
}

/** Poll `predicate` until it returns something truthy; throws with `what` on timeout. */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs = 20_000, what = 'condition', intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function decode<T>(value: Uint8Array): T {
  return JSON.parse(Buffer.from(value).toString('utf8')) as T;
}

export async function listPods(kv: KV, namespace = 'default'): Promise<Pod[]> {
  const r = await kv.range(`${STORE_PREFIX.pods}${namespace}/`, { prefix: true });
  return r.kvs.map((k) => decode<Pod>(k.value));
}

/** Pods of one workload (by owner name). */
export async function workloadPods(kv: KV, name: string, namespace = 'default'): Promise<Pod[]> {
  return (await listPods(kv, namespace)).filter((p) => p.metadata.owner.name === name);
}

export async function workloadStatus(kv: KV, name: string, namespace = 'default', kind = 'Deployment'): Promise<WorkloadStatus | undefined> {
  const v = await kv.get(`${STORE_PREFIX.status}${kind}/${namespace}/${name}`);
  return v ? decode<WorkloadStatus>(v.value) : undefined;
}

export async function countKeys(kv: KV, prefix: string): Promise<number> {
  return (await kv.range(prefix, { prefix: true, keysOnly: true })).count;
}

/** Healthy with every replica of the newest revision ready, nothing else alive. */
export async function rolledOut(kv: KV, name: string, replicas: number): Promise<boolean> {
  const st = await workloadStatus(kv, name);
  if (st?.phase !== 'Healthy' || st.readyReplicas !== replicas || st.updatedReplicas !== replicas) return false;
  const pods = await workloadPods(kv, name);
  return pods.length === replicas && pods.every((p) => p.status?.ready === true && !p.metadata.deletionRequestedAt);
}

/** One sample of a workload's pods, taken after a store revision that touched pods. */
export interface PodSample {
  storeRevision: number;
  /** Pods in the store that have not finished terminating (their process may still run). */
  alive: number;
  /** Ready pods that are not being deleted. */
  ready: number;
  /** Alive pods already asked to stop (deletionRequestedAt set, not yet terminated). */
  terminating: number;
  /** Per revision hash: alive and ready pods. */
  byRevision: Record<string, { alive: number; ready: number }>;
}

export interface PodHistory {
  readonly samples: PodSample[];
  /** Samples taken since index `from` (for one phase of a test). */
  since(from: number): PodSample[];
  stop(): void;
}

/**
 * Watch `STORE_PREFIX.pods` from the current revision and record, after every store revision,
 * how many pods of `workload` are alive and ready, in total and per revision hash.
 */
export async function recordPodHistory(kv: KV, workload: string, namespace = 'default'): Promise<PodHistory> {
  const prefix = `${STORE_PREFIX.pods}${namespace}/`;
  const initial = await kv.range(prefix, { prefix: true });
  const pods = new Map<string, Pod>();
  for (const k of initial.kvs) pods.set(k.key, decode<Pod>(k.value));
  const samples: PodSample[] = [];
  const sample = (storeRevision: number): void => {
    const s: PodSample = { storeRevision, alive: 0, ready: 0, terminating: 0, byRevision: {} };
    for (const p of pods.values()) {
      if (p.metadata.owner.name !== workload || p.status?.terminatedAt) continue;
      const rev = (s.byRevision[p.metadata.owner.revision] ??= { alive: 0, ready: 0 });
      const ready = p.status?.ready === true && !p.metadata.deletionRequestedAt;
      s.alive++;
      rev.alive++;
      if (p.metadata.deletionRequestedAt) s.terminating++;
      if (ready) {
        s.ready++;
        rev.ready++;
      }
    }
    samples.push(s);
  };
  sample(initial.revision);
  const abort = new AbortController();
  const watch = kv.watch(prefix, { prefix: true, fromRevision: initial.revision + 1, signal: abort.signal });
  void (async () => {
    try {
      for await (const batch of watch) {
        for (const e of batch.events) {
          if (e.type === 'delete') pods.delete(e.kv.key);
          else pods.set(e.kv.key, decode<Pod>(e.kv.value));
        }
        sample(batch.revision);
      }
    } catch {
      // The store closed under the watch: the test is over.
    }
  })();
  return {
    samples,
    since: (from) => samples.slice(from),
    stop: () => {
      abort.abort();
      watch.close();
    },
  };
}

/** A process on this machine whose working dir or command line mentions `dir`. */
export interface LocalProcess {
  pid: number;
  cwd: string;
  cmdline: string[];
}

/** Processes (other than this one) whose working directory lies under `dir`. */
export function processesUnder(dir: string): LocalProcess[] {
  const root = resolve(dir);
  const out: LocalProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd !== root && !cwd.startsWith(`${root}/`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // A zombie has exited already: it only waits for its parent to read its status.
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid, cwd, cmdline });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

/**
 * Running pod processes of the process runtime under a state dir, grouped by pod name
 * (`<stateDir>/pods/<namespace>/<pod>/work`).
 */
export function podProcesses(stateDir: string): Map<string, LocalProcess[]> {
  const podsRoot = resolve(stateDir, 'pods');
  const out = new Map<string, LocalProcess[]>();
  for (const p of processesUnder(podsRoot)) {
    const rel = p.cwd.slice(podsRoot.length + 1).split('/');
    const pod = `${rel[0]}/${rel[1]}`;
    const list = out.get(pod) ?? [];
    list.push(p);
    out.set(pod, list);
  }
  return out;
}

/** SIGKILL every process whose working dir is under `dir` (pods left by a failed test). */
export function killProcessesUnder(dir: string): number {
  let n = 0;
  for (const p of processesUnder(dir)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      n++;
    } catch {
      // Already gone.
    }
  }
  return n;
}

/** Stop a cluster (ignoring errors: it may be stopped already), kill what is left, remove the dir. */
export async function cleanupCluster(cluster: { stop(): Promise<void> } | undefined, dataDir: string | undefined, keep = process.env.CAPSTAN_KEEP_E2E === '1'): Promise<void> {
  if (cluster) await cluster.stop().catch(() => undefined);
  if (dataDir === undefined) return;
  killProcessesUnder(dataDir);
  if (!keep && existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
}

/** GET a JSON API path with a bearer token; returns status and parsed body. */
export async function apiCall(url: string, token: string | undefined, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

/** GET http://127.0.0.1:port/ and return the body, or undefined when nothing answers. */
export async function httpGet(port: number, path = '/'): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** A Deployment manifest running a `node -e` HTTP server on $PORT that answers `reply`. */
export function nodeDeployment(options: {
  name: string;
  replicas: number;
  reply: string;
  strategy?: 'RollingUpdate' | 'Recreate';
  maxSurge?: number;
  maxUnavailable?: number;
  progressDeadlineSeconds?: number;
  /** Readiness probe path (default `/`); a path answering 500 never passes. */
  readyPath?: string;
  memory?: string;
  /** Replace the server with another command (argv). */
  command?: string[];
  /** Start listening only after this delay, so a rollout takes a while. */
  listenAfterMs?: number;
}): string {
  const strategy =
    options.strategy === 'Recreate'
      ? '  strategy:\n    type: Recreate\n'
      : `  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: ${options.maxSurge ?? 1}\n      maxUnavailable: ${options.maxUnavailable ?? 0}\n`;
  const server = `const http=require('http');const srv=http.createServer((q,s)=>{if(q.url==='/never'){s.statusCode=500;s.end('no');return;}s.end(${JSON.stringify(options.reply)});});setTimeout(()=>srv.listen(Number(process.env.PORT),'127.0.0.1'),${options.listenAfterMs ?? 0});process.on('SIGTERM',()=>process.exit(0));`;
  const command = options.command ?? [process.execPath, '-e', server];
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${options.name}`,
    'spec:',
    `  replicas: ${options.replicas}`,
    '  minReadySeconds: 0',
    ...(options.progressDeadlineSeconds !== undefined ? [`  progressDeadlineSeconds: ${options.progressDeadlineSeconds}`] : []),
    '  selector:',
    '    matchLabels:',
    `      app: ${options.name}`,
    strategy.trimEnd(),
    '  template:',
    '    metadata:',
    '      labels:',
    `        app: ${options.name}`,
    '    spec:',
    '      terminationGracePeriodSeconds: 5',
    '      containers:',
    '        - name: main',
    '          image: node:20',
    `          command: ${JSON.stringify(command)}`,
    '          ports:',
    '            - name: http',
    '              containerPort: 8080',
    '          readinessProbe:',
    '            httpGet:',
    `              path: ${options.readyPath ?? '/'}`,
    '              port: http',
    '            periodSeconds: 1',
    ...(options.memory !== undefined ? ['          resources:', '            requests:', `              memory: ${options.memory}`] : []),
    '',
  ].join('\n');
}

/** A ConfigMap that stays in Git, so removing one workload is not a mass prune. */
export const KEEP_CONFIGMAP = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: keep', 'data:', '  a: "1"', ''].join('\n');
