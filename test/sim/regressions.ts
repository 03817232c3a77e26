// Every seed that ever failed the simulation, with what it found. Each runs as its own test
// case, so a fixed bug stays fixed.
export const REGRESSION_SEEDS: ReadonlyArray<{ seed: number; found: string }> = [];
