// Real etcd for tests: `startEtcd()` runs one member (or three) on 127.0.0.1 with free ports
// and a temp data dir; `etcdSkipReason` is set when the binary is missing, for
// `describe.skipIf(etcdSkipReason !== undefined)`. CI installs etcd-server, so there the
// tests always run.

import { randomBytes } from 'node:crypto';
import {
  etcdUnavailableReason,
  startEtcdCluster,
  type LocalEtcdCluster,
  type LocalEtcdOptions,
} from '../../src/store/etcd/index.js';

export type { LocalEtcdCluster as EtcdCluster, LocalEtcdMember as EtcdMember } from '../../src/store/etcd/index.js';

/** Why etcd tests are skipped here, or undefined when they run. */
export const etcdSkipReason: string | undefined = etcdUnavailableReason();

if (etcdSkipReason !== undefined) {
  // Visible in the test output, so a skipped suite is never mistaken for a passing one.
  console.warn(`[etcd tests skipped] ${etcdSkipReason}`);
}

export async function startEtcd(options: LocalEtcdOptions = {}): Promise<LocalEtcdCluster> {
  return startEtcdCluster(options);
}

/** A fresh key prefix, so tests sharing one etcd never see each other's keys. */
export function freshPrefix(name = 't'): string {
  return `/capstan-test/${name}-${randomBytes(6).toString('hex')}/`;
}
