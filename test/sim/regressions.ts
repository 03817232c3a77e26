// Every seed that ever failed the simulation, with what it found. Each runs as its own test
// case, so a fixed bug stays fixed.
export const REGRESSION_SEEDS: ReadonlyArray<{ seed: number; found: string }> = [
  {
    seed: 3808,
    found:
      'the leader-completeness check itself: a candidate of term 3 won from delayed votes after term 4 had committed; ' +
      'only leaders of terms after the one an entry was committed in must hold it',
  },
];
