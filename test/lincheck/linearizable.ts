// Linearizability of a key-value history: Wing & Gong's search with Lowe's improvements.
//
// The history is split by key first: a KV store is a set of independent registers, and a
// history is linearizable exactly when each key's sub-history is (Herlihy & Wing's locality;
// "P-compositionality" in Horn & Kroening). Each key is then searched on its own:
//
// - Call and return events sit in one list in time order. The search linearizes an operation
//   only while its call precedes the first return still in the list, and must have placed an
//   operation before passing its return ("just in time", as in Lowe's tree search): an
//   operation is tried only when no answered operation forces an earlier choice.
// - Every (set of linearized operations, register value) the search reaches is remembered; a
//   pair seen before leads nowhere new, so that branch is cut (Lowe's memoization). The set is
//   a bitset, hashed incrementally with one random word per operation.
// - An operation without an answer has no return event: it may be placed anywhere after its
//   call, or never (the search is done once every answered operation is placed). A read
//   without an answer says nothing and is dropped.
//
// A search step is one visit to a list entry; the caller's budget bounds them, and a spent
// budget answers `unknown` rather than hanging.

import { seededRandom } from '../../src/scheduler/index.js';
import { formatCounterexample } from './format.js';
import type {
  CheckOptions,
  Counterexample,
  IndexedOperation,
  KvOperation,
  LinearizabilityResult,
} from './types.js';

const DEFAULT_MAX_STEPS = 5_000_000;

const PUT = 0;
const GET = 1;
const CAS = 2;
const DEL = 3;

/** One operation of one key, with values interned as small integers (0 = no key). */
interface LocalOp {
  kind: number;
  /** The value put, or the new value of a cas. */
  value: number;
  /** A cas's expected value. */
  expected: number;
  /** Whether the answer is known (and so checked). */
  known: boolean;
  /** get: the value read. cas: 1 ok, 0 failed. delete: 1 existed, 0 not, -1 not given. */
  out: number;
  call: number;
  /** Return time; Infinity when unknown. */
  ret: number;
  /** Position in the caller's history. */
  index: number;
}

interface Budget {
  remaining: number;
}

type SearchOutcome = { kind: 'ok' } | { kind: 'fail'; longest: number[] } | { kind: 'budget' };

class Interner {
  private readonly ids = new Map<string, number>();
  id(value: string | undefined): number {
    if (value === undefined) return 0;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(value, id);
    }
    return id;
  }
}

function isKnown(op: KvOperation): boolean {
  return op.ret !== undefined && op.output !== undefined;
}

function validate(op: KvOperation, index: number): void {
  if (!Number.isFinite(op.call)) throw new TypeError(`operation ${index}: call time ${op.call} is not a number`);
  if (op.ret !== undefined && !(op.ret >= op.call)) {
    throw new TypeError(`operation ${index}: returns (${op.ret}) before its call (${op.call})`);
  }
}

function toLocal(op: KvOperation, index: number, strings: Interner): LocalOp {
  const known = isKnown(op);
  const base = { known, call: op.call, ret: known ? (op.ret as number) : Infinity, index };
  switch (op.op) {
    case 'put':
      return { ...base, kind: PUT, value: strings.id(op.input.value), expected: 0, out: 0 };
    case 'get':
      return { ...base, kind: GET, value: 0, expected: 0, out: known ? strings.id(op.output?.value) : 0 };
    case 'cas':
      return {
        ...base,
        kind: CAS,
        value: strings.id(op.input.value),
        expected: strings.id(op.input.expected),
        out: known ? (op.output?.ok ? 1 : 0) : 0,
      };
    case 'delete': {
      const deleted = op.output?.deleted;
      return { ...base, kind: DEL, value: 0, expected: 0, out: !known || deleted === undefined ? -1 : deleted ? 1 : 0 };
    }
  }
}

/** The register after `op` from `state`, or -1 when `op`'s answer rules this order out. */
function step(state: number, op: LocalOp): number {
  switch (op.kind) {
    case PUT:
      return op.value;
    case GET:
      return !op.known || op.out === state ? state : -1;
    case CAS: {
      const success = state === op.expected;
      if (op.known && (op.out === 1) !== success) return -1;
      return success ? op.value : state;
    }
    default: // DEL
      if (op.known && op.out !== -1 && (op.out === 1) !== (state !== 0)) return -1;
      return 0;
  }
}

/**
 * Searches one key's operations for a linearization. Operations are given with their
 * outcome already decided (known or not); unknown reads must have been dropped.
 */
