// Linearizability of a key-value history: Wing & Gong's search with Lowe's improvements.
//
// The history is split by key first: a KV store is a set of independent registers, and a
// history is linearizable exactly when each key's sub-history is (Herlihy & Wing's locality;
// "P-compositionality" in Horn & Kroening). Each key is then searched on its own:
//
// - Answered operations' call and return events sit in one list in time order. The search
//   places an operation only while its call precedes the first return still in the list, and
//   must have placed an operation before passing its return: an operation is placed only
//   when no answered operation forces an earlier choice (Wing & Gong's list, which is the
//   "just in time" window of Lowe's tree search).
// - Every (set of placed operations, register value) reached is remembered; a pair seen before
//   leads nowhere new, so the branch is cut (Lowe's memoization; the answered set is a bitset
//   hashed incrementally with one random word per operation).
// - An operation without an answer has no return: it may be placed any time after its call,
//   or never (the search is done once every answered operation is placed). So having placed
//   fewer of them is never worse, and a state is also cut when the same answered set and
//   value was reached with a subset of the unanswered ones placed. Identical unanswered
//   operations are interchangeable, and one is only placed where it can matter (see
//   floatChoices). A read without an answer says nothing and is dropped.
// - Values no read returns and no compare expects are indistinguishable and become one value.
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
/** Writes examined one by one when narrowing a counterexample down. */
const MAX_WRITE_TRIALS = 200;

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

/** Value ids: 0 is "no key", 1 stands for every value no operation ever reads or expects. */
const ABSENT = 0;
const UNSEEN = 1;

