// Control-plane memory with 1,000 Deployments and 5,000 pods on simulated nodes.
// `capstan server` runs as a child process on a generated folder of manifests; this process
// plays 10 nodes through the API as agents do (register, heartbeat, list and then watch the
// pods bound to them, report each one Ready).
// Reported: the server's resident memory once every pod is Ready, against a reference
// measured in the same run: the same `capstan server` on an empty repository.
// Usage: node bench/control-plane-memory.mjs [--deployments N] [--replicas N] [--nodes N] [--quiet-seconds N] [--profile DIR]
// With --profile, the server writes a CPU profile and, at steady state, a heap snapshot to DIR.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';
import { machineLine, markdownTable, fmt } from './lib/report.mjs';

const options = parseOptions('bench/control-plane-memory.mjs', 'Resident memory of `capstan server` with generated Deployments and simulated nodes, against an empty repository.', {
  deployments: { type: 'number', default: 1000, help: 'Deployments in the repository' },
  replicas: { type: 'number', default: 5, help: 'replicas of each Deployment' },
  nodes: { type: 'number', default: 10, help: 'simulated nodes' },
  'quiet-seconds': { type: 'number', default: 30, help: 'seconds of steady state before memory is read' },
  profile: { type: 'string', help: 'folder for a CPU profile and a heap snapshot of the server' },
});
const DEPLOYMENTS = options.deployments;
const REPLICAS = options.replicas;
const NODES = options.nodes;
const QUIET_MS = options.quietSeconds * 1000;
const PROFILE = options.profile;
const bin = fileURLToPath(new URL('../bin/capstan.js', import.meta.url));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function generate(dir, n) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'keep.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata: {}\n');
  for (let i = 0; i < n; i++) {
    writeFileSync(
      join(dir, `app-${i}.yaml`),
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${i}
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: { app: app-${i} }
  template:
    metadata:
      labels: { app: app-${i} }
    spec:
      containers:
        - name: app
          image: registry.local/app-${i}:1
          resources:
            requests: { cpu: 10m, memory: 16Mi }
`,
    );
  }
}

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const heapProbe = fileURLToPath(new URL('./lib/heap-probe.mjs', import.meta.url));

/** The server's newest memory figures from the heap probe (bytes), or undefined before the first. */
function heapOf(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const mib = (bytes) => (bytes === undefined ? undefined : bytes / 2 ** 20);

async function startServer(source, dataDir, profile) {
  const port = await freePort();
  const heapFile = join(dataDir, '..', `heap-${port}.json`);
  const nodeArgs = profile ? ['--cpu-prof', '--cpu-prof-dir', profile, '--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', profile] : [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', heapProbe, bin, 'server', '--source', source, '--data-dir', dataDir, '--port', String(port), '--sync-schedule', '0 0 1 1 *', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CAPSTAN_BENCH_HEAP_FILE: heapFile },
  });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Capstan server:')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`capstan server exited with ${code}: ${out}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  return { child, url, token, heap: () => heapOf(heapFile) };
}

/** Reconciles and time spent per controller, from the server's /metrics, busiest first. */
async function controllerWork(url, token) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) return `(metrics: ${res.status})`;
  const per = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^capstan_controller_reconcile_(total|duration_seconds_sum)\{[^}]*controller="([^"]+)"[^}]*\} ([0-9.e+-]+)$/.exec(line);
    if (!m) continue;
    const c = per.get(m[2]) ?? { n: 0, s: 0 };
    if (m[1] === 'total') c.n += Number(m[3]);
    else c.s += Number(m[3]);
    per.set(m[2], c);
  }
  return [...per].sort((a, b) => b[1].s - a[1].s).map(([name, c]) => `${name} ${fmt(c.n)} (${fmt(c.s, 1)} s)`).join(', ') || '(none)';
}

