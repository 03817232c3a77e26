// Starts etcd processes on 127.0.0.1 for tests, benchmarks and local development: free
// ports, a temporary data directory per member, stopped and removed on `stop()`.
// Nothing runs until `startEtcdCluster` is called.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapstanError } from '../../common/index.js';
import { MAX_REQUEST_BYTES } from '../types.js';

export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

export interface LocalEtcdOptions {
  members?: 1 | 3;
  /** Path to the etcd binary (default $ETCD_BIN or /usr/bin/etcd). */
  binary?: string;
  /** Milliseconds to wait for the cluster to answer (default 20000). */
  startTimeoutMs?: number;
  /** Extra flags for every member. */
  args?: string[];
}

export interface LocalEtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** Whether the process runs now. */
  running(): boolean;
  /** Stops this member (SIGTERM, then SIGKILL); the data directory stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data directory. */
  start(): Promise<void>;
}

export interface LocalEtcdCluster {
  /** Client URLs of all members. */
  endpoints: string[];
  members: LocalEtcdMember[];
  /** Stops every member and removes the data directories. */
  stop(): Promise<void>;
}

export function etcdBinary(binary?: string): string {
  return binary ?? process.env.ETCD_BIN ?? DEFAULT_ETCD_BINARY;
}

/** Why etcd cannot be started here, or undefined when it can. */
export function etcdUnavailableReason(binary?: string): string | undefined {
  const path = etcdBinary(binary);
  return existsSync(path) ? undefined : `etcd binary not found at ${path} (install etcd-server or set ETCD_BIN)`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startEtcdCluster(options: LocalEtcdOptions = {}): Promise<LocalEtcdCluster> {
  const binary = etcdBinary(options.binary);
  const reason = etcdUnavailableReason(binary);
  if (reason) throw new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', reason);
  const count = options.members ?? 1;
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const root = await mkdtemp(join(tmpdir(), 'capstan-etcd-'));
  const token = `capstan-${process.pid}-${Date.now()}`;
  const specs: Array<{ name: string; client: number; peer: number }> = [];
  for (let i = 0; i < count; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const members = specs.map((s) =>
    member(binary, s.name, s.client, s.peer, join(root, s.name), timeoutMs, [
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      ...(options.args ?? []),
    ]),
  );
  // Members are killed on process exit (see member()); their data goes with them.
  const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
  process.once('exit', removeRoot);
  const cluster: LocalEtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    stop: async () => {
      await Promise.all(members.map((m) => m.stop()));
      process.removeListener('exit', removeRoot);
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    // All members must run before any reports healthy: health needs a leader.
    await Promise.all(members.map((m) => m.spawn()));
    await Promise.all(members.map((m) => waitHealthy(m, timeoutMs)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

interface MemberInternals extends LocalEtcdMember {
  exited(): string | undefined;
  spawn(): Promise<void>;
}

function member(
  binary: string,
  name: string,
  clientPort: number,
  peerPort: number,
  dataDir: string,
  timeoutMs: number,
  extra: string[],
): MemberInternals {
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let exitNote: string | undefined;
  let stderrTail = '';
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    // A little over the contract's limit, so every request the client-side check accepts
    // (keys and values up to 1.5 MiB) also fits once wrapped in etcd's own framing.
    '--max-request-bytes', String(MAX_REQUEST_BYTES + 64 * 1024),
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'error',
    ...extra,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  // etcd 3.4 refuses to start on architectures other than amd64 unless told to.
  if (process.arch !== 'x64') env.ETCD_UNSUPPORTED_ARCH = process.arch === 'arm64' ? 'arm64' : process.arch;
  const self: MemberInternals = {
    name,
    clientUrl,
    peerUrl,
    dataDir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    exited: () => exitNote,
    start: async () => {
      await self.spawn();
      await waitHealthy(self, timeoutMs);
    },
    spawn: async () => {
      if (child && child.exitCode === null && child.signalCode === null) return;
      exitNote = undefined;
      stderrTail = '';
      const proc = spawn(binary, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      proc.stderr?.setEncoding('utf8');
      proc.stderr?.on('data', (chunk: string) => {
        stderrTail = (stderrTail + chunk).slice(-2000);
      });
      // If this process exits without stop(), do not leave etcd running behind it.
      const reap = (): void => {
        proc.kill('SIGKILL');
      };
      process.once('exit', reap);
      proc.once('exit', (code, signal) => {
        process.removeListener('exit', reap);
        exitNote = `etcd ${name} exited (${signal ?? code}): ${stderrTail.trim().split('\n').slice(-3).join(' | ')}`;
      });
      await new Promise<void>((resolve, reject) => {
        proc.once('spawn', () => resolve());
        proc.once('error', reject);
      });
    },
    stop: async () => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  return self;
}

async function waitHealthy(m: MemberInternals, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exited = m.exited();
    if (exited) throw new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', exited);
    try {
      const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (res.ok && body.health === 'true') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new CapstanError('CAPSTAN_ERR_STORE_UNAVAILABLE', `etcd ${m.name} at ${m.clientUrl} did not become healthy in ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
