// `capstan rollback NAME [--to-revision N] [--live]` on the server.
// Default: commit to Git a change that puts revision N's pod template back into the file the
// manifest came from (author: the caller), sync at once, and mark the history. `--live`: no
// Git; pin revision N in the workload's override record (the record promote/abort use) until
// Git changes or `capstan resume`.
import { STORE_PREFIX, type HistoryEntry, type Revision } from '../api/cluster.js';
import { CapstanError, isCapstanError, silentLogger, type Logger } from '../common/index.js';
import { REVISION_HASH_LABEL } from '../controllers/index.js';
import type { CommitAuthor, StatusRepo } from '../gitstatus/index.js';
import type { ControlRequest, WorkloadTarget } from '../server/index.js';
import type { KV } from '../store/index.js';
import { replaceTemplate } from './edit.js';
import { findRollbackTarget, type RollbackTarget, type Stored } from './target.js';

export const OVERRIDES_PREFIX = '/capstan/overrides/';

/** Fields this module adds to the override record at `/capstan/overrides/<Kind>/<ns>/<name>`. */
export interface LiveRollbackPin {
  /** Template hash of the revision to serve instead of the desired one. */
  liveRollbackTo: string;
  liveRollbackRevision: number;
  /** The desired record's commit when pinned: the pin ends once Git moves past it. */
  liveRollbackCommit?: string;
  at: string;
}

export interface RollbackOptions {
  kv: KV;
  /** The repository to commit to; throws CAPSTAN_ERR_SOURCE_READ_ONLY when the source cannot be written. */
  writer?: () => Promise<StatusRepo>;
  /** The branch the source follows (default main). */
  branch?: string;
  /** Sync after the commit (trigger 'rollback'); the reply waits for it. */
  sync?: (trigger: string) => Promise<unknown>;
  logger?: Logger;
  now?: () => Date;
  /** Commit attempts when the branch moves under us (default 5). */
  attempts?: number;
}

export interface RollbackReply {
  message: string;
  kind: string;
  namespace: string;
  name: string;
  revision: number;
  fromRevision: number;
  commit?: string;
  live?: boolean;
}

const WRITE_ATTEMPTS = 5;

/** Codes of a Git remote that cannot be reached or used right now. */
const GIT_DOWN: ReadonlySet<string> = new Set(['CAPSTAN_ERR_SOURCE_UNREACHABLE', 'CAPSTAN_ERR_SOURCE_TIMEOUT', 'CAPSTAN_ERR_SOURCE_GIT']);

function parseBody(body: unknown): { toRevision?: number; live: boolean } {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { toRevision?: unknown; live?: unknown };
  let toRevision: number | undefined;
  if (b.toRevision !== undefined && b.toRevision !== null) {
    const n = typeof b.toRevision === 'string' ? Number(b.toRevision) : b.toRevision;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', 'toRevision must be a revision number (1, 2, 3...)');
    }
    toRevision = n;
  }
  return { ...(toRevision !== undefined ? { toRevision } : {}), live: b.live === true };
}

export function authorOf(user: string): CommitAuthor {
  const safe = user.replace(/[<>\n]/g, '') || 'capstan';
  return { name: safe, email: `${safe.replace(/[^A-Za-z0-9._-]+/g, '-')}@capstan.invalid` };
}

/** Guarded read-modify-write of one JSON record; `change` returns undefined to leave it. */
async function updateJson<T>(kv: KV, key: string, change: (current: T | undefined) => T | undefined): Promise<void> {
  for (let i = 0; i < WRITE_ATTEMPTS; i++) {
    const item = await kv.get(key);
    let current: T | undefined;
    try {
      current = item ? (JSON.parse(new TextDecoder().decode(item.value)) as T) : undefined;
    } catch {
      current = undefined;
    }
    const next = change(current);
    if (next === undefined) return;
    const r = await kv.txn({
      compare: [{ key, target: 'modRevision', op: '==', value: item?.modRevision ?? 0 }],
      success: [{ type: 'put', key, value: JSON.stringify(next) }],
      failure: [],
    });
    if (r.succeeded) return;
  }
  throw new CapstanError('CAPSTAN_ERR_API_CONFLICT', `${key} kept changing; try again`, { context: { key } });
}

/** The entry rolled back from reads RolledBack (it stays in the history as such). */
async function markRolledBack(kv: KV, entry: Stored<HistoryEntry> | undefined, now: string): Promise<void> {
  if (!entry) return;
  await updateJson<HistoryEntry>(kv, entry.key, (e) => (e && e.outcome !== 'RolledBack' ? { ...e, outcome: 'RolledBack', finishedAt: e.finishedAt ?? now } : undefined));
}

/**
 * A revision's stored template as it goes back into a manifest: without the revision-hash
 * label the controller adds to pods, so the template hashes to the same revision again
 * (defaults applied in the store are defaults again, so they change nothing).
 */
export function manifestTemplate(template: Revision['template']): Revision['template'] {
  const { [REVISION_HASH_LABEL]: _hash, ...labels } = template.metadata.labels;
  return { ...template, metadata: { ...template.metadata, labels } };
}

