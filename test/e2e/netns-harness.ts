// Network namespaces for end-to-end tests across "hosts" on one machine: a bridge namespace
// and N host namespaces, each with a veth into the bridge, an address in 10.231.7.0/24 and
// its own loopback. Nothing is added to the root namespace: every link is made inside a
// namespace, and deleting the namespaces removes them all. Names start with
// `capstan-e2e-<pid>-`, so a later run finds and removes what a crashed one left.
//
// The plan (which `ip` commands, which files) is a pure function of the run id; running it,
// processes inside a namespace (`ip netns exec`) and the relay that carries the test's
// connections into a namespace (a Unix socket, reachable across network namespaces) are the
// effects.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NETNS_PREFIX = 'capstan-e2e-';
export const SUBNET = '10.231.7';
/** The bridge namespace's own address on the bridge: where the test's API calls come from. */
export const BRIDGE_ADDRESS = `${SUBNET}.254`;
const RELAY = fileURLToPath(new URL('./fixtures/fleet/relay.mjs', import.meta.url));

export interface NetnsHost {
  /** Short name: h1, h2... */
  name: string;
  /** The namespace. */
  ns: string;
  address: string;
  /** Its port on the bridge (in the bridge namespace). */
  bridgePort: string;
}

export interface FleetPlan {
  id: string;
  bridgeNs: string;
  hosts: NetnsHost[];
  /** `ip` argument lists, in order. */
  setup: string[][];
}

/** The namespaces, links and addresses of a fleet of `count` hosts (pure). */
export function fleetPlan(id: string, count: number): FleetPlan {
  if (count < 1 || count > 200) throw new Error(`a fleet has 1 to 200 hosts, not ${count}`);
  const bridgeNs = `${NETNS_PREFIX}${id}-br`;
  const hosts = Array.from({ length: count }, (_, i): NetnsHost => ({
    name: `h${i + 1}`,
    ns: `${NETNS_PREFIX}${id}-h${i + 1}`,
    address: `${SUBNET}.${i + 1}`,
    bridgePort: `p${i + 1}`,
  }));
  const setup: string[][] = [
    ['netns', 'add', bridgeNs],
    ['-n', bridgeNs, 'link', 'set', 'lo', 'up'],
    ['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', bridgeNs, 'addr', 'add', `${BRIDGE_ADDRESS}/24`, 'dev', 'br0'],
    ['-n', bridgeNs, 'link', 'set', 'br0', 'up'],
  ];
  for (const h of hosts) {
    setup.push(
      ['netns', 'add', h.ns],
      ['-n', h.ns, 'link', 'set', 'lo', 'up'],
      // Made in the bridge namespace, its peer moved straight into the host's.
      ['-n', bridgeNs, 'link', 'add', h.bridgePort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns],
      ['-n', bridgeNs, 'link', 'set', h.bridgePort, 'master', 'br0'],
      ['-n', bridgeNs, 'link', 'set', h.bridgePort, 'up'],
      ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0'],
      ['-n', h.ns, 'link', 'set', 'eth0', 'up'],
    );
  }
  return { id, bridgeNs, hosts, setup };
}

/** The run id a namespace name carries (`capstan-e2e-<id>-<part>`), if it is one of ours. */
export function runIdOf(ns: string): string | undefined {
  if (!ns.startsWith(NETNS_PREFIX)) return undefined;
  const m = /^([0-9]+)-[a-z0-9]+$/.exec(ns.slice(NETNS_PREFIX.length));
  return m?.[1];
}

/** Namespaces left by runs whose process is gone (or by `id`, when given). */
export function staleNamespaces(names: string[], alive: (pid: number) => boolean, id?: string): string[] {
  return names.filter((ns) => {
    const owner = runIdOf(ns);
    if (owner === undefined) return false;
    return owner === id || !alive(Number(owner));
  });
}

/** What `resolv.conf` a host namespace gets: its node's DNS, Kubernetes' search list. */
export function hostResolvConf(nameserver: string, namespace = 'default', domain = 'cluster.local'): string {
  return [`nameserver ${nameserver}`, `search ${namespace}.svc.${domain} svc.${domain} ${domain}`, 'options ndots:5 timeout:1 attempts:2', ''].join('\n');
}

// ---- effects ----

