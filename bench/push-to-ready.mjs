// Push to ready: from `git push` of a new 3-replica Deployment to all three pods Ready, with
// a sync triggered right after the push (process runtime, readiness period 1 s). Median and
// max over 10 runs. The reference measured in the same run is the floor of the pods
// themselves: starting three of the same `node` servers directly and polling them until
// they answer.
// Usage: node bench/push-to-ready.mjs [--runs N]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { parseOptions } from './lib/options.mjs';
import { machineLine, markdownTable, fmt } from './lib/report.mjs';

const options = parseOptions('bench/push-to-ready.mjs', 'From `git push` of a 3-replica Deployment to all three pods Ready, against starting the pods directly.', {
  runs: { type: 'number', default: 10, help: 'pushes measured' },
});
const RUNS = options.runs;

const SERVER = `const http = require('http');
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;

function git(cwd, ...a) {
  return execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', '-c', 'gc.auto=0', ...a], { cwd, encoding: 'utf8' });
}

function deployment(name) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 3
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: app
          image: node:20-alpine
          command: ["node", "-e", ${JSON.stringify(SERVER)}]
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet: { path: /, port: 8080 }
            periodSeconds: 1
`;
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function answers(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 200 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Three of the same servers started directly, until all answer: what the pods cost at least. */
async function floorMs() {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const t0 = performance.now();
  const children = ports.map((port) => spawn(process.execPath, ['-e', SERVER], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' }));
  try {
    for (;;) {
      const ok = await Promise.all(ports.map(answers));
      if (ok.every(Boolean)) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

async function readyPods(kv, name) {
  const r = await kv.range(`/capstan/pods/default/${name}-`, { prefix: true });
  let ready = 0;
  for (const item of r.kvs) {
    const pod = JSON.parse(Buffer.from(item.value).toString('utf8'));
    if (pod.status?.ready && !pod.metadata.deletionRequestedAt) ready++;
  }
  return ready;
}

export async function run() {
  const { startLocalCluster } = await import('../dist/compose/index.js');
  const root = mkdtempSync(join(tmpdir(), 'capstan-bench-push-'));
  const bare = join(root, 'deploy.git');
  const work = join(root, 'work');
  const dataDir = join(root, 'data');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  writeFileSync(join(work, 'keep.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata: {}\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-qm', 'start');
  git(work, 'remote', 'add', 'origin', bare);
  git(work, 'push', '-q', 'origin', 'main');

  const cluster = await startLocalCluster({
    source: bare,
    branch: 'main',
    dataDir,
    port: await freePort(),
    logger: pino({ level: 'silent' }),
    runtime: 'process',
    syncSchedule: '0 0 1 1 *',
  });
  const times = [];
  const floors = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      floors.push(await floorMs());
      const name = `app-${i}`;
      writeFileSync(join(work, `${name}.yaml`), deployment(name));
      git(work, 'add', '-A');
      git(work, 'commit', '-qm', `deploy ${name}`);
      const t0 = performance.now();
      git(work, 'push', '-q', 'origin', 'main');
      await cluster.sync.sync('bench');
      for (;;) {
        if ((await readyPods(cluster.kv, name)) >= 3) break;
        if (performance.now() - t0 > 60_000) throw new Error(`${name} not ready after 60 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      times.push(performance.now() - t0);
    }
  } finally {
    await cluster.agent.stop({ stopPods: true });
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const sorted = (xs) => [...xs].sort((a, b) => a - b);
  const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
  const max = (xs) => sorted(xs)[xs.length - 1];
  return [
    `### Push to ready: a 3-replica Deployment, ${RUNS} runs`,
    '',
    machineLine(),
    '',
    markdownTable(
      ['measurement', 'median (ms)', 'max (ms)', 'ratio to floor (median)', 'goal'],
      [
        ['floor: 3 of the same `node` servers started directly until they answer', fmt(median(floors)), fmt(max(floors)), '1.0x', ''],
        ['`git push` → sync → scheduled → started → all 3 Ready (process runtime)', fmt(median(times)), fmt(max(times)), `${(median(times) / median(floors)).toFixed(1)}x`, '< 3,000 ms'],
      ],
      ['l', 'r', 'r', 'r', 'l'],
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await run());
  process.exit(0);
}