class Interner {
  private readonly ids = new Map<string, number>();
  id(value: string | undefined): number {
    if (value === undefined) return ABSENT;
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.ids.size + 2;
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
  // Answered operations: call and return entries in one list, in time order, calls before
  // returns at equal times (touching intervals count as concurrent). Node 0 is the head.
  const known: number[] = [];
  const floating: number[] = [];
  ops.forEach((op, i) => (op.ret === Infinity ? floating : known).push(i));
  const events: Array<{ time: number; call: boolean; op: number }> = [];
  for (const i of known) {
    events.push({ time: ops[i].call, call: true, op: i });
    events.push({ time: ops[i].ret, call: false, op: i });
  }
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const size = events.length + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const entryOp = new Int32Array(size);
  const isCall = new Uint8Array(size);
  const match = new Int32Array(size).fill(-1);
  const returnNode = new Int32Array(ops.length).fill(-1);
  for (let e = 0; e < events.length; e++) {
    entryOp[e + 1] = events[e].op;
    isCall[e + 1] = events[e].call ? 1 : 0;
    if (!events[e].call) returnNode[events[e].op] = e + 1;
  }
  for (let node = 1; node < size; node++) if (isCall[node]) match[node] = returnNode[entryOp[node]];
  for (let node = 0; node < size; node++) {
    next[node] = node + 1 < size ? node + 1 : -1;
    prev[node] = node - 1;
  }
  const unlink = (x: number): void => {
    next[prev[x]] = next[x];
    if (next[x] !== -1) prev[next[x]] = prev[x];
  };
  const relink = (x: number): void => {
    next[prev[x]] = x;
    if (next[x] !== -1) prev[next[x]] = x;
  };
  let returnsLeft = known.length;

  // Unanswered operations, grouped by what they do (kind and values): within a group they are
  // interchangeable, so only the earliest unplaced one of each group is ever tried (once both
  // are callable, neither can do what the other cannot). Groups are ordered by first call.
  // One may be placed once its call precedes the first return still in the main list.
  floating.sort((a, b) => ops[a].call - ops[b].call || a - b);
  const groupOf = new Map<string, number>();
  const groups: number[][] = []; // positions in `floating`
  floating.forEach((i, f) => {
    const op = ops[i];
    const signature = `${op.kind}:${op.value}:${op.expected}`;
    let g = groupOf.get(signature);
    if (g === undefined) {
      g = groups.length;
      groupOf.set(signature, g);
      groups.push([]);
    }
    groups[g].push(f);
  });
  const placedInGroup = new Int32Array(groups.length);
  const floatGroup = new Int32Array(floating.length);
  groups.forEach((chain, g) => chain.forEach((f) => (floatGroup[f] = g)));
  const fsize = floating.length;
  // Indexes for choosing which groups are worth trying (see floatChoices).
  const blindByValue = new Map<number, number[]>();
  const casByExpected = new Map<number, number[]>();
  const blindGroups: number[] = [];
  const casGroups: number[] = [];
  // Group ids follow first calls, so these lists are in call order too.
  groups.forEach((chain, g) => {
    const op = ops[floating[chain[0]]];
    if (op.kind === CAS) {
      casGroups.push(g);
      const list = casByExpected.get(op.expected) ?? [];
      list.push(g);
      casByExpected.set(op.expected, list);
    } else {
      blindGroups.push(g);
      const list = blindByValue.get(op.value) ?? [];
      list.push(g);
      blindByValue.set(op.value, list);
    }
  });
  const callable = (g: number, cutoff: number): boolean =>
    placedInGroup[g] < groups[g].length && ops[floating[groups[g][placedInGroup[g]]]].call <= cutoff;

  // Which unanswered operations are worth placing now. Some linearization, if any exists, has
  // these shapes (drop the unanswered operations that break them; the rest still works):
  // - an unanswered cas that fails changes nothing, so one is placed only when it succeeds;
  // - an unanswered write is followed at once by an operation that looks at the value (not a
  //   blind put or delete: that would overwrite it). Placing it does not move the window of
  //   callable operations, so that next operation is callable now: a read of its value, a
  //   cas expecting its value, or an operation that tells values apart more loosely (a failed
  //   cas, a delete that says whether the key existed), in which case any value may do.
  const firstCall = (g: number): number => ops[floating[groups[g][0]]].call;
  let maxValue = 0;
  for (const op of ops) maxValue = Math.max(maxValue, op.value, op.expected, op.kind === GET ? op.out : 0);
  // The wanted values of one call: marked with a generation number instead of a fresh set.
  const wantedMark = new Int32Array(maxValue + 1);
  const wantedList: number[] = [];
  let generation = 0;
  const want = (value: number): void => {
    if (wantedMark[value] !== generation) {
      wantedMark[value] = generation;
      wantedList.push(value);
    }
  };
  const NO_CHOICES: readonly number[] = [];
  const floatChoices = (state: number, cutoff: number): readonly number[] => {
    if (groups.length === 0 || firstCall(0) > cutoff) return NO_CHOICES;
    generation++;
    wantedList.length = 0;
    let any = false;
    for (let node = next[0]; node !== -1 && isCall[node]; node = next[node]) {
      const op = ops[entryOp[node]];
      if (op.kind === GET) want(op.out);
      else if (op.kind === CAS) {
        if (op.out === 1) want(op.expected);
        else any = true;
      } else if (op.kind === DEL && op.out !== -1) any = true;
    }
    for (const g of casGroups) {
      if (firstCall(g) > cutoff) break;
      if (callable(g, cutoff)) want(ops[floating[groups[g][0]]].expected);
    }
    const useful = (g: number): boolean =>
      callable(g, cutoff) && (any || wantedMark[ops[floating[groups[g][0]]].value] === generation);
    const choices: number[] = [];
    for (const g of casByExpected.get(state) ?? NO_CHOICES) if (useful(g)) choices.push(g);
    if (any) {
      for (const g of blindGroups) {
        if (firstCall(g) > cutoff) break;
        if (useful(g)) choices.push(g);
      }
    } else {
      for (const value of wantedList) for (const g of blindByValue.get(value) ?? NO_CHOICES) if (useful(g)) choices.push(g);
    }
    return choices.length === 0 ? NO_CHOICES : choices;
  };

  // Memo: (answered operations placed, register value) → the sets of unanswered ones placed.
  // An unanswered operation may also never happen, so having placed fewer of them is never
  // worse: a state is cut when one with the same answered set and value and a subset of its
  // unanswered ones was seen (Lowe's memoization, with this dominance for pending operations).
  const kwords = (ops.length + 31) >>> 5;
  const fwords = (fsize + 31) >>> 5;
  const kbits = new Uint32Array(kwords);
  const fbits = new Uint32Array(fwords);
  const random = seededRandom(0x5eed ^ ops.length);
  const zobrist = new Uint32Array(ops.length);
  for (let i = 0; i < ops.length; i++) zobrist[i] = Math.floor(random() * 4294967296) >>> 0;
  let hash = 0;
  const cache = new Map<number, Array<{ k: Uint32Array; f: Uint32Array }>>();
  const remember = (state: number): boolean => {
    const key = hash + state * 4294967296;
    let bucket = cache.get(key);
    if (bucket === undefined) {
      bucket = [];
      cache.set(key, bucket);
    }
    outer: for (const seen of bucket) {
      for (let w = 0; w < kwords; w++) if (seen.k[w] !== kbits[w]) continue outer;
      for (let w = 0; w < fwords; w++) if ((seen.f[w] & ~fbits[w]) !== 0) continue outer;
      return false;
    }
    bucket.push({ k: kbits.slice(), f: fbits.slice() });
    return true;
  };

  // The path: per level, the node placed (main list node, or -(float node)), the value before
  // it, and the cutoff time the level saw (for resuming among unanswered operations).
  const pathNode: number[] = [];
  const pathState: number[] = [];
  const pathCutoff: number[] = [];
  let state = ABSENT;
  let longest: number[] = [];
  let newPeak = false;
  const opOf = (placed: number): number => (placed > 0 ? entryOp[placed] : floating[-placed - 1]);

  // Answered operations that do the same thing and answered the same (kind, values, output)
  // are interchangeable as well, except for their times: of those callable now, only the one
  // that returned first is tried. Placing a later-returning twin first leaves the more pressing
  // one behind, and swapping them keeps any linearization valid.
  const twinGroup = new Int32Array(ops.length).fill(-1);
  const twinOrder = new Int32Array(ops.length); // position within its group, by return
  const twins: number[][] = [];
  {
    const bySignature = new Map<string, number[]>();
    for (const i of known) {
      const op = ops[i];
      const signature = `${op.kind}:${op.value}:${op.expected}:${op.out}`;
      const list = bySignature.get(signature) ?? [];
      list.push(i);
      bySignature.set(signature, list);
    }
    for (const list of bySignature.values()) {
      if (list.length < 2) continue;
      list.sort((a, b) => ops[a].ret - ops[b].ret || a - b);
      list.forEach((i, position) => {
        twinGroup[i] = twins.length;
        twinOrder[i] = position;
      });
      twins.push(list);
    }
  }
  const placedKnown = new Uint8Array(ops.length);
  /** Whether an earlier-returning twin of `o` is unplaced and callable before `limit`. */
  const shadowed = (o: number, limit: number): boolean => {
    const g = twinGroup[o];
    if (g === -1) return false;
    const list = twins[g];
    for (let p = twinOrder[o] - 1; p >= 0; p--) {
      const y = list[p];
      if (ops[y].ret < limit) break; // returned before the window: placed long ago
      if (!placedKnown[y] && ops[y].call <= limit) return true;
    }
    return false;
  };
  // The time of the first return in the main list, found once per visit to a level.
  let levelCutoff = NaN;
  const firstReturnTime = (): number => {
    if (Number.isNaN(levelCutoff)) {
      let node = next[0];
      while (isCall[node]) node = next[node];
      levelCutoff = ops[entryOp[node]].ret;
    }
    return levelCutoff;
  };

  // Cursor: in the main list (entry) until its first return, then over the unanswered
  // operations worth trying there (choices[choice]).
  let entry = next[0];
  let choices: readonly number[] | undefined;
  let choice = 0;
  let cutoff = 0;
  const pathChoices: Array<readonly number[] | undefined> = [];
  const pathChoice: number[] = [];

  while (returnsLeft > 0) {
    if (budget.remaining-- <= 0) return { kind: 'budget' };
    let candidate = 0; // > 0 main node, < 0 -(position in floating + 1), 0 none left here
    if (choices === undefined) {
      if (!isCall[entry]) {
        cutoff = ops[entryOp[entry]].ret;
        choices = fsize === 0 ? [] : floatChoices(state, cutoff);
        choice = 0;
        continue;
      }
      if (twinGroup[entryOp[entry]] !== -1 && shadowed(entryOp[entry], firstReturnTime())) {
        entry = next[entry];
        continue;
      }
      candidate = entry;
    } else if (choice < choices.length) {
      const g = choices[choice];
      candidate = -(groups[g][placedInGroup[g]] + 1);
    }
    if (candidate === 0) {
      // Nothing left to try here: an answered operation is still unplaced at its return.
      if (newPeak) {
        longest = pathNode.map(opOf);
        newPeak = false;
      }
      if (pathNode.length === 0) return { kind: 'fail', longest };
      levelCutoff = NaN;
      const placed = pathNode.pop() as number;
      state = pathState.pop() as number;
      cutoff = pathCutoff.pop() as number;
      choices = pathChoices.pop();
      choice = pathChoice.pop() as number;
      const o = opOf(placed);
      if (placed > 0) {
        placedKnown[o] = 0;
        kbits[o >>> 5] ^= 1 << (o & 31);
        hash = (hash ^ zobrist[o]) >>> 0;
        relink(match[placed]);
        returnsLeft++;
        relink(placed);
        entry = next[placed];
        choices = undefined;
      } else {
        const f = -placed - 1;
        fbits[f >>> 5] ^= 1 << (f & 31);
        placedInGroup[floatGroup[f]]--;
        choice++;
      }
      continue;
    }
    const o = opOf(candidate);
    const after = step(state, ops[o]);
    let descended = false;
    if (after !== -1) {
      const f = -candidate - 1;
      if (candidate > 0) {
        kbits[o >>> 5] ^= 1 << (o & 31);
        hash = (hash ^ zobrist[o]) >>> 0;
      } else {
        fbits[f >>> 5] ^= 1 << (f & 31);
      }
      if (remember(after)) {
        pathNode.push(candidate);
        pathState.push(state);
        pathCutoff.push(cutoff);
        pathChoices.push(choices);
        pathChoice.push(choice);
        if (trackLongest && pathNode.length > longest.length) newPeak = true;
        state = after;
        if (candidate > 0) {
          placedKnown[o] = 1;
          unlink(candidate);
          unlink(match[candidate]);
          returnsLeft--;
        } else {
          placedInGroup[floatGroup[f]]++;
        }
        entry = next[0];
        levelCutoff = NaN;
        choices = undefined;
        descended = true;
      } else if (candidate > 0) {
        kbits[o >>> 5] ^= 1 << (o & 31);
        hash = (hash ^ zobrist[o]) >>> 0;
      } else {
        fbits[f >>> 5] ^= 1 << (f & 31);
      }
    }
    if (!descended) {
      if (candidate > 0) entry = next[candidate];
      else choice++;
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

  let untested = 0;
  const needed = new Set<LocalOp>([lastOp]);
  if (shrink) {
    // Each trial gets a cap of its own, so one expensive trial cannot starve the rest.
    const trialCap = Math.max(100_000, 20 * current.length);
    const attempt = (trial: LocalOp[]): SearchOutcome => {
      const own: Budget = { remaining: Math.min(trialCap, Math.max(budget.remaining, 0)) };
      const before = own.remaining;
      const outcome = search(trial, own, false);
      budget.remaining -= before - Math.max(own.remaining, 0);
      return outcome;
    };
    // Reads: drop them while the prefix still fails; those left are the witnesses the
    // violation rests on. Dropping reads never widens the search. Tried in halves first (a
    // chunk that can go saves a search per read), down to single reads.
    const dropReads = (chunk: LocalOp[]): void => {
      if (chunk.length === 0) return;
      const drop = new Set(chunk);
      const trial = current.filter((op) => !drop.has(op));
      const outcome = attempt(trial);
      if (outcome.kind === 'fail') {
        current = trial;
      } else if (chunk.length === 1) {
        if (outcome.kind === 'ok') needed.add(chunk[0]);
        else untested++;
      } else {
        const half = chunk.length >>> 1;
        dropReads(chunk.slice(0, half));
        dropReads(chunk.slice(half));
      }
    };
    dropReads(current.filter((op) => op.kind === GET && op !== lastOp));
    // Writes: one at a time turned into unknown outcome (then it may take effect later, or
    // never), to find those whose answer alone makes the difference. One at a time, because
    // many unknown writes at once widen the search a lot; the latest first, as they are the
    // likeliest to matter, and at most MAX_WRITE_TRIALS of them.
    const writes = current.filter((op) => op.kind !== GET && op.known && op !== lastOp).sort((a, b) => b.call - a.call);
    for (const write of writes.slice(0, MAX_WRITE_TRIALS)) {
      const outcome = attempt(current.map((op) => (op === write ? { ...op, known: false, ret: Infinity } : op)));
      if (outcome.kind === 'ok') needed.add(write);
      else if (outcome.kind === 'budget') untested++;
    }
    untested += Math.max(0, writes.length - MAX_WRITE_TRIALS);
  } else {
    for (const op of current) if (op.known) needed.add(op);
  }

  // The writes of the values the involved operations read or expected: not needed for the
  // proof, but the first thing a reader looks for.
  const mentioned = new Set<number>();
  for (const op of needed) {
    if (op.kind === GET) mentioned.add(op.out);
    if (op.kind === CAS) mentioned.add(op.expected);
  }
  const prefixLocal = order.slice(0, cutoff).filter((e) => e.call).map((e) => ops[e.op]);
  const writers = prefixLocal
    .filter((op) => (op.kind === PUT || op.kind === CAS) && mentioned.has(op.value) && !needed.has(op))
    .slice(-10)
    .map((op) => indexed(history, op.index));
  const prefix = prefixLocal.map((op) => indexed(history, op.index));
  const neededIndex = new Set([...needed].map((op) => op.index));
  const involved = prefix.filter((p) => neededIndex.has(p.index));
  const counterexample: Omit<Counterexample, 'text'> = {
    key: key.key,
    prefix,
    last: indexed(history, lastOp.index),
    involved,
    writers,
    untested,
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
  // A value no read returns and no compare expects can only be told apart from "no key", never
  // from another such value: they all become one, so the search sees fewer distinct states
  // and more interchangeable unanswered writes.
  for (const key of byKey.values()) {
    const observed = new Set<number>([ABSENT]);
    for (const op of key.ops) {
      if (op.kind === GET && op.known) observed.add(op.out);
      if (op.kind === CAS) observed.add(op.expected);
    }
    for (const op of key.ops) if ((op.kind === PUT || op.kind === CAS) && !observed.has(op.value)) op.value = UNSEEN;
  }
  const used = (): number => maxSteps - Math.max(budget.remaining, 0);
  // Smaller keys first: a violation in a small key is found (and explained) sooner.
  const keys = [...byKey.values()].sort((a, b) => a.ops.length - b.ops.length);
  let undecided: KeyHistory | undefined;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    // Each key may spend its share of what is left (what a small key leaves goes to the
    // next), so one hard key cannot keep a violation in another from being found.
    const share: Budget = { remaining: Math.floor(Math.max(budget.remaining, 0) / (keys.length - k)) };
    const before = share.remaining;
    const outcome = search(key.ops, share, false);
    budget.remaining -= before - Math.max(share.remaining, 0);
    if (outcome.kind === 'budget') {
      undecided ??= key;
      continue;
    }
    if (outcome.kind === 'fail') {
      // Explaining gets a budget of its own (the verdict is already certain); when it runs
      // out, the counterexample is just less narrowed down.
      const explainBudget: Budget = { remaining: Math.max(maxSteps, 1_000_000) };
      const counterexample = explain(history, key, explainBudget, !(options.skipShrink ?? false));
      return { outcome: 'violation', counterexample, steps: used() };
    }
  }
  if (undecided !== undefined) {
    return { outcome: 'unknown', key: undecided.key, reason: `step budget of ${maxSteps} spent before key "${undecided.key}" was decided`, steps: used() };
  }
  return { outcome: 'ok', keys: byKey.size, operations: history.length, steps: used() };
}