async function api(url, token, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Nodes as agents present themselves: register and heartbeat, list the pods once and then
 * watch them (Server-Sent Events, resumed after the last revision seen, listed again when
 * the stream fails), and report every pod bound to the node Ready as soon as it shows up.
 */
async function simulateNodes(url, adminToken, count) {
  const { AgentApiClient } = await import('../dist/agent/api-client.js');
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const name = `sim-${i}`;
    const { token } = await api(url, adminToken, 'POST', '/api/v1/tokens', { role: 'agent', node: name, user: `agent:${name}` });
    nodes.push({ name, token });
  }
  const heartbeat = () =>
    Promise.all(
      nodes.map((n) =>
        api(url, n.token, 'PUT', `/api/v1/nodes/${n.name}`, {
          labels: { 'kubernetes.io/hostname': n.name },
          capacity: { cpu: 64_000, memory: 256 * 2 ** 30, pods: 1000 },
          runtime: 'process',
          status: { ready: true, address: '127.0.0.1' },
        }),
      ),
    );
  await heartbeat();
  const abort = new AbortController();
  const sims = nodes.map((n) => simulateAgent(url, n, new AgentApiClient({ server: url, token: n.token }), abort.signal));
  return {
    heartbeat,
    ready: () => sims.reduce((sum, s) => sum + s.ready(), 0),
    bound: () => sims.reduce((sum, s) => sum + s.bound(), 0),
    stop: () => abort.abort(),
  };
}

