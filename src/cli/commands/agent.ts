// `capstan agent`: one node. Parses the contract's flags into NodeAgent options, picks the
// runtime (`auto` = Docker when a daemon answers, else processes) and runs until SIGINT or
// SIGTERM (or the injected signal), leaving containers running for the next start to adopt.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { parseQuantity } from '../../api/index.js';
import { CapstanError, createLogger } from '../../common/index.js';
import { NodeAgent, pickRuntime } from '../../agent/index.js';
import { NodeCertificates, nodeCertFiles } from '../../agent/node-certs.js';
import { findClusterCa, isJoinToken, parseJoinToken, type ClientTls } from '../../pki/index.js';
import type { CliIO } from '../io.js';
import { parseMeshOptions, type MeshCommandOptions } from './agent-mesh.js';

export interface AgentCommandOptions extends MeshCommandOptions {
  server?: string;
  token?: string;
  name?: string;
  runtime?: string;
  labels?: string;
  capacity?: string;
  /** Accept a --capacity above what the machine has (cpu cores, total memory). */
  allowOvercommit?: boolean;
  /** Run privileged containers (refused by default). */
  allowPrivileged?: boolean;
  stateDir?: string;
  /** Seconds between heartbeats. */
  heartbeat?: number;
  /** HOST:PORT of the agent's logs and exec port (default 127.0.0.1, a free port). */
  listen?: string;
  /** `--ca`: the cluster CA for an https server (else CAPSTAN_CA, else `<state-dir>/pki/ca.crt`). */
  ca?: string;
  /** `--service-address`: where this node's Service router answers (`<SVC>_SERVICE_HOST`, DNS answers); default the node's address. */
  serviceAddress?: string;
  /** `--dns-address`: where the node's DNS server listens (default the node's address). */
  dnsAddress?: string;
  /** `--dns-port`: the node's DNS port (default 53; 0 runs no DNS server). */
  dnsPort?: number | string;
  /** `--cluster-domain`: the Service names' domain (default cluster.local). */
  clusterDomain?: string;
  /** TLS material already at hand (`capstan join`). */
  tls?: ClientTls;
  /** Stops the agent when aborted (default: SIGINT or SIGTERM). */
  signal?: AbortSignal;
  logger?: Logger;
  /** Called once the node is registered (tests). */
  onStarted?: (agent: NodeAgent) => void;
}

