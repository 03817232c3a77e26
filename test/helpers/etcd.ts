// Real etcd for tests: `startEtcd()` runs one member (or three) on 127.0.0.1 with free ports
// and a temp data dir; `etcdSkipReason` is set when the binary is missing, for
// `describe.skipIf(etcdSkipReason !== undefined)`. CI installs etcd-server, so there the
// tests always run.

import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import {
  etcdUnavailableReason,
  startEtcdCluster,
  type LocalEtcdCluster,
  type LocalEtcdOptions,
} from '../../src/store/etcd/index.js';

export type { LocalEtcdCluster as EtcdCluster, LocalEtcdMember as EtcdMember } from '../../src/store/etcd/index.js';
/** A port on 127.0.0.1 that nothing listens on (at the time of asking). */
export { freePort as freePortForTest } from '../../src/store/etcd/index.js';

/** Why etcd tests are skipped here, or undefined when they run. */
export const etcdSkipReason: string | undefined = etcdUnavailableReason();

if (etcdSkipReason !== undefined) {
  // Visible in the test output, so a skipped suite is never mistaken for a passing one.
  console.warn(`[etcd tests skipped] ${etcdSkipReason}`);
}

/** A suite title that carries the skip reason, so the report shows why it did not run. */
export function etcdSuiteName(name: string): string {
  return etcdSkipReason === undefined ? name : `${name} (skipped: ${etcdSkipReason})`;
}

export async function startEtcd(options: LocalEtcdOptions = {}): Promise<LocalEtcdCluster> {
  return startEtcdCluster(options);
}

/** A fresh key prefix, so tests sharing one etcd never see each other's keys. */
export function freshPrefix(name = 't'): string {
  return `/capstan-test/${name}-${randomBytes(6).toString('hex')}/`;
}

/**
 * A TCP proxy on 127.0.0.1 that a test controls: cut every connection, refuse new ones for a
 * while, or hold the replies so a request reaches etcd but its answer never comes back.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>`, to use as an etcd endpoint. */
  url: string;
  /** Destroy every open connection (both sides). New connections are still accepted. */
  cut(): void;
  /** While down, new connections are closed as soon as they open. */
  setDown(down: boolean): void;
  /** While holding, bytes from the server are dropped instead of forwarded. */
  setHolding(holding: boolean): void;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let down = false;
  let holding = false;
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!holding) client.write(chunk);
    });
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    setDown: (value) => {
      down = value;
    },
    setHolding: (value) => {
      holding = value;
    },
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
