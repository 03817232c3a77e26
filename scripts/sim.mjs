#!/usr/bin/env node
// Runs the deterministic Raft simulation over more seeds than CI does:
//   npm run sim -- --seeds 10000 [--start 1001]
// A failing seed prints itself and the end of its trace; `--seeds 1 --start SEED` replays it
// (add it to test/sim/regressions.ts once understood).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let seeds = 1000;
let start = 1;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = Number(args[++i]);
    if (!Number.isInteger(v) || v < 0) {
      console.error(`${a} needs a whole number`);
      process.exit(2);
    }
    return v;
  };
  if (a === '--seeds') seeds = value();
  else if (a === '--start') start = value();
  else if (a === '-h' || a === '--help') {
    console.log('usage: npm run sim -- [--seeds N] [--start S]');
    process.exit(0);
  } else {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
}

const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const res = spawnSync(process.execPath, [vitest, 'run', 'test/sim/sim.test.ts', '-t', 'keeps every invariant'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CAPSTAN_SIM_SEEDS: String(seeds), CAPSTAN_SIM_START: String(start), CAPSTAN_SIM_STATS: '1' },
});
process.exit(res.status ?? 1);