function search(ops: LocalOp[], budget: Budget, trackLongest: boolean): SearchOutcome {
  const n = ops.length;
  // Entries: 1..2n-ish; 0 is the head. Calls before returns at equal times (the permissive
  // reading: touching intervals count as concurrent).
  const events: Array<{ time: number; call: boolean; op: number }> = [];
  for (let i = 0; i < n; i++) {
    events.push({ time: ops[i].call, call: true, op: i });
    if (ops[i].ret !== Infinity) events.push({ time: ops[i].ret, call: false, op: i });
  }
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const size = events.length + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const entryOp = new Int32Array(size);
  const isCall = new Uint8Array(size);
  const match = new Int32Array(size).fill(-1);
  const returnNode = new Int32Array(n).fill(-1);
  for (let e = 0; e < events.length; e++) {
    const node = e + 1;
    entryOp[node] = events[e].op;
    isCall[node] = events[e].call ? 1 : 0;
    if (!events[e].call) returnNode[events[e].op] = node;
  }
  for (let node = 1; node < size; node++) if (isCall[node]) match[node] = returnNode[entryOp[node]];
  for (let node = 0; node < size; node++) {
    next[node] = node + 1 < size ? node + 1 : -1;
    prev[node] = node - 1;
  }
  let returnsLeft = 0;
  for (const op of ops) if (op.ret !== Infinity) returnsLeft++;

  const unlink = (x: number): void => {
    next[prev[x]] = next[x];
    if (next[x] !== -1) prev[next[x]] = prev[x];
  };
  const relink = (x: number): void => {
    next[prev[x]] = x;
    if (next[x] !== -1) prev[next[x]] = x;
  };

  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const random = seededRandom(0x5eed ^ n);
  const zobrist = new Uint32Array(n);
  for (let i = 0; i < n; i++) zobrist[i] = Math.floor(random() * 4294967296) >>> 0;
  let hash = 0;
  const cache = new Map<number, Array<{ bits: Uint32Array; state: number }>>();
  const remember = (state: number): boolean => {
    const key = hash + state * 4294967296;
    let bucket = cache.get(key);
    if (bucket === undefined) {
      bucket = [];
      cache.set(key, bucket);
    }
    outer: for (const seen of bucket) {
      if (seen.state !== state) continue;
      for (let w = 0; w < words; w++) if (seen.bits[w] !== bits[w]) continue outer;
      return false;
    }
    bucket.push({ bits: bits.slice(), state });
    return true;
  };

  const stackNode: number[] = [];
  const stackState: number[] = [];
  let state = 0;
  let entry = next[0];
  let longest: number[] = [];
  let newPeak = false;

  while (returnsLeft > 0) {
    if (budget.remaining-- <= 0) return { kind: 'budget' };
    if (isCall[entry]) {
      const o = entryOp[entry];
      const after = step(state, ops[o]);
      if (after !== -1) {
        bits[o >>> 5] ^= 1 << (o & 31);
        hash = (hash ^ zobrist[o]) >>> 0;
        if (remember(after)) {
          stackNode.push(entry);
          stackState.push(state);
          if (trackLongest && stackNode.length > longest.length) newPeak = true;
          state = after;
          unlink(entry);
          if (match[entry] !== -1) {
            unlink(match[entry]);
            returnsLeft--;
          }
          entry = next[0];
          continue;
        }
        bits[o >>> 5] ^= 1 << (o & 31);
        hash = (hash ^ zobrist[o]) >>> 0;
      }
      entry = next[entry];
    } else {
      // An answered operation is still unplaced at its return: this branch is dead.
      if (newPeak) {
        longest = stackNode.map((node) => entryOp[node]);
        newPeak = false;
      }
      if (stackNode.length === 0) return { kind: 'fail', longest };
      const node = stackNode.pop() as number;
      state = stackState.pop() as number;
      const o = entryOp[node];
      bits[o >>> 5] ^= 1 << (o & 31);
      hash = (hash ^ zobrist[o]) >>> 0;
      if (match[node] !== -1) {
        relink(match[node]);
        returnsLeft++;
      }
      relink(node);
      entry = next[node];
    }
  }
  return { kind: 'ok' };
}

/** The key's operations as they stand when only `cutoff` events have happened. */
function prefixOps(ops: LocalOp[], order: Array<{ time: number; call: boolean; op: number }>, cutoff: number): LocalOp[] {
  const called = new Set<number>();
  const returned = new Set<number>();
  for (let e = 0; e < cutoff; e++) (order[e].call ? called : returned).add(order[e].op);
  const out: LocalOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (!called.has(i)) continue;
    const op = ops[i];
    if (returned.has(i)) out.push(op);
    else if (op.kind !== GET) out.push({ ...op, known: false, ret: Infinity });
  }
  return out;
}

interface KeyHistory {
  key: string;
  ops: LocalOp[];
}

function indexed(history: readonly KvOperation[], index: number): IndexedOperation {
  return { index, operation: history[index] };
}