function simulateAgent(url, node, client, signal) {
  const key = (pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;
  const pods = new Map();
  const reported = new Set();
  // Up to 8 status requests in flight, as the agent sends them (STATUS_PUSH_LANES in node-agent.ts).
  const waiting = [];
  let inFlight = 0;
  const pump = () => {
    while (inFlight < 8 && waiting.length > 0) {
      const { pod, k } = waiting.shift();
      inFlight++;
      const now = new Date().toISOString();
      api(url, node.token, 'PUT', `/api/v1/pods/${pod.metadata.namespace}/${pod.metadata.name}/status`, {
        phase: 'Running',
        ready: true,
        readySince: now,
        startedAt: now,
        hostIP: '127.0.0.1',
        containerStatuses: [{ name: 'app', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } }],
      })
        .catch(() => reported.delete(k))
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };
  const consider = (pod) => {
    const k = key(pod);
    if (pod.spec?.nodeName !== node.name || pod.metadata.deletionRequestedAt || pod.status?.ready || reported.has(k)) return;
    reported.add(k);
    waiting.push({ pod, k });
    pump();
  };
  const seen = (pod) => {
    if (pod.spec?.nodeName === node.name) pods.set(key(pod), pod);
    else pods.delete(key(pod));
    consider(pod);
  };
  void (async () => {
    while (!signal.aborted) {
      try {
        const body = await client.call('GET', '/api/v1/pods', undefined, signal);
        pods.clear();
        for (const pod of body.items) seen(pod);
        await client.watch('/api/v1/pods?watch=1', body.resourceVersion, signal, (events) => {
          for (const e of events) {
            if (e.type === 'DELETED') {
              pods.delete(key(e.object));
              reported.delete(key(e.object));
            } else seen(e.object);
          }
        });
      } catch {
        if (signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    ready: () => [...pods.values()].filter((p) => p.status?.ready === true && !p.metadata.deletionRequestedAt).length,
    bound: () => pods.size,
  };
}

/** Waits until a heap snapshot shows up in `dir` and stops growing. */
async function heapSnapshotWritten(dir) {
  let last = -1;
  for (let i = 0; i < 240; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
    const size = file ? statSync(join(dir, file)).size : -1;
    if (size > 0 && size === last) return;
    last = size;
  }
}

const heapCell = (h) => (h ? `${fmt(mib(h.heapUsed))} / ${fmt(mib(h.heapTotal))}` : '?');
const externalCell = (h) => (h?.external !== undefined ? `${fmt(mib(h.external))} / ${fmt(mib(h.arrayBuffers))}` : '?');

export async function run() {
  const root = mkdtempSync(join(tmpdir(), 'capstan-bench-mem-'));
  let started;
  try {
    // Reference: the same server on an empty repository.
    generate(join(root, 'empty'), 0);
    const ref = await startServer(join(root, 'empty'), join(root, 'data-empty'));
    await new Promise((r) => setTimeout(r, 2000));
    const refRss = rssMiB(ref.child.pid);
    const refHeap = ref.heap();
    ref.child.kill('SIGTERM');

    generate(join(root, 'repo'), DEPLOYMENTS);
    const t0 = Date.now();
    const srv = await startServer(join(root, 'repo'), join(root, 'data'), PROFILE);
    started = srv.child;
    const sim = await simulateNodes(srv.url, srv.token, NODES);
    const want = DEPLOYMENTS * REPLICAS;
    let ready = 0;
    let peak = 0;
    let peakHeap = 0;
    let lastBeat = Date.now();
    // Pods bound and Ready every 5 s, so a slow run shows which stage it waited on.
    const timeline = [];
    let nextMark = t0 + 5000;
    const sample = () => {
      peak = Math.max(peak, rssMiB(srv.child.pid));
      peakHeap = Math.max(peakHeap, mib(srv.heap()?.heapUsed) ?? 0);
      if (Date.now() >= nextMark) {
        timeline.push(`${Math.round((Date.now() - t0) / 1000)} s: ${sim.bound()} bound, ${sim.ready()} Ready`);
        nextMark = Date.now() + 5000;
      }
    };
    while (ready < want) {
      if (Date.now() - t0 > 600_000) throw new Error(`only ${ready}/${want} pods ready after 10 minutes`);
      if (Date.now() - lastBeat > 10_000) {
        await sim.heartbeat();
        lastBeat = Date.now();
      }
      ready = sim.ready();
      sample();
      if (ready < want) await new Promise((r) => setTimeout(r, 500));
    }
    const settleMs = Date.now() - t0;
    // Steady state: every Deployment has seen its pods Ready and says Healthy (the workload
    // controller writes each one's status after its pods), then a little quiet.
    let healthy = 0;
    let healthyMs;
    let storeRevision;
    while (Date.now() - t0 < 900_000) {
      const list = await api(srv.url, srv.token, 'GET', '/api/v1/deployments');
      healthy = list.items.filter((d) => d.phase === 'Healthy').length;
      storeRevision = list.resourceVersion;
      sample();
      if (healthy === DEPLOYMENTS) {
        healthyMs = Date.now() - t0;
        break;
      }
      if (Date.now() - lastBeat > 10_000) {
        await sim.heartbeat();
        lastBeat = Date.now();
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The nodes stay connected (watching), as agents do.
    await new Promise((r) => setTimeout(r, 5000));
    const steady = rssMiB(srv.child.pid);
    const steadyHeap = srv.heap();
    peak = Math.max(peak, steady);
    // For the reader: how much of that V8 and malloc give back once the process stays quiet.
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const quiet = rssMiB(srv.child.pid);
    const quietHeap = srv.heap();
    const work = await controllerWork(srv.url, srv.token);
    sim.stop();
    if (PROFILE) {
      srv.child.kill('SIGUSR2');
      await heapSnapshotWritten(PROFILE);
    }
    const exited = new Promise((r) => srv.child.once('exit', r));
    srv.child.kill('SIGTERM');
    await exited;
    return [
      `### Control-plane memory: ${fmt(DEPLOYMENTS)} Deployments, ${fmt(want)} pods on ${NODES} simulated nodes`,
      '',
      machineLine(),
      '',
      markdownTable(
        ['measurement', 'RSS (MiB)', 'ratio to empty', 'V8 heap used / total (MiB)', 'external / of it array buffers (MiB)', 'goal'],
        [
          ['reference: `capstan server` on an empty repository', fmt(refRss), '1.0x', heapCell(refHeap), externalCell(refHeap), ''],
          [`steady state, all ${fmt(want)} pods Ready, ${healthy} of ${fmt(DEPLOYMENTS)} Deployments Healthy`, fmt(steady), `${(steady / refRss).toFixed(1)}x`, heapCell(steadyHeap), externalCell(steadyHeap), '< 200 MiB'],
          [`the same, ${QUIET_MS / 1000} s later (nodes still watching)`, fmt(quiet), `${(quiet / refRss).toFixed(1)}x`, heapCell(quietHeap), externalCell(quietHeap), ''],
          ['peak while converging', fmt(peak), `${(peak / refRss).toFixed(1)}x`, `${fmt(peakHeap)} used`, '', ''],
        ],
        ['l', 'r', 'r', 'r', 'r', 'l'],
      ),
      '',
      `From start to every pod Ready: ${fmt(settleMs / 1000, 1)} s (goal < 8 s); to every Deployment Healthy: ${healthyMs === undefined ? 'not within 15 minutes' : `${fmt(healthyMs / 1000, 1)} s`} (goal < 10 s); store revision then: ${storeRevision === undefined ? '?' : fmt(Number(storeRevision))}.`,
      '',
      `Pods seen by the simulated nodes: ${timeline.join('; ')}.`,
      '',
      `Controller work over the run (reconciles, seconds spent): ${work}.`,
    ].join('\n');
  } finally {
    // A run that failed part way must not leave its server running.
    if (started && started.exitCode === null && started.signalCode === null) started.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await run());
  process.exit(0);
}