function ip(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function ipOrThrow(args: string[]): string {
  const r = ip(args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why namespaces cannot be used here, or undefined when they can (root, `ip netns` works). */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the suite as root, as CI does)';
  const list = ip(['netns', 'list']);
  if (list.code !== 0) return `\`ip netns list\` failed: ${list.stderr.trim() || 'is iproute2 installed?'}`;
  const probe = `${NETNS_PREFIX}${process.pid}-probe`;
  const add = ip(['netns', 'add', probe]);
  ip(['netns', 'delete', probe]);
  if (add.code !== 0) return `\`ip netns add\` failed: ${add.stderr.trim()}`;
  return undefined;
}

function listNamespaces(): string[] {
  const r = ip(['netns', 'list']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PIDs of the processes inside a namespace. */
export function namespacePids(ns: string): number[] {
  const r = ip(['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** SIGKILL every process inside a namespace (only processes this test started live there). */
export function killNamespace(ns: string): number {
  let n = 0;
  for (const pid of namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // Already gone.
    }
  }
  return n;
}

function removeNamespace(ns: string): void {
  // Processes first: a namespace with processes in it lives on after `ip netns delete`.
  for (let i = 0; i < 3 && killNamespace(ns) > 0; i++) spawnSync('sleep', ['0.2']);
  ip(['netns', 'delete', ns]);
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

/** Remove every namespace (and /etc/netns folder) a dead run left, and this run's own when `id` is given. */
export function removeStaleNamespaces(id?: string): string[] {
  const stale = staleNamespaces(listNamespaces(), pidAlive, id);
  for (const ns of stale) removeNamespace(ns);
  // /etc/netns folders whose namespace is gone already.
  try {
    for (const ns of staleNamespaces(spawnSync('ls', ['/etc/netns'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean), pidAlive, id)) {
      rmSync(join('/etc/netns', ns), { recursive: true, force: true });
    }
  } catch {
    // No /etc/netns.
  }
  return stale;
}

/** What dead runs left: their namespaces, /etc/netns folders and data folders (`<tmp>/capstan-e2e-netns-<pid>-*`). */
export function removeStale(): string[] {
  const stale = removeStaleNamespaces();
  for (const name of readdirSync(tmpdir())) {
    const m = /^capstan-e2e-netns-([0-9]+)-/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return stale;
}

/** The prefix of this run's data folder under the temp dir, found again by removeStale after a crash. */
export function runDirPrefix(id = String(process.pid)): string {
  return `capstan-e2e-netns-${id}-`;
}

export interface Fleet extends FleetPlan {
  /** Write `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` binds over /etc/resolv.conf. */
  setResolvConf(host: NetnsHost, text: string): void;
  /** Take a host off the network: its veth down on both ends. */
  unplug(host: NetnsHost): void;
  teardown(): void;
}

/** Make the namespaces of `fleetPlan(id, count)`; a failure part way removes what was made. */
export function createFleet(id: string, count: number): Fleet {
  const plan = fleetPlan(id, count);
  removeStaleNamespaces(id);
  try {
    for (const args of plan.setup) ipOrThrow(args);
  } catch (err) {
    removeStaleNamespaces(id);
    throw err;
  }
  return {
    ...plan,
    setResolvConf(host, text) {
      const dir = join('/etc/netns', host.ns);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'resolv.conf'), text);
    },
    unplug(host) {
      ip(['-n', host.ns, 'link', 'set', 'eth0', 'down']);
      ip(['-n', plan.bridgeNs, 'link', 'set', host.bridgePort, 'down']);
    },
    teardown() {
      for (const h of plan.hosts) removeNamespace(h.ns);
      removeNamespace(plan.bridgeNs);
    },
  };
}

// ---- processes inside a namespace ----

export interface NsRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `argv` inside `ns` and wait for it. */
export function execIn(ns: string, argv: string[], timeoutMs = 60_000, cwd?: string): Promise<NsRun> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20, ...(cwd ? { cwd } : {}), env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Long-running processes inside namespaces, output in `<dir>/<name>.out`. */
export class NsProcesses {
  private readonly children = new Map<string, ChildProcess>();

  constructor(private readonly dir: string) {}

  output(name: string): string {
    const out = join(this.dir, `${name}.out`);
    return existsSync(out) ? readFileSync(out, 'utf8') : '';
  }

  child(name: string): ChildProcess | undefined {
    return this.children.get(name);
  }

  /** `ip netns exec` runs the command in place, so the child's pid is the command's. */
  start(name: string, ns: string, argv: string[]): ChildProcess {
    const fd = openSync(join(this.dir, `${name}.out`), 'a');
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { cwd: this.dir, stdio: ['ignore', fd, fd], env: { ...process.env, NO_COLOR: '1' } });
    this.children.set(name, child);
    return child;
  }

  /** Resolves once `ready` matches the output; throws when the process exits first or time runs out. */
  async waitOutput(name: string, ready: RegExp, timeoutMs = 40_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const child = this.children.get(name);
      const text = this.output(name);
      if (ready.test(text)) return;
      if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before ${ready}:\n${text.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${name}: no ${ready} within ${timeoutMs} ms:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM everything still running, SIGKILL after `graceMs`. */
  async stopAll(graceMs = 8000): Promise<void> {
    await Promise.all(
      [...this.children.entries()].map(
        ([name, child]) =>
          new Promise<void>((resolve) => {
            this.children.delete(name);
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }

  forget(name: string): void {
    this.children.delete(name);
  }
}

// ---- the relay: connections from the test into a namespace ----

export interface Relay {
  ns: string;
  socket: string;
  /** A TCP connection to `host:port` as seen from inside the namespace. */
  connect(host: string, port: number): net.Socket;
}

/** Start the relay inside `ns`, listening on `<dir>/relay-<name>.sock`. */
export async function startRelay(procs: NsProcesses, dir: string, name: string, ns: string): Promise<Relay> {
  const socket = join(dir, `relay-${name}.sock`);
  procs.start(`relay-${name}`, ns, [process.execPath, RELAY, socket]);
  await procs.waitOutput(`relay-${name}`, /relay listening/, 15_000);
  return {
    ns,
    socket,
    connect(host, port) {
      const s = net.connect(socket);
      s.write(`${host} ${port}\n`);
      return s;
    },
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export interface RelayRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** For https: the CA to trust (nothing else is). */
  ca?: string;
  timeoutMs?: number;
}

/** An HTTP(S) request made from inside the relay's namespace. */
export function relayRequest(relay: Relay, url: string, options: RelayRequest = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const timeoutMs = options.timeoutMs ?? 5000;
  const what = `${options.method ?? 'GET'} ${url} from ${relay.ns}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (answer: HttpAnswer | undefined, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (answer) resolve(answer);
      else reject(err ?? new Error(`${what}: closed without an answer`));
    };
    const req = http.request(
      {
        method: options.method ?? 'GET',
        host,
        port,
        path: `${u.pathname}${u.search}`,
        headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(options.headers ?? {}) },
        // No agent: only then does the request take its socket from createConnection.
        createConnection: () => {
          const raw = relay.connect(host, port);
          if (u.protocol !== 'https:') return raw;
          return tls.connect({ socket: raw, host, ca: options.ca, ...(net.isIP(host) ? {} : { servername: host }) });
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => settle({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', (err) => settle(undefined, new Error(`${what}: ${err.message}`)));
        res.on('close', () => settle(undefined, new Error(`${what}: the answer was cut off`)));
      },
    );
    // One deadline for the whole exchange, answer body included.
    const deadline = setTimeout(() => {
      settle(undefined, new Error(`${what}: no answer in ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    // The relay closes the connection when it cannot reach the target (EPIPE, ECONNRESET here).
    req.on('error', (err) => settle(undefined, new Error(`${what}: ${err.message}`)));
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export interface TlsProbe {
  authorized: boolean;
  authorizationError?: string;
  subject?: Record<string, string | string[]>;
  issuer?: Record<string, string | string[]>;
  /** Subject alternative names as node prints them (`IP Address:10.231.7.1, DNS:localhost`). */
  subjectaltname?: string;
  error?: string;
}

/** A TLS handshake to `host:port` from inside the namespace, trusting only `ca` (or the system's roots without it). */
export function probeTls(relay: Relay, host: string, port: number, ca?: string, timeoutMs = 5000): Promise<TlsProbe> {
  return new Promise((resolve) => {
    const raw = relay.connect(host, port);
    const s = tls.connect({ socket: raw, host, ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: false });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ authorized: false, error: `no handshake in ${timeoutMs} ms` });
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = s.getPeerCertificate();
      // The host name check as a client that verifies would do it.
      const identity = tls.checkServerIdentity(host, cert);
      resolve({
        authorized: s.authorized && identity === undefined,
        ...(s.authorizationError ? { authorizationError: String(s.authorizationError) } : identity ? { authorizationError: identity.message } : {}),
        subject: cert.subject as unknown as Record<string, string>,
        issuer: cert.issuer as unknown as Record<string, string>,
        ...(cert.subjectaltname ? { subjectaltname: cert.subjectaltname } : {}),
      });
      s.end();
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      resolve({ authorized: false, error: err.message });
    });
  });
}
