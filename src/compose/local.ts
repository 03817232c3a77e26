// `capstan up`: the control plane and one node agent in one process, on the embedded defaults.

import { cpus, hostname, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NodeAgent, ProcessRuntime, pickRuntime } from '../agent/index.js';
import { createToken, lookupToken } from '../server/index.js';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.js';

export interface LocalClusterOptions extends ControlPlaneOptions {
  runtime?: 'auto' | 'process' | 'docker';
  /** Name of the local node (default: the host name, made DNS-safe). */
  nodeName?: string;
  /** The local agent runs privileged containers (`--allow-privileged`). */
  allowPrivileged?: boolean;
  /** Where the local node's Service router answers (default: the router's address). */
  serviceHost?: string;
  /** The local node's DNS server (`--dns-address`, `--dns-port`, `--cluster-domain`); none when unset. */
  dns?: { host?: string; port: number; clusterDomain?: string };
}

export interface LocalCluster extends ControlPlane {
  agent: NodeAgent;
  nodeName: string;
  runtime: string;
  /** Which runtime was chosen and why, and who process pods run as (one line). */
  runtimeSummary: string;
}

/** A DNS-label version of the host name, for the local node. */
export function localNodeName(): string {
  const name = hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return name || 'local';
}

/** The local agent's token: reused across restarts while the store still knows it. */
async function agentToken(plane: ControlPlane, nodeName: string, stateDir: string): Promise<string> {
  const file = resolve(stateDir, 'agent.token');
  const existing = await readFile(file, 'utf8').then((t) => t.trim(), () => '');
  if (existing) {
    const who = await lookupToken(plane.kv, existing);
    if (who?.role === 'agent' && who.node === nodeName) return existing;
  }
  const { token } = await createToken(plane.kv, { role: 'agent', node: nodeName, user: `agent:${nodeName}` });
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The router runs in this process: Services answer at its address unless told otherwise. */
function serviceAndDns(options: LocalClusterOptions): { serviceHost?: string; dns?: LocalClusterOptions['dns'] } {
  const bind = options.router?.bindAddress;
  // A router on every address is reached on loopback from this host.
  const serviceHost = options.serviceHost ?? (bind === '0.0.0.0' ? '127.0.0.1' : bind);
  return { ...(serviceHost !== undefined ? { serviceHost } : {}), ...(options.dns !== undefined ? { dns: options.dns } : {}) };
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const plane = await startControlPlane(options);
  try {
    const nodeName = options.nodeName ?? localNodeName();
    const stateDir = resolve(options.dataDir, 'agent');
    const logger = options.logger.child({ component: 'agent', node: nodeName });
    const { driver: runtime, summary: runtimeSummary } = await pickRuntime({ runtime: options.runtime ?? 'auto', name: nodeName, stateDir }, logger);
    // Pods of the process runtime run as another user (nobody when Capstan is root) and reach
    // their volumes by absolute path under <data-dir>/agent: the data dir (0700 otherwise) must
    // let them pass through. Listing it stays refused, and its files keep their own modes.
    if (runtime instanceof ProcessRuntime && runtime.user !== undefined) await chmod(options.dataDir, 0o711);
    const token = await agentToken(plane, nodeName, stateDir);
    const agent = new NodeAgent({
      server: plane.url,
      token,
      ...(plane.pki.https ? { tls: { ca: readFileSync(plane.pki.caFile, 'utf8') } } : {}),
      name: nodeName,
      runtime,
      capacity: { cpu: cpus().length * 1000, memory: totalmem() },
      labels: { 'kubernetes.io/hostname': nodeName },
      stateDir,
      logger,
      allowPrivileged: options.allowPrivileged === true,
      ...serviceAndDns(options),
    });
    await agent.start();
    const stopPlane = plane.stop;
    return {
      ...plane,
      agent,
      nodeName,
      runtime: runtime.name,
      runtimeSummary,
      // Pods keep running across a restart of `capstan up` and are adopted when it comes back.
      stop: async () => {
        await agent.stop();
        await stopPlane();
      },
    };
  } catch (err) {
    await plane.stop();
    throw err;
  }
}
