// Helpers for the KV contract suite (contract.ts).
import { expect } from 'vitest';
import { isCapstanError, type ErrorCode } from '../../src/common/index.js';
import type { Watch, WatchBatch } from '../../src/store/types.js';

export const text = (v: Uint8Array | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v).toString('utf8');

/** Resolve with the promise, or reject after `ms`: a guard against hangs, not a timing check. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads batches from a watch one at a time, keeping the iterator between calls. */
export class WatchReader {
  private readonly it: AsyncIterator<WatchBatch>;
  constructor(readonly watch: Watch) {
    this.it = watch[Symbol.asyncIterator]();
  }
  async next(ms = 5000): Promise<WatchBatch> {
    const r = await within(this.it.next(), ms, 'a watch batch');
    if (r.done) throw new Error('watch ended');
    return r.value;
  }
  /** Batches until `count` events have arrived. */
  async events(count: number, ms = 5000): Promise<WatchBatch[]> {
    const out: WatchBatch[] = [];
    let n = 0;
    while (n < count) {
      const b = await this.next(ms);
      out.push(b);
      n += b.events.length;
    }
    return out;
  }
  close(): void {
    this.watch.close();
  }
}

export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect(isCapstanError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
