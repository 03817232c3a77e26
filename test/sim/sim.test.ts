// The deterministic simulation in CI: a fixed range of seeds (CAPSTAN_SIM_START, default 1;
// CAPSTAN_SIM_SEEDS, default 1,000) plus every seed that ever failed. A failing seed prints
// itself and the end of its trace; `npm run sim -- --seeds 1 --start SEED` replays it.
import { describe, expect, it } from 'vitest';
import { runSeed, type SimResult, type SimStats } from './harness.js';
import { REGRESSION_SEEDS } from './regressions.js';

const start = Number(process.env.CAPSTAN_SIM_START ?? 1);
const count = Number(process.env.CAPSTAN_SIM_SEEDS ?? 1000);

function explain(r: SimResult): string {
  // Violations found while running: every message up to the first one. Found by the checks
  // at the end (linearizability, log matching, liveness): the run's main events.
  const replay = runSeed(r.seed, { verbose: true });
  const during = replay.violations.length > 0 && !/linearizability|log matching|liveness/.test(replay.violations[0]!);
  return [
    `seed ${r.seed}: ${r.violations.length} violation(s)`,
    ...r.violations.slice(0, 5),
    `--- last trace lines (replay: npm run sim -- --seeds 1 --start ${r.seed}) ---`,
    ...(during ? replay.trace.slice(-80) : r.trace.slice(-60)),
  ].join('\n');
}

describe('raft simulation', () => {
  it(`keeps every invariant and linearizability on seeds ${start}..${start + count - 1}`, () => {
    const failed: string[] = [];
    const total: Partial<Record<keyof SimStats, number>> = {};
    for (let seed = start; seed < start + count; seed++) {
      const r = runSeed(seed);
      for (const [k, v] of Object.entries(r.stats) as Array<[keyof SimStats, number]>) total[k] = (total[k] ?? 0) + v;
      if (r.violations.length) {
        failed.push(explain(r));
        if (failed.length >= 3) break;
      }
    }
    if (process.env.CAPSTAN_SIM_STATS) console.log(JSON.stringify(total));
    expect(failed.join('\n\n')).toBe('');
    // The faults and features the run is meant to exercise did happen.
    if (count >= 200) {
      for (const k of [
        'crashes', 'partitions', 'pauses', 'snapshotsInstalled', 'confChanges', 'transfers', 'tornWrites', 'followerReads',
        'deletes', 'watchEvents', 'watchResumes', 'leaderDeaths',
      ] as const) {
        expect(total[k], k).toBeGreaterThan(0);
      }
      expect(total.opsOk!).toBeGreaterThan(count * 20);
    }
  }, 600_000);

  for (const { seed, found } of REGRESSION_SEEDS) {
    it(`regression seed ${seed}: ${found}`, () => {
      const r = runSeed(seed);
      expect(r.violations.length ? explain(r) : '').toBe('');
    });
  }
});
