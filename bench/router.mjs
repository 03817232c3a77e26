// Router throughput and tail latency against nginx, same backends, same load generator, same
// run. Two small Node HTTP backends run in one child process, the Capstan router (embedded
// store, one Service with two ready pods) in another, nginx (Debian's package) as a reverse
// proxy with keep-alive upstreams, and this process is the load generator: 50 keep-alive
// connections, a fixed number of GETs, every request's latency recorded.
//   npm run build && node bench/router.mjs [--requests 20000] [--rounds 2] [--quick]
//   [--router-node-args '--cpu-prof --cpu-prof-dir=/tmp/prof']   (profile the router process)
// Targets are measured in interleaved rounds (direct, nginx, router, ...) so a burst of
// other work on the machine hits all of them alike; each row pools its rounds.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseOptions } from './lib/options.mjs';
import { machineLine, markdownTable, fmt } from './lib/report.mjs';
import { now, percentile } from './lib/stats.mjs';

const self = fileURLToPath(import.meta.url);
const options = parseOptions('bench/router.mjs', 'Router throughput and tail latency against nginx, same backends and load generator.', {
  requests: { type: 'number', help: 'requests per target and round (default 20000, 5000 with --quick)' },
  rounds: { type: 'number', help: 'interleaved rounds (default 2, 1 with --quick)' },
  quick: { type: 'flag', help: 'fewer requests and one round' },
  'router-workers': { type: 'number', default: 2, help: 'worker processes of the second router row (the first runs in one process)' },
  'compare-dist': { type: 'string', default: '', help: 'a dist/ folder of another build (e.g. a git worktree at an older commit): one more row, its router in one process' },
  'router-node-args': { type: 'string', default: '', help: "node arguments for the router process, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'" },
  role: { type: 'string', default: 'main', help: 'child process role (backend, router)', hidden: true },
  ports: { type: 'string', default: '', help: 'backend ports of the router child', hidden: true },
  workers: { type: 'number', default: 1, help: 'worker processes of the router child', hidden: true },
  dist: { type: 'string', default: '', help: 'dist/ folder the router child loads', hidden: true },
});
const role = options.role;
const CONNECTIONS = 50;
const BODY = 'x'.repeat(64);

// ---- child roles -------------------------------------------------------------------------

async function listenFree(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

async function runBackends() {
  const ports = [];
  for (let i = 0; i < 2; i++) {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
        res.end(BODY);
      });
    });
    server.keepAliveTimeout = 60_000;
    ports.push(await listenFree(server));
  }
  process.stdout.write(`${JSON.stringify({ ports })}\n`);
}

async function runRouter() {
  const ports = options.ports.split(',').map(Number);
  const { Registry } = await import('prom-client');
  const dist = options.dist === '' ? new URL('../dist/', import.meta.url) : pathToFileURL(`${options.dist.replace(/\/$/, '')}/`);
  const { Router } = await import(new URL('router/index.js', dist).href);
  const { openEmbeddedStore } = await import(new URL('store/index.js', dist).href);
  const { silentLogger } = await import(new URL('common/index.js', dist).href);
  const kv = await openEmbeddedStore({});
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
  await kv.put('/capstan/desired/Service/default/web', JSON.stringify({ object: svc, source: { path: 'svc.yaml' } }));
  for (const [i, port] of ports.entries()) {
    const pod = {
      metadata: { name: `web-${i}`, namespace: 'default', labels: { app: 'web' }, owner: { kind: 'Deployment', name: 'web', revision: i === 0 ? 'stable' : 'canary' }, createdAt: new Date().toISOString() },
      spec: { containers: [{ name: 'web', image: 'web', ports: [{ containerPort: 8080, name: 'http' }] }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
      status: { phase: 'Running', ready: true, hostIP: '127.0.0.1', ports: { http: port } },
    };
    await kv.put(`/capstan/pods/default/web-${i}`, JSON.stringify(pod));
  }
  // A canary split, so the router does its real per-request work (weighted pick per request).
  await kv.put('/capstan/traffic/default/web', JSON.stringify({ weights: { stable: 50, canary: 50 } }));
  const router = new Router({ kv, logger: silentLogger(), registry: new Registry(), portFor: () => 0, pool: { idleSocketMs: 30_000 }, workers: options.workers });
  await router.start();
  // Exit on SIGTERM through process.exit, so `--cpu-prof` (set via ROUTER_BENCH_NODE_OPTIONS) gets written.
  process.on('SIGTERM', () => process.exit(0));
  for (;;) {
    const view = router.addresses()[0];
    if (view !== undefined && view.endpoints.length === 2 && typeof view.address === 'string') {
      process.stdout.write(`${JSON.stringify({ address: view.address })}\n`);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- main --------------------------------------------------------------------------------

function startChild(childArgs, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, self, ...childArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, info: JSON.parse(buf.slice(0, nl)) });
    });
    child.on('exit', (code) => reject(new Error(`child ${childArgs.join(' ')} exited with ${code}`)));
  });
}

