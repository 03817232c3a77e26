// Plan benchmark: a generated repository of 10,000 manifests (5,000 Deployments and 5,000
// Services) in a real Git repository. Measured in one run, on this machine:
//   - the raw floor: `git ls-tree -r` plus `git cat-file --batch` of every blob;
//   - cold plan: read + parse + validate + diff against nothing, in a fresh process;
//   - plan after a one-file commit, in a process that planned the previous commit.
// Usage: node bench/plan.mjs [--manifests N] [--runs N]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';

const options = parseOptions('bench/plan.mjs', 'Cold plan and plan after a one-file commit of a generated repository, against raw git reads.', {
  manifests: { type: 'number', default: 10_000, help: 'manifests in the repository (half Deployments, half Services)' },
  runs: { type: 'number', default: 3, help: 'runs of each measurement' },
});
const MANIFESTS = options.manifests;
const RUNS = options.runs;
const root = fileURLToPath(new URL('..', import.meta.url));

function git(cwd, ...a) {
  return execFileSync('git', ['-c', 'gc.auto=0', ...a], { cwd, encoding: 'utf8', maxBuffer: 1 << 30 });
}

function deployment(i, image = `registry.local/app-${i}:1.0.${i % 7}`) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${i}
  namespace: team-${i % 20}
  labels:
    app: app-${i}
spec:
  replicas: ${1 + (i % 5)}
  selector:
    matchLabels:
      app: app-${i}
  template:
    metadata:
      labels:
        app: app-${i}
    spec:
      containers:
        - name: app
          image: ${image}
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
`;
}

function service(i) {
  return `apiVersion: v1
kind: Service
metadata:
  name: app-${i}
  namespace: team-${i % 20}
spec:
  selector:
    app: app-${i}
  ports:
    - port: 80
      targetPort: 8080
`;
}

function generate(dir, n) {
  git(dir, 'init', '-q', '-b', 'main');
  for (let i = 0; i < n / 2; i++) {
    const folder = join(dir, `team-${i % 20}`, `app-${i}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'deployment.yaml'), deployment(i));
    writeFileSync(join(folder, 'service.yaml'), service(i));
  }
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-qm', 'generated');
  git(dir, 'gc', '-q');
}

function rawFloorMs(dir) {
  const t0 = performance.now();
  const tree = git(dir, 'ls-tree', '-r', 'HEAD');
  const ids = tree
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[2]);
  const r = spawnSync('git', ['cat-file', '--batch'], { cwd: dir, input: ids.join('\n') + '\n', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error('git cat-file failed');
  return performance.now() - t0;
}

/** One cold plan in a fresh process: the CLI as a user runs it. */
function coldPlanMs(dir) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/capstan.js'), 'plan', dir, '--ref', 'main', '-o', 'json'], {
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`plan failed (${r.status}): ${r.stderr.slice(0, 500)}`);
  const plan = JSON.parse(r.stdout);
  if (plan.changes.length !== MANIFESTS) throw new Error(`expected ${MANIFESTS} changes, got ${plan.changes.length}`);
  return ms;
}

/** In-process: plan commit A, commit one file, plan again reading only what changed. */
async function replanMs(dir) {
  const { openSource } = await import('../dist/source/index.js');
  const { DesiredTracker } = await import('../dist/render/index.js');
  const { computePlan } = await import('../dist/plan/index.js');
  const source = await openSource(dir, {});
  const tracker = new DesiredTracker(source);
  const before = await tracker.update('main');
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const i = 7 + run;
    writeFileSync(join(dir, `team-${i % 20}`, `app-${i}`, 'deployment.yaml'), deployment(i, `registry.local/app-${i}:2.0.${run}`));
    git(dir, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-qam', `bump app-${i}`);
    const t0 = performance.now();
    const after = await tracker.update('main');
    const plan = computePlan({
      source: { location: dir, ref: 'main', commit: after.snapshot.commit },
      desired: after.objects,
      errors: after.errors,
      warnings: after.warnings,
      base: { kind: 'ref', location: dir, ref: 'previous' },
      current: before.objects,
    });
    times.push(performance.now() - t0);
    if (plan.errors.length) throw new Error(`unexpected errors: ${JSON.stringify(plan.errors[0])}`);
  }
  return times;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-plan-'));
  try {
    const t0 = performance.now();
    generate(dir, MANIFESTS);
    const genMs = performance.now() - t0;
    const floor = [];
    const cold = [];
    for (let r = 0; r < RUNS; r++) {
      floor.push(rawFloorMs(dir));
      cold.push(coldPlanMs(dir));
    }
    const replan = await replanMs(dir);
    const f = median(floor);
    const c = median(cold);
    const p = median(replan);
    const fmt = (ms) => `${ms.toFixed(0)} ms`;
    const lines = [
      `### Plan: ${MANIFESTS.toLocaleString('en')} manifests (median of ${RUNS} runs)`,
      '',
      `Machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}. Repository generated in ${fmt(genMs)}.`,
      '',
      '| measurement | time | ratio to raw floor | goal |',
      '|---|---:|---:|---|',
      `| raw floor: \`git ls-tree -r\` + \`git cat-file --batch\` of every blob | ${fmt(f)} | 1.0x | |`,
      `| cold \`capstan plan\` (fresh process: read + parse + validate + diff) | ${fmt(c)} | ${(c / f).toFixed(1)}x | < 2,000 ms |`,
      `| re-plan after a one-file commit (same process) | ${fmt(p)} | ${(p / f).toFixed(2)}x | < 100 ms |`,
    ];
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await run());
}