export function rollbackHandler(options: RollbackOptions): (target: WorkloadTarget, request: ControlRequest) => Promise<RollbackReply> {
  const log = (options.logger ?? silentLogger()).child({ component: 'rollback' });
  const now = options.now ?? (() => new Date());
  const branch = options.branch ?? 'main';

  async function live(t: RollbackTarget, user: string): Promise<RollbackReply> {
    const at = now().toISOString();
    const key = `${OVERRIDES_PREFIX}${t.kind}/${t.namespace}/${t.name}`;
    const pin: Omit<LiveRollbackPin, 'at'> = {
      liveRollbackTo: t.revision.metadata.hash,
      liveRollbackRevision: t.revision.metadata.revision,
      ...(t.desired.value.commit ? { liveRollbackCommit: t.desired.value.commit } : {}),
    };
    // Keep whatever else the record holds (promote, abort, pause).
    await updateJson<Record<string, unknown>>(options.kv, key, (current) => ({ ...(current ?? {}), ...pin, at }));
    await markRolledBack(options.kv, t.history.get(t.current), at);
    log.warn({ workload: `${t.namespace}/${t.name}`, revision: t.revision.metadata.revision, user }, 'live rollback: pinned until Git changes or resume');
    return {
      message: `live rollback of ${t.kind} ${t.namespace}/${t.name} to revision ${t.revision.metadata.revision}; Git is ahead: pinned until Git changes or capstan resume`,
      kind: t.kind,
      namespace: t.namespace,
      name: t.name,
      revision: t.revision.metadata.revision,
      fromRevision: t.current,
      live: true,
    };
  }

  async function viaGit(t: RollbackTarget, user: string): Promise<RollbackReply> {
    if (!options.writer) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_READ_ONLY', 'this server cannot write to its source; use --live to roll back in the store only', { context: { workload: `${t.namespace}/${t.name}` } });
    }
    const source = t.desired.value.source;
    if (source.release !== undefined) {
      throw new CapstanError('CAPSTAN_ERR_SOURCE_READ_ONLY', `${t.namespace}/${t.name} is rendered from a chart release in ${source.file}; change its values in Git, or use --live`, { location: { file: source.file } });
    }
    const repo = await options.writer();
    const n = t.revision.metadata.revision;
    const message = `capstan: roll back ${t.name} to revision ${n}`;
    const author = authorOf(user);
    const old = t.revision.metadata.commit ? await repo.readFile(t.revision.metadata.commit, source.file).catch(() => undefined) : undefined;
    for (let attempt = 0; attempt < (options.attempts ?? WRITE_ATTEMPTS); attempt++) {
      const tip = await repo.tip(branch);
      if (!tip) throw new CapstanError('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', `branch ${branch} does not exist in ${repo.location}`, { context: { branch } });
      const current = await repo.readFile(tip, source.file);
      if (current === undefined) throw new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `${source.file} is not on ${branch} any more`, { location: { file: source.file } });
      const next = replaceTemplate(current, source.file, { kind: t.kind, name: t.name }, old, manifestTemplate(t.revision.template));
      if (next === current) {
        return { message: `${branch} already has revision ${n}'s template in ${source.file}; nothing to commit`, kind: t.kind, namespace: t.namespace, name: t.name, revision: n, fromRevision: t.current };
      }
      const commit = await repo.commit(tip, [tip], new Map([[source.file, next]]), `${message}\n\nRequested by ${user} through the Capstan API.\n`, author, now());
      if ((await repo.update(branch, commit, tip)) !== 'ok') {
        log.info({ attempt, branch }, 'branch moved during rollback; retrying on the new tip');
        continue;
      }
      log.info({ workload: `${t.namespace}/${t.name}`, revision: n, commit, user }, 'rollback committed');
      await markRolledBack(options.kv, t.history.get(t.current), now().toISOString());
      if (options.sync) await options.sync('rollback');
      return { message: `committed ${commit.slice(0, 12)} to ${branch}: ${message}`, kind: t.kind, namespace: t.namespace, name: t.name, revision: n, fromRevision: t.current, commit };
    }
    throw new CapstanError('CAPSTAN_ERR_API_CONFLICT', `${branch} kept moving while the rollback was committed; try again`, { context: { branch } });
  }

  return async (target, request) => {
    const { toRevision, live: isLive } = parseBody(request.body);
    const t = await findRollbackTarget(options.kv, target, toRevision);
    try {
      return isLive ? await live(t, request.principal.user) : await viaGit(t, request.principal.user);
    } catch (err) {
      if (isCapstanError(err)) {
        // Git out of reach: say how to roll back anyway.
        if (!isLive && GIT_DOWN.has(err.code)) {
          throw new CapstanError(err.code, `${err.message}; --live rolls back in the store without Git`, { cause: err, context: { ...err.context } });
        }
        throw err;
      }
      throw new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `the rollback commit failed: ${err instanceof Error ? err.message : String(err)}; --live rolls back without Git`, { cause: err });
    }
  };
}

/** Where history entries of a workload live (for callers that list them). */
export const historyPrefix = (namespace: string, name: string): string => `${STORE_PREFIX.history}${namespace}/${name}/`;
