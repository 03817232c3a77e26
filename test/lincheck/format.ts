// Readable accounts of histories and counterexamples, for test failures and debugging.

import type { Counterexample, IndexedOperation, KvOperation } from './types.js';

function show(value: string | undefined): string {
  return value === undefined ? '∅' : JSON.stringify(value);
}

/** `put("a", "1")`, `get("a") → "1"`, `cas("a", ∅ → "2") → ok`, with `?` for no answer. */
export function formatOperation(op: KvOperation): string {
  const key = JSON.stringify(op.input.key);
  const answered = op.ret !== undefined && op.output !== undefined;
  let text: string;
  switch (op.op) {
    case 'put':
      text = `put(${key}, ${show(op.input.value)})${answered ? '' : ' → ?'}`;
      break;
    case 'get':
      text = `get(${key}) → ${answered ? show(op.output?.value) : '?'}`;
      break;
    case 'cas':
      text = `cas(${key}, ${show(op.input.expected)} → ${show(op.input.value)}) → ${answered ? (op.output?.ok ? 'ok' : 'failed') : '?'}`;
      break;
    case 'delete': {
      const deleted = op.output?.deleted;
      text = `delete(${key})${!answered ? ' → ?' : deleted === undefined ? '' : deleted ? ' → deleted' : ' → absent'}`;
      break;
    }
  }
  const span = `[${op.call} .. ${op.ret ?? '∞'}]`;
  return `client ${String(op.client)} ${text}  ${span}`;
}

function line(entry: IndexedOperation): string {
  return `  #${entry.index}  ${formatOperation(entry.operation)}`;
}

export function formatCounterexample(c: Omit<Counterexample, 'text'>, events?: number): string {
  const out: string[] = [];
  out.push(`not linearizable: key ${JSON.stringify(c.key)}`);
  out.push(
    `the history of this key has no linearization once #${c.last.index} answers` +
      (events === undefined ? '' : ` (event ${events})`) +
      `; every earlier point has one.`,
  );
  out.push(`answers the violation rests on:`);
  for (const entry of c.involved) out.push(line(entry));
  if (c.writers.length > 0) {
    out.push(`writes of the values they read or expected:`);
    for (const entry of c.writers) out.push(line(entry));
  }
  if (c.untested > 0) out.push(`(${c.untested} earlier writes not examined, to keep the search short)`);
  const shown = new Set([...c.involved, ...c.writers].map((p) => p.index));
  const others = c.prefix.filter((p) => !shown.has(p.index));
  if (others.length > 0) {
    out.push(`other operations called by then (${others.length}):`);
    // The latest ones: a violation is usually close to where the prefix ends.
    if (others.length > 40) out.push(`  … ${others.length - 40} earlier`);
    for (const entry of others.slice(-40)) out.push(line(entry));
  }
  if (c.longestPartial.length > 0) {
    out.push(`longest order the search built before getting stuck: ${c.longestPartial.map((p) => `#${p.index}`).join(', ')}`);
  }
  return out.join('\n');
}