export interface ParsedAgentOptions {
  server: string;
  token: string;
  name: string;
  runtime: 'auto' | 'process' | 'docker';
  labels: Record<string, string>;
  capacity: { cpu: number; memory: number; pods: number };
  stateDir: string;
  allowPrivileged: boolean;
  listen: { host: string; port: number };
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (127.0.0.1) for --listen. */
export function parseListen(text: string | undefined): { host: string; port: number } {
  if (text === undefined) return { host: '127.0.0.1', port: 0 };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usage(`--listen takes HOST:PORT (e.g. 0.0.0.0:10250, or :0 for a free port), got "${text}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const DEFAULT_SERVER = 'http://127.0.0.1:7480';

function usage(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CLI_USAGE', message);
}

/** `k=v,k2=v2` → map; an empty string → {}. */
export function parseKeyValues(text: string | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === undefined || text.trim() === '') return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq).trim() : '';
    if (k === '') throw usage(`${flag} takes key=value pairs separated by commas, got "${part}"`);
    out[k] = part.slice(eq + 1).trim();
  }
  return out;
}

/** What this machine has: cpu in millicores (one core = 1000), memory in bytes. */
export interface MachineResources {
  cpu: number;
  memory: number;
}

export function machineResources(): MachineResources {
  return { cpu: cpus().length * 1000, memory: totalmem() };
}

/**
 * Flags (and CAPSTAN_SERVER / CAPSTAN_TOKEN) → validated agent settings; usage errors name the flag.
 * A --capacity cpu or memory above the machine's is refused unless allowOvercommit is set: the
 * server cannot check what the machine has, so the agent is where this is enforced.
 */
export function parseAgentOptions(opts: AgentCommandOptions, env: NodeJS.ProcessEnv, cwd: string, machine: MachineResources = machineResources()): ParsedAgentOptions {
  const server = opts.server ?? env.CAPSTAN_SERVER ?? DEFAULT_SERVER;
  // Several URLs (the members of a Raft group), comma-separated: the agent moves on when one stops answering.
  for (const one of server.split(',')) {
    try {
      const u = new URL(one.trim());
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw usage(`--server takes an http(s) URL, or several separated by commas, got "${server}"`);
    }
  }
  const given = opts.token ?? env.CAPSTAN_TOKEN;
  if (!given) throw usage('--token is required (or set CAPSTAN_TOKEN): an agent token bound to this node');
  // A join token works too: its API token part is the credential.
  const token = isJoinToken(given) ? parseJoinToken(given).token : given;
  const name = opts.name;
  if (!name) throw usage('--name is required: the node this agent runs');
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) throw usage(`--name must be a lower-case DNS name, got "${name}"`);
  const runtime = opts.runtime ?? 'auto';
  if (runtime !== 'auto' && runtime !== 'process' && runtime !== 'docker') throw usage(`--runtime takes auto, process or docker, got "${runtime}"`);
  const labels = parseKeyValues(opts.labels, '--labels');
  const cap = parseKeyValues(opts.capacity, '--capacity');
  const capacity = { cpu: machine.cpu, memory: machine.memory, pods: 110 };
  for (const [k, v] of Object.entries(cap)) {
    try {
      if (k === 'cpu') capacity.cpu = parseQuantity(v, 'cpu');
      else if (k === 'memory') capacity.memory = parseQuantity(v, 'memory');
      else if (k === 'pods' && /^[0-9]+$/.test(v)) capacity.pods = Number(v);
      else throw usage(`--capacity knows cpu, memory and pods, got "${k}=${v}"`);
    } catch (err) {
      if (err instanceof CapstanError && err.code === 'CAPSTAN_ERR_CLI_USAGE') throw err;
      throw usage(`--capacity ${k}=${v}: not a quantity (cpu like 2 or 500m, memory like 4Gi)`);
    }
  }
  if (!opts.allowOvercommit) {
    const over: string[] = [];
    if (capacity.cpu > machine.cpu) over.push(`cpu ${capacity.cpu}m > ${machine.cpu}m (${machine.cpu / 1000} cores)`);
    if (capacity.memory > machine.memory) over.push(`memory ${capacity.memory} bytes > ${machine.memory} bytes`);
    if (over.length > 0) {
      throw usage(`--capacity is above what this machine has: ${over.join(', ')}; pass --allow-overcommit to offer it anyway`);
    }
  }
  const listen = parseListen(opts.listen);
  return { server, token, name, runtime, labels, capacity, stateDir: resolve(cwd, opts.stateDir ?? '.capstan-agent'), allowPrivileged: opts.allowPrivileged === true, listen };
}

export interface AgentNetworkOptions {
  serviceHost?: string;
  dns?: { host?: string; port: number; clusterDomain?: string };
}

/**
 * --service-address, --dns-address, --dns-port and --cluster-domain → the agent's Service
 * address and DNS server (none with --dns-port 0). Without --dns-port a process that cannot
 * bind port 53 (not root) runs none rather than warning at every start.
 */
export function parseAgentNetwork(
  opts: Pick<AgentCommandOptions, 'serviceAddress' | 'dnsAddress' | 'dnsPort' | 'clusterDomain'>,
  host: { canBindPort53: boolean } = { canBindPort53: true },
): AgentNetworkOptions {
  const out: AgentNetworkOptions = {};
  if (opts.serviceAddress !== undefined) {
    if (isIP(opts.serviceAddress) !== 4) throw usage(`--service-address takes the IPv4 address where this node's Service router answers, got "${opts.serviceAddress}"`);
    out.serviceHost = opts.serviceAddress;
  }
  const port = opts.dnsPort === undefined ? (host.canBindPort53 ? 53 : 0) : Number(opts.dnsPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage(`--dns-port takes a port number (53; 0 runs no DNS server), got "${String(opts.dnsPort)}"`);
  if (opts.dnsAddress !== undefined && isIP(opts.dnsAddress) === 0) throw usage(`--dns-address takes an IP address of this host, got "${opts.dnsAddress}"`);
  const domain = opts.clusterDomain?.replace(/\.+$/, '');
  if (domain !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(domain)) {
    throw usage(`--cluster-domain takes a DNS name such as cluster.local, got "${opts.clusterDomain}"`);
  }
  if (port !== 0) out.dns = { port, ...(opts.dnsAddress !== undefined ? { host: opts.dnsAddress } : {}), ...(domain !== undefined ? { clusterDomain: domain } : {}) };
  return out;
}

/** What this process may do on the host: only root binds port 53 here. */
export function thisHost(): { canBindPort53: boolean } {
  return { canBindPort53: process.getuid?.() === 0 };
}

function processSignal(): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: abort.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** For an https server: the CA (--ca, CAPSTAN_CA or the state dir's), and the node certificate a join left there. */
function agentTls(parsed: ParsedAgentOptions, opts: AgentCommandOptions, io: CliIO): ClientTls | undefined {
  if (!parsed.server.split(',').some((s) => s.trim().startsWith('https:'))) return undefined;
  const ca = findClusterCa({ ca: opts.ca, env: io.env, cwd: io.cwd, dataDir: parsed.stateDir });
  if (!ca) return undefined;
  const files = nodeCertFiles(parsed.stateDir);
  try {
    return { ca: ca.pem, cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
  } catch {
    return { ca: ca.pem };
  }
}

/** Runs one node agent until stopped. */
export async function runAgentCommand(io: CliIO, opts: AgentCommandOptions): Promise<void> {
  // The node's address and its Service router (agent-mesh.ts) go to the NodeAgent with the rest.
  const parsed = { ...parseAgentOptions(opts, io.env, io.cwd), ...parseMeshOptions(opts) };
  const network = parseAgentNetwork(opts, thisHost());
  const logger = opts.logger ?? createLogger();
  const tls = opts.tls ?? agentTls(parsed, opts, io);
  const { driver: runtime, summary } = await pickRuntime(parsed, logger);
  const agent = new NodeAgent({ ...parsed, ...network, runtime, logger, ...(tls ? { tls } : {}), ...(opts.heartbeat !== undefined ? { heartbeatMs: opts.heartbeat * 1000 } : {}) });
  const stopper = opts.signal ? { signal: opts.signal, dispose: () => undefined } : processSignal();
  // A node certificate (from `capstan join`) is renewed before it runs out, through the agent's own connection.
  const certs = tls?.cert
    ? new NodeCertificates({ stateDir: parsed.stateDir, node: parsed.name, hosts: [...new Set([parsed.listen.host, parsed.address ?? ''])].filter((h) => !['0.0.0.0', '::', ''].includes(h)), logger, issue: (r) => agent.requestCertificate(r) })
    : undefined;
  if (certs && tls) certs.adopt(tls);
  try {
    await agent.start();
    certs?.startRotation((renewed) => agent.updateTls(renewed));
    const dns = agent.dnsAddress;
    const dnsLine =
      dns !== undefined
        ? `\n  dns:     ${dns.host}:${dns.port}`
        : network.dns !== undefined
          ? '\n  dns:     off (could not listen; the log says why)'
          : opts.dnsPort === undefined
            ? '\n  dns:     off (port 53 needs root; pass --dns-port to choose one)'
            : '';
    io.err(`capstan agent: node ${parsed.name} registered with ${parsed.server}\n  runtime: ${summary}${dnsLine}\n`);
    opts.onStarted?.(agent);
    await new Promise<void>((done) => {
      if (stopper.signal.aborted) return done();
      stopper.signal.addEventListener('abort', () => done(), { once: true });
      // Keep the event loop alive: the agent's own timers are unref'd.
      const keep = setInterval(() => undefined, 1 << 30);
      stopper.signal.addEventListener('abort', () => clearInterval(keep), { once: true });
    });
  } finally {
    certs?.stopRotation();
    stopper.dispose();
    await agent.stop();
  }
}
