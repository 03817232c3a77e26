// How a source's sync state reads on the console, in `get sources` and on top of `status`.
// A refused commit must be impossible to miss: every place says which commit, and where.
import type { SyncState } from '../sync/index.js';

type ProblemLike = SyncState['errors'][number];

/** Most problems printed one per line; the rest are counted. */
const SHOWN = 10;

export function problemLine(p: ProblemLike): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${where}: ${p.message} [${p.code}]`;
}

function short(commit: string | null | undefined): string {
  return commit ? commit.slice(0, 12) : 'the source';
}

/** The lines the server prints when a sync's outcome is news (see SyncLoop's onChange). */
export function syncChangeText(state: SyncState): { stream: 'out' | 'err'; text: string } {
  switch (state.phase) {
    case 'Synced':
      return { stream: 'out', text: `capstan: synced ${short(state.syncedCommit)} again: ${state.message}\n` };
    case 'Invalid': {
      const lines = [`capstan: commit ${short(state.seenCommit)} refused, nothing applied (still running ${short(state.syncedCommit)}); ${state.errors.length} error(s):`];
      for (const p of state.errors.slice(0, SHOWN)) lines.push(`  ${problemLine(p)}`);
      if (state.errors.length > SHOWN) lines.push(`  … and ${state.errors.length - SHOWN} more: capstan get sources -o json`);
      return { stream: 'err', text: `${lines.join('\n')}\n` };
    }
    case 'PruneHeld':
      return { stream: 'err', text: `capstan: commit ${short(state.seenCommit)} held, nothing applied: ${state.message}\n` };
    default:
      return { stream: 'err', text: `capstan: sync ${state.phase.toLowerCase()}: ${state.message}\n` };
  }
}

/** One source as `get sources` lists it (and as `-o json` gives it). */
export function contractSource(s: SyncState) {
  return {
    name: s.id,
    location: s.location,
    ref: s.ref ?? null,
    phase: s.phase,
    syncedCommit: s.syncedCommit ?? null,
    seenCommit: s.seenCommit ?? null,
    message: s.message,
    errors: s.errors,
    summary: s.summary ?? null,
    trigger: s.trigger,
    at: s.at,
  };
}

/** The line `status` starts with: the source, and what is wrong with it if anything. */
export type SourceView = ReturnType<typeof contractSource>;

export function sourceStatusLine(s: SourceView): string {
  const where = `${s.location}${s.ref ? `@${s.ref}` : ''}`;
  if (s.phase === 'Synced') return `Source:     ${where} Synced at ${short(s.syncedCommit)}`;
  const first = s.errors[0];
  const detail = first ? problemLine(first) : s.message;
  const seen = s.seenCommit && s.seenCommit !== s.syncedCommit ? ` (commit ${short(s.seenCommit)} not applied)` : '';
  return `Source:     ${where} ${s.phase}${seen}, running ${short(s.syncedCommit)}: ${detail}`;
}
