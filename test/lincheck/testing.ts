// Test support for the checker's own tests: random histories that are linearizable by
// construction, and a brute-force oracle that shares no code with the checker.

import { seededRandom } from '../../src/scheduler/index.js';
import type { KvOperation } from './types.js';

export interface RandomHistoryOptions {
  operations: number;
  keys: number;
  /** Distinct values written. */
  values: number;
  /** How far a call may precede, and a return follow, the operation's linearization point. */
  window: number;
  /** Share of operations left without an answer (writes: half of them never take effect). */
  unknownRate: number;
}

export interface RandomHistory {
  history: KvOperation[];
  /**
   * A copy with one answered read changed: to `value` when given, otherwise to another value
   * the key could hold. Undefined when the history has no answered read.
   */
  mutateRead(seed: number, value?: string): KvOperation[] | undefined;
}

/**
 * A serial run of a KV register model, each operation given a linearization point; calls and
 * returns are then spread around that point, so the history is linearizable by construction.
 */
export function randomHistory(seed: number, options: RandomHistoryOptions): RandomHistory {
  const random = seededRandom(seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  const values = Array.from({ length: options.values }, (_, i) => `v${i}`);
  const state = new Map<string, string>();
  const history: KvOperation[] = [];
  let t = options.window + 1;
  for (let i = 0; i < options.operations; i++) {
    t += 1 + pick(3);
    const key = keys[pick(keys.length)];
    const client = pick(5);
    const call = t - pick(options.window + 1);
    const ret = t + pick(options.window + 1);
    const unknown = random() < options.unknownRate;
    const happens = !unknown || random() < 0.5;
    const roll = random();
    const current = state.get(key);
    if (roll < 0.35) {
      const value = values[pick(values.length)];
      if (happens) state.set(key, value);
      history.push(unknown ? { client, op: 'put', input: { key, value }, call } : { client, op: 'put', input: { key, value }, output: {}, call, ret });
    } else if (roll < 0.7) {
      history.push(unknown ? { client, op: 'get', input: { key }, call } : { client, op: 'get', input: { key }, output: { value: current }, call, ret });
    } else if (roll < 0.9) {
      const expected = random() < 0.5 ? current : random() < 0.3 ? undefined : values[pick(values.length)];
      const value = values[pick(values.length)];
      const ok = expected === current;
      if (happens && ok) state.set(key, value);
      history.push(
        unknown
          ? { client, op: 'cas', input: { key, expected, value }, call }
          : { client, op: 'cas', input: { key, expected, value }, output: { ok }, call, ret },
      );
    } else {
      const existed = current !== undefined;
      if (happens) state.delete(key);
      history.push(unknown ? { client, op: 'delete', input: { key }, call } : { client, op: 'delete', input: { key }, output: { deleted: existed }, call, ret });
    }
  }
  return {
    history,
    mutateRead(mutationSeed, value) {
      const reads = history.flatMap((op, i) => (op.op === 'get' && op.output !== undefined ? [i] : []));
      if (reads.length === 0) return undefined;
      const r = seededRandom(mutationSeed);
      const at = reads[Math.floor(r() * reads.length)];
      const original = history[at];
      if (original.op !== 'get' || original.output === undefined) return undefined;
      let next = value;
      if (next === undefined) {
        const choices = [undefined, ...values].filter((v) => v !== original.output?.value);
        next = choices[Math.floor(r() * choices.length)];
      }
      const copy = history.slice();
      copy[at] = { ...original, output: { value: next } };
      return copy;
    },
  };
}

/**
 * Linearizability of a one-key history by trying every order (small histories only): an
 * operation may go next when no unplaced answered operation returned before it was called.
 */
export function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  const ops = history.filter((op) => !(op.op === 'get' && (op.ret === undefined || op.output === undefined)));
  if (new Set(ops.map((op) => op.input.key)).size > 1) throw new Error('brute force handles one key');
  const answered = (op: KvOperation): boolean => op.ret !== undefined && op.output !== undefined;
  const placed = new Array<boolean>(ops.length).fill(false);
  const apply = (state: string | undefined, op: KvOperation): { ok: boolean; state: string | undefined } => {
    const known = answered(op);
    switch (op.op) {
      case 'put':
        return { ok: true, state: op.input.value };
      case 'get':
        return { ok: op.output?.value === state, state };
      case 'cas': {
        const success = state === op.input.expected;
        return { ok: !known || op.output?.ok === success, state: success ? op.input.value : state };
      }
      case 'delete': {
        const deleted = op.output?.deleted;
        return { ok: !known || deleted === undefined || deleted === (state !== undefined), state: undefined };
      }
    }
  };
  const go = (state: string | undefined): boolean => {
    if (ops.every((op, i) => placed[i] || !answered(op))) return true;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      const blocked = ops.some((other, j) => !placed[j] && j !== i && answered(other) && (other.ret as number) < ops[i].call);
      if (blocked) continue;
      const next = apply(state, ops[i]);
      if (!next.ok) continue;
      placed[i] = true;
      const found = go(next.state);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return go(undefined);
}