/** Narrows a failing key to its smallest failing prefix and the answers that matter. */
function explain(
  history: readonly KvOperation[],
  key: KeyHistory,
  budget: Budget,
  shrink: boolean,
): Counterexample {
  const ops = key.ops;
  const order: Array<{ time: number; call: boolean; op: number }> = [];
  for (let i = 0; i < ops.length; i++) {
    order.push({ time: ops[i].call, call: true, op: i });
    if (ops[i].ret !== Infinity) order.push({ time: ops[i].ret, call: false, op: i });
  }
  order.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  // Prefixes are closed under linearizability (a pending operation may still take effect or
  // not), and only a return can break one, so the smallest failing prefix ends at a return.
  const returnsAt: number[] = [];
  for (let e = 0; e < order.length; e++) if (!order[e].call) returnsAt.push(e + 1);
  let lo = 0; // returnsAt[lo..hi] holds the answer; the full history fails.
  let hi = returnsAt.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const outcome = search(prefixOps(ops, order, returnsAt[mid]), budget, false);
    // Out of budget: settle for the smallest failing prefix found so far.
    if (outcome.kind === 'budget') lo = hi;
    else if (outcome.kind === 'fail') hi = mid;
    else lo = mid + 1;
  }
  const cutoff = returnsAt[lo];
  const lastOp = ops[order[cutoff - 1].op];
  let current = prefixOps(ops, order, cutoff);
  const failing = search(current, budget, true);
  const longest = failing.kind === 'fail' ? failing.longest.map((i) => current[i].index) : [];

  if (shrink) {
    // Turn answered operations into unknown ones while the prefix still fails: what stays
    // answered is what the violation needs. Reads first: they are the usual witnesses.
    const candidates = current
      .filter((op) => op.known && op !== lastOp)
      .sort((a, b) => (a.kind === GET ? 0 : 1) - (b.kind === GET ? 0 : 1) || a.call - b.call);
    for (const candidate of candidates) {
      const trial = current
        .filter((op) => !(op === candidate && op.kind === GET))
        .map((op) => (op === candidate ? { ...op, known: false, ret: Infinity } : op));
      const outcome = search(trial, budget, false);
      if (outcome.kind === 'budget') break;
      if (outcome.kind === 'fail') current = trial;
    }
  }

  const knownIndex = new Set(current.filter((op) => op.known).map((op) => op.index));
  const prefix = order
    .slice(0, cutoff)
    .filter((e) => e.call)
    .map((e) => indexed(history, ops[e.op].index));
  const involved = prefix.filter((p) => knownIndex.has(p.index));
  const counterexample: Omit<Counterexample, 'text'> = {
    key: key.key,
    prefix,
    last: indexed(history, lastOp.index),
    involved,
    longestPartial: longest.map((i) => indexed(history, i)),
  };
  return { ...counterexample, text: formatCounterexample(counterexample, cutoff) };
}

/**
 * Whether `history` is linearizable as a set of KV registers (one per key, all initially
 * absent). Answers `ok`, a `violation` with a counterexample, or `unknown` when the step budget
 * ran out.
 */
export function checkLinearizable(history: readonly KvOperation[], options: CheckOptions = {}): LinearizabilityResult {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const budget: Budget = { remaining: maxSteps };
  const strings = new Interner();
  const byKey = new Map<string, KeyHistory>();
  history.forEach((op, index) => {
    validate(op, index);
    const local = toLocal(op, index, strings);
    // A read without an answer constrains nothing.
    if (local.kind === GET && !local.known) return;
    let entry = byKey.get(op.input.key);
    if (entry === undefined) {
      entry = { key: op.input.key, ops: [] };
      byKey.set(op.input.key, entry);
    }
    entry.ops.push(local);
  });
  const used = (): number => maxSteps - Math.max(budget.remaining, 0);
  // Smaller keys first: a violation in a small key is found (and explained) sooner.
  const keys = [...byKey.values()].sort((a, b) => a.ops.length - b.ops.length);
  for (const key of keys) {
    const outcome = search(key.ops, budget, false);
    if (outcome.kind === 'budget') {
      return { outcome: 'unknown', key: key.key, reason: `step budget of ${maxSteps} spent on key "${key.key}"`, steps: used() };
    }
    if (outcome.kind === 'fail') {
      // Explaining gets a budget of its own (the verdict is already certain); when it runs
      // out, the counterexample is just less narrowed down.
      const explainBudget: Budget = { remaining: Math.max(maxSteps, 1_000_000) };
      const counterexample = explain(history, key, explainBudget, !(options.skipShrink ?? false));
      return { outcome: 'violation', counterexample, steps: used() };
    }
  }
  return { outcome: 'ok', keys: byKey.size, operations: history.length, steps: used() };
}
