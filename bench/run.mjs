// The one benchmark entry point (`npm run bench`). Runs every bench/*.mjs file in its own
// Node process, one after the other, or only those named on the command line:
//   node bench/run.mjs              every benchmark
//   node bench/run.mjs store plan   bench/store.mjs, then bench/plan.mjs
// Arguments after `--` go to each benchmark. Needs `npm run build` first (benches import dist/).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from './lib/options.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const { _: names } = parseOptions('bench/run.mjs', 'Runs every benchmark (bench/*.mjs), or the ones named, each in its own Node process.', {}, {
  argv: dash >= 0 ? argv.slice(0, dash) : argv,
  positional: true,
  usageArgs: ' [name ...] [-- arguments for each benchmark]',
});
const passThrough = dash >= 0 ? argv.slice(dash + 1) : [];

const all = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .sort();

let files = all;
if (names.length > 0) {
  files = names.map((n) => `${basename(n).replace(/\.mjs$/, '')}.mjs`);
  const missing = files.filter((f) => !all.includes(f));
  if (missing.length > 0) {
    console.error(`unknown benchmark(s): ${missing.join(', ')}; available: ${all.join(', ')}`);
    process.exit(2);
  }
}
if (!existsSync(join(here, '..', 'dist'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  console.error(`\n== bench/${file}`);
  const res = spawnSync(process.execPath, ['--expose-gc', join(here, file), ...passThrough], { stdio: 'inherit' });
  if (res.status !== 0) {
    failed++;
    console.error(`bench/${file} failed (${res.signal ?? `exit ${res.status}`})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
