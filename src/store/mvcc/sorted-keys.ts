// The sorted key index: a list of small sorted chunks. Insert and lookup are a binary search
// over chunk bounds plus one inside a chunk, with splices bounded by the chunk size, so a
// put stays O(log n) in practice; a range is a seek followed by an ordered scan.

const MAX_CHUNK = 512;

export class SortedKeys {
  private chunks: string[][] = [];
  private total = 0;

  get size(): number {
    return this.total;
  }

  /** Index of the first chunk whose last key is >= key (chunks.length when none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid]!;
      if (c[c.length - 1]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private static lowerBound(a: string[], key: string): number {
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds the key; false when it was already present. */
  insert(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.total = 1;
      return true;
    }
    let ci = this.chunkFor(key);
    if (ci === this.chunks.length) ci--; // past the end: append to the last chunk
    const chunk = this.chunks[ci]!;
    const i = SortedKeys.lowerBound(chunk, key);
    if (chunk[i] === key) return false;
    chunk.splice(i, 0, key);
    this.total++;
    if (chunk.length > MAX_CHUNK) this.chunks.splice(ci + 1, 0, chunk.splice(MAX_CHUNK >>> 1));
    return true;
  }

  remove(key: string): boolean {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (!chunk) return false;
    const i = SortedKeys.lowerBound(chunk, key);
    if (chunk[i] !== key) return false;
    chunk.splice(i, 1);
    this.total--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** Keys k with from <= k, in order, while `accept(k)` says to keep going. */
  *from(from: string): Generator<string> {
    let ci = this.chunkFor(from);
    if (ci >= this.chunks.length) return;
    let i = SortedKeys.lowerBound(this.chunks[ci]!, from);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const chunk = this.chunks[ci]!;
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }

  *all(): Generator<string> {
    for (const chunk of this.chunks) yield* chunk;
  }
}