// CPU time of processes from /proc (utime + stime, clock ticks): what each proxy itself
// spent, which a busy shared machine disturbs far less than wall-clock throughput.
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

function statOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; ppid is the 2nd, utime the 12th, stime the 13th.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** The pid and its direct children (nginx's workers). */
function withChildren(pid) {
  const pids = [pid];
  for (const e of readdirSync('/proc')) if (/^[0-9]+$/.test(e) && statOf(e)?.ppid === pid) pids.push(Number(e));
  return pids;
}

function cpuMs(pids) {
  return pids.reduce((sum, p) => sum + (statOf(p)?.ticks ?? 0), 0) * TICK_MS;
}

function ensureNginx() {
  if (spawnSync('nginx', ['-v']).status === 0) return;
  console.error('nginx missing: apt-get install -y nginx-light');
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'nginx-light'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error('could not install nginx');
}

async function freePort() {
  const s = net.createServer();
  const port = await listenFree(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function startNginx(backendPorts, workers) {
  const prefix = mkdtempSync(join(os.tmpdir(), 'capstan-bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(prefix, d));
  const port = await freePort();
  const conf = `
worker_processes ${workers};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream backends {
${backendPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')], { stdio: ['ignore', 'inherit', 'inherit'] });
  // Ready once it answers.
  const agent = new http.Agent({ keepAlive: false });
  for (let i = 0; ; i++) {
    try {
      await request(agent, '127.0.0.1', port);
      break;
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  agent.destroy();
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      child.kill('SIGQUIT');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function request(agent, host, port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host, port, path: '/' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `count` GETs over `CONNECTIONS` keep-alive connections; targets are tried in turn (direct). */
async function drive(addresses, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const targets = addresses.map((a) => {
    const [host, port] = a.split(':');
    return { host, port: Number(port) };
  });
  const latencies = new Float64Array(count);
  let next = 0;
  let failures = 0;
  const start = now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = targets[i % targets.length];
      const s = now();
      try {
        await request(agent, t.host, t.port);
      } catch {
        failures++;
      }
      latencies[i] = now() - s;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const ms = now() - start;
  agent.destroy();
  return { latencies: Array.from(latencies), ms, failures };
}

async function main() {
  const quick = options.quick;
  const requests = options.requests ?? (quick ? 5000 : 20000);
  const rounds = options.rounds ?? (quick ? 1 : 2);
  ensureNginx();
  const started = now();
  const backends = await startChild(['--role', 'backend']);
  const ports = backends.info.ports;
  const profile = options.routerNodeArgs;
  const nodeArgs = profile === '' ? [] : profile.split(' ');
  const workers = options.routerWorkers;
  const router = await startChild(['--role', 'router', '--ports', ports.join(','), '--workers', '1'], nodeArgs);
  const routerWorkers = await startChild(['--role', 'router', '--ports', ports.join(','), '--workers', String(workers)], nodeArgs);
  const compare = options.compareDist === '' ? undefined : await startChild(['--role', 'router', '--ports', ports.join(','), '--workers', '1', '--dist', options.compareDist], nodeArgs);
  const nginxAuto = await startNginx(ports, 'auto');
  const nginxOne = await startNginx(ports, 1);
  const targets = [
    { name: 'direct to the backends (reference)', addresses: ports.map((p) => `127.0.0.1:${p}`), pids: [] },
    { name: `nginx ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')}, worker_processes auto (${os.cpus().length})`, addresses: [nginxAuto.address], key: 'nginx', pids: withChildren(nginxAuto.pid) },
    { name: 'nginx, worker_processes 1', addresses: [nginxOne.address], pids: withChildren(nginxOne.pid) },
    { name: 'Capstan router (one Node process, 50/50 split)', addresses: [router.info.address], pids: [router.child.pid] },
    ...(compare === undefined ? [] : [{ name: `Capstan router built from ${options.compareDist} (one Node process)`, addresses: [compare.info.address], pids: [compare.child.pid] }]),
    { name: `Capstan router, ${workers} worker processes (--router-workers ${workers}, 50/50 split)`, addresses: [routerWorkers.info.address], key: 'router', pids: withChildren(routerWorkers.child.pid) },
  ];
  const pooled = new Map(targets.map((t) => [t.name, { latencies: [], ms: 0, count: 0, failures: 0, cpu: 0 }]));
  try {
    for (const t of targets) await drive(t.addresses, Math.min(2000, requests)); // warm-up (JIT, pools)
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        const cpuBefore = cpuMs(t.pids);
        const res = await drive(t.addresses, requests);
        const p = pooled.get(t.name);
        p.cpu += cpuMs(t.pids) - cpuBefore;
        p.latencies.push(...res.latencies);
        p.ms += res.ms;
        p.count += requests;
        p.failures += res.failures;
        console.error(`round ${r + 1}: ${t.name}: ${fmt((requests * 1000) / res.ms)} req/s`);
      }
    }
  } finally {
    await nginxAuto.stop();
    await nginxOne.stop();
    router.child.kill('SIGTERM');
    routerWorkers.child.kill('SIGTERM');
    compare?.child.kill('SIGTERM');
    backends.child.kill('SIGTERM');
  }
  const result = new Map();
  for (const t of targets) {
    const p = pooled.get(t.name);
    result.set(t.name, { rps: (p.count * 1000) / p.ms, p50: percentile(p.latencies, 50), p99: percentile(p.latencies, 99), failures: p.failures, cpuUs: t.pids.length === 0 ? NaN : (p.cpu * 1000) / p.count });
  }
  const nginx = result.get(targets.find((t) => t.key === 'nginx').name);
  const rows = targets.map((t) => {
    const r = result.get(t.name);
    return [t.name, fmt(r.rps), fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.rps / nginx.rps, 2) + 'x', fmt(r.p99 / nginx.p99, 2) + 'x', t.pids.length === 0 ? '–' : fmt(r.cpuUs), fmt(r.failures)];
  });
  const routerRes = result.get(targets.find((t) => t.key === 'router').name);
  const throughputOk = routerRes.rps >= 0.9 * nginx.rps;
  const p99Ok = routerRes.p99 <= 1.3 * nginx.p99;
  const cpuOk = routerRes.cpuUs <= 2 * nginx.cpuUs;
  console.log(`### Router: Capstan router vs nginx, ${CONNECTIONS} keep-alive connections\n`);
  console.log(machineLine());
  console.log(
    `\n${fmt(requests)} GETs per target per round, ${rounds} round(s) interleaved, ${BODY.length}-byte responses from two Node backends; load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}. Whole run: ${fmt((now() - started) / 1000)} s.\n`,
  );
  console.log(
    markdownTable(['target', 'requests/s', 'p50 (ms)', 'p99 (ms)', 'throughput ÷ nginx', 'p99 ÷ nginx', 'proxy CPU (µs/request)', 'failed'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
  );
  console.log(
    `\nGoal for the ${workers}-worker router against nginx (auto) (throughput at least 0.9x, p99 within 1.3x, CPU per request within 2x): throughput ${throughputOk ? 'met' : 'NOT met'} (${fmt(routerRes.rps / nginx.rps, 2)}x), p99 ${p99Ok ? 'met' : 'NOT met'} (${fmt(routerRes.p99 / nginx.p99, 2)}x), CPU ${cpuOk ? 'met' : 'NOT met'} (${fmt(routerRes.cpuUs / nginx.cpuUs, 2)}x).`,
  );
}

if (role === 'backend') await runBackends();
else if (role === 'router') await runRouter();
else await main();
