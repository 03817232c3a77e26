// Controller takeover after kill -9 (P7b). Three `capstan server` processes (the built
// binary) form a Raft group on 127.0.0.1. Each round kills the member that holds controller
// leadership with SIGKILL. It then measures the time until a survivor says, on /metrics, that
// it holds leadership. When the killed member also led the Raft group, it also measures, as
// the reference from the same round, the time until the survivors agree on a new Raft leader
// (GET /api/v1/members). The takeover cannot be shorter than that election. The killed member
// is restarted before the next round.
//   node bench/takeover.mjs [--rounds 8]
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';
import { fmt, machineLine, markdownTable } from './lib/report.mjs';
import { median, now, percentile } from './lib/stats.mjs';

const o = parseOptions('bench/takeover.mjs', 'Controller takeover after kill -9 of the holder, in a 3-member group (P7b).', {
  rounds: { type: 'number', default: 8, help: 'kills of the holder' },
  quick: { type: 'flag', help: 'three rounds' },
});
const rounds = o.quick ? 3 : o.rounds;
const BIN = fileURLToPath(new URL('../bin/capstan.js', import.meta.url));
const NAMES = ['a', 'b', 'c'];
const dir = mkdtempSync(join(tmpdir(), 'capstan-bench-takeover-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const { freePort: fp } = await import('../dist/store/etcd/index.js');
  return fp();
}

const members = new Map();
let token = '';

function start(m) {
  const fd = openSync(join(dir, `${m.name}.out`), 'a');
  m.child = spawn(
    process.execPath,
    [BIN, 'server', '--name', m.name, '--peers', members.peers, '--cluster-token-file', join(dir, 'cluster.token'), '--port', String(m.port), '--data-dir', join(dir, m.name), '--source', join(dir, 'manifests'), '--no-router', '--no-status-write', '--sync-schedule', '0 0 1 1 *', '--heartbeat-interval', '50', '--election-timeout', '500', '--log-level', process.env.CAPSTAN_BENCH_LOG_LEVEL ?? 'warn'],
    { stdio: ['ignore', fd, fd], env: { ...process.env, NO_COLOR: '1' } },
  );
}

async function until(fn, timeoutMs, what, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function get(m, path) {
  const res = await fetch(`http://127.0.0.1:${m.port}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(1000) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return path === '/metrics' ? res.text() : res.json();
}

/** The members (of `among`) whose /metrics says they hold controller leadership. */
async function holders(among) {
  const texts = await Promise.all(among.map((m) => get(m, '/metrics').catch(() => '')));
  return among.filter((_, i) => /^capstan_controller_leader\{[^}]*\} 1$/m.test(texts[i]));
}

/** The Raft leader's name, when every member of `among` names the same one. */
async function agreedLeader(among) {
  const lists = await Promise.all(among.map((m) => get(m, '/api/v1/members')));
  const names = lists.map((l) => l.members.find((x) => x.leader)?.name);
  return names[0] && names.every((n) => n === names[0]) && among.some((m) => m.name === names[0]) ? names[0] : undefined;
}

async function main() {
  const { execFileSync } = await import('node:child_process');
  execFileSync('git', ['init', '-q', '-b', 'main', join(dir, 'manifests')]);
  writeFileSync(join(dir, 'manifests', 'README.md'), 'takeover bench\n');
  execFileSync('git', ['-C', join(dir, 'manifests'), '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '--allow-empty', '-m', 'start']);
  writeFileSync(join(dir, 'cluster.token'), 'bench-cluster-token-0123456789abcdef\n', { mode: 0o600 });
  const peers = [];
  for (const name of NAMES) {
    const m = { name, port: await freePort() };
    members.set(name, m);
    peers.push(`${name}=http://127.0.0.1:${await freePort()}`);
  }
  members.peers = peers.join(',');
  const all = () => [...members.values()];
  for (const m of all()) start(m);
  token = await until(async () => readFileSync(join(dir, 'a', 'admin.token'), 'utf8').trim(), 60_000, 'the admin token');
  const rows = [];
  for (let round = 1; round <= rounds; round++) {
    const [holder] = await until(async () => {
      const h = await holders(all());
      return h.length === 1 && (await agreedLeader(all())) ? h : undefined;
    }, 60_000, 'one holder and an agreed Raft leader');
    const raftLeader = await agreedLeader(all());
    // Let a few renewals pass, so the kill lands at a random point of the renewal period.
    await sleep(500 + Math.random() * 400);
    const survivors = all().filter((m) => m !== holder);
    const killedAt = now();
    holder.child.kill('SIGKILL');
    await new Promise((r) => holder.child.once('exit', r));
    let electedMs;
    const electing = raftLeader === holder.name
      ? until(() => agreedLeader(survivors), 30_000, 'a new Raft leader').then(() => (electedMs = now() - killedAt))
      : Promise.resolve();
    const next = await until(async () => {
      const h = await holders(survivors);
      return h.length === 1 ? h[0] : undefined;
    }, 30_000, 'a new holder');
    const takeoverMs = now() - killedAt;
    await electing;
    rows.push({ round, killed: holder.name, alsoRaftLeader: raftLeader === holder.name, takeoverMs, electedMs, next: next.name });
    console.error(`round ${round}: killed ${holder.name}${raftLeader === holder.name ? ' (also Raft leader)' : ''}; ${next.name} took over in ${fmt(takeoverMs)} ms${electedMs ? `, Raft leader agreed in ${fmt(electedMs)} ms` : ''}`);
    start(holder);
    await until(async () => (await get(holder, '/api/v1/members')).members.length === 3, 60_000, `${holder.name} back`);
  }
  for (const m of all()) m.child.kill('SIGTERM');
  await sleep(1500);

  const t = rows.map((r) => r.takeoverMs);
  const led = rows.filter((r) => r.alsoRaftLeader);
  const ratio = led.map((r) => r.takeoverMs / r.electedMs);
  console.log(`# Controller takeover after kill -9 (P7b), ${rounds} rounds\n`);
  console.log(machineLine());
  console.log('');
  console.log(
    markdownTable(
      ['measure', 'value'],
      [
        ['takeover, median (ms)', fmt(median(t))],
        ['takeover, max (ms)', fmt(Math.max(...t))],
        ['takeover, p90 (ms)', fmt(percentile(t, 90))],
        ['rounds where the holder also led the Raft group', `${led.length} of ${rows.length}`],
        ['those rounds: takeover / Raft election of the same round, median', led.length ? `${fmt(median(ratio), 2)}x` : 'n/a'],
        ['goal', '< 2,000 ms'],
      ],
      ['left', 'right'],
    ),
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const m of members.values()) m.child?.kill('SIGKILL');
    if (!process.env.CAPSTAN_KEEP_BENCH) rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${dir}`);
  });
