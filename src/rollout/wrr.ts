// Smooth weighted round-robin (nginx's upstream algorithm): every pick adds each backend's
// weight to its running score, takes the highest, and subtracts the total from the winner.
// Over any window of `total` picks each backend gets exactly its weight, evenly interleaved
// (5/95 gives one canary request in every 20, not five in a row).

export interface WeightedEntry<T> {
  item: T;
  weight: number;
}

export class SmoothWeightedRoundRobin<T> {
  private items: T[] = [];
  private weights: number[] = [];
  private current: number[] = [];
  private total = 0;

  constructor(entries: ReadonlyArray<WeightedEntry<T>> = []) {
    this.setWeights(entries);
  }

  /** Replaces the backends; entries with weight <= 0 are never picked. Restarts the sequence. */
  setWeights(entries: ReadonlyArray<WeightedEntry<T>>): void {
    const live = entries.filter((e) => e.weight > 0 && Number.isFinite(e.weight));
    this.items = live.map((e) => e.item);
    this.weights = live.map((e) => e.weight);
    this.current = live.map(() => 0);
    this.total = this.weights.reduce((a, b) => a + b, 0);
  }

  /** The next backend, or undefined when none has weight. */
  pick(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    let best = 0;
    for (let i = 0; i < n; i++) {
      this.current[i] += this.weights[i];
      if (this.current[i] > this.current[best]) best = i;
    }
    this.current[best] -= this.total;
    return this.items[best];
  }
}
