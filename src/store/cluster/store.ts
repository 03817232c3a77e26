// Opens a member of a Raft group and the KV contract over it: `kv` serves linearizable reads
// (ReadIndex), `serializable` serves reads from this member's state as it is. Watches are
// served from the local applied state in both.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../common/index.js';
import { kvOverCore, type StoreCore } from '../embedded/index.js';
import type { KV } from '../types.js';
import { clusterIdFor } from './ids.js';
import { ClusterMember, type ClusterMemberOptions } from './member.js';
import { memberTls } from './member-tls.js';

export interface ClusterStoreOptions extends Omit<ClusterMemberOptions, 'clusterId' | 'token'> {
  /** Shared secret; or `tokenFile`. */
  token?: string;
  /** File holding the shared secret (`--cluster-token-file`). */
  tokenFile?: string;
  /** Name mixed into a new cluster's id (`--cluster-name`, default "capstan"). */
  clusterName?: string;
  /** The id of the group being joined (`--cluster-id`, as `capstan members add` prints it). */
  clusterId?: string;
  /**
   * With https:// peers: the folder holding the cluster CA (`<data-dir>/pki`, ca.crt and
   * ca.key, the same on every member); the member issues itself a certificate from it.
   */
  pkiDir?: string;
}

export interface ClusterStore {
  /** Linearizable reads. */
  kv: KV;
  /** Reads served from this member's applied state. */
  serializable: KV;
  member: ClusterMember;
  clusterId: string;
  close(): Promise<void>;
}

const MIN_TOKEN = 16;

export async function readClusterToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the cluster token file ${file} could not be read: ${(err as Error).message}`, { context: { file } });
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the cluster token in ${file} is shorter than ${MIN_TOKEN} characters`, { context: { file } });
  }
  return token;
}

/** The cluster id kept in the data folder, or a new one written there. */
async function clusterIdIn(dir: string | undefined, o: ClusterStoreOptions): Promise<string> {
  const fresh = o.clusterId ?? clusterIdFor(o.clusterName ?? 'capstan', o.peers);
  if (!dir) return fresh;
  const file = join(dir, 'cluster.json');
  try {
    const kept = JSON.parse(await readFile(file, 'utf8')) as { clusterId?: unknown; name?: unknown };
    if (typeof kept.clusterId === 'string') {
      if (kept.name !== o.name) {
        throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the data folder ${dir} belongs to member ${String(kept.name)}, not ${o.name}`, { context: { dir } });
      }
      if (o.clusterId && o.clusterId !== kept.clusterId) {
        throw new CapstanError('CAPSTAN_ERR_STORE_CLUSTER_MISMATCH', `the data folder ${dir} belongs to cluster ${kept.clusterId}, not ${o.clusterId}`, { context: { dir } });
      }
      return kept.clusterId;
    }
  } catch (err) {
    if (err instanceof CapstanError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true });
  await writeFile(file, JSON.stringify({ clusterId: fresh, name: o.name }) + '\n', { mode: 0o600 });
  return fresh;
}

export async function openClusterStore(o: ClusterStoreOptions): Promise<ClusterStore> {
  const token = o.token ?? (o.tokenFile ? await readClusterToken(o.tokenFile) : undefined);
  if (!token) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'a Raft group needs a cluster token: --cluster-token-file FILE (the same file content on every member)');
  const tls = o.tls ?? (await memberTls(o));
  const clusterId = await clusterIdIn(o.dir, o);
  const member = await ClusterMember.open({ ...o, clusterId, token, ...(tls ? { tls } : {}) });
  const linearizable: StoreCore = {
    get mvcc() {
      return member.mvcc;
    },
    hub: member.hub,
    get closed() {
      return member.closed;
    },
    propose: (cmd) => member.propose(cmd),
    now: () => member.now(),
    close: () => member.close(),
    readBarrier: () => member.readBarrier(),
  };
  const local: StoreCore = { ...linearizable, readBarrier: undefined };
  Object.defineProperty(local, 'mvcc', { get: () => member.mvcc });
  Object.defineProperty(local, 'closed', { get: () => member.closed });
  return { kv: kvOverCore(linearizable), serializable: kvOverCore(local), member, clusterId, close: () => member.close() };
}
