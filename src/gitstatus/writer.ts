// The status writer: watches workload status in the store, keeps the newest annotations each
// object should carry, and at most once per interval commits the meaningful changes into the
// file where each object is defined. A rejected push (someone else pushed) is retried on the
// new tip with backoff; nothing is ever force-pushed.

import { STORE_PREFIX, type DesiredRecord, type WorkloadStatus } from '../api/cluster.js';
import { objectId } from '../api/types.js';
import { systemClock, sleep, type Clock } from '../common/clock.js';
import { CapstanError, type Logger } from '../common/index.js';
import type { SourceAuth } from '../source/types.js';
import type { KV, Watch } from '../store/types.js';
import { locateObject, readAnnotations, setAnnotations, type ObjectLocation } from './annotate.js';
import { STATUS_ANNOTATIONS, isMeaningfulChange, releaseAnnotations, sameAnnotations, statusAnnotations, type StatusAnnotations } from './fields.js';
import { openStatusRepo, type CommitAuthor, type StatusRepo } from './repo.js';

export interface StatusWriterOptions {
  kv: KV;
  /** http(s) URL, path of a bare repository, or of a work tree (status branch required). */
  repo: string;
  /** The branch the manifests come from (default `main`). */
  branch?: string;
  /** Write status commits here instead of `branch` (`--status-branch`). */
  statusBranch?: string;
  author?: CommitAuthor;
  /** At most one commit per interval (default 10 s). */
  intervalMs?: number;
  /** Wait after the first change before committing, so one sync's objects share a commit (default 1 s). */
  settleMs?: number;
  auth?: SourceAuth;
  env?: Record<string, string | undefined>;
  dataDir: string;
  logger: Logger;
  clock?: Clock;
  /** Commit timestamps (default: the wall clock). */
  now?: () => Date;
  /** Push attempts per flush (default 5) and the first backoff delay (default 500 ms, doubling). */
  attempts?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
  /** Test seam: runs after the branch was fetched and the commit built, before it is pushed. */
  beforeUpdate?: (attempt: number) => Promise<void>;
}

export const DEFAULT_STATUS_AUTHOR: CommitAuthor = { name: 'Capstan', email: 'capstan@localhost' };

/** One object's annotations waiting to be written. */
interface Entry {
  id: string;
  kind: string;
  namespace: string;
  name: string;
  file: string;
  at: ObjectLocation;
  annotations: StatusAnnotations;
}

export interface FlushResult {
  /** The status commit, when one was pushed. */
  commit?: string;
  /** `Kind/namespace/name` of the objects whose annotations it changed. */
  written: string[];
  attempts: number;
}

export type StatusWriterState = 'idle' | 'running' | 'disabled' | 'stopped';

const dec = new TextDecoder();

export class StatusWriter {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly branch: string;
  private readonly target: string;
  private readonly author: CommitAuthor;
  private repo: StatusRepo | undefined;
  private watch: Watch | undefined;
  private watching: Promise<void> | undefined;
  private timer: unknown;
  private flushing: Promise<FlushResult> | undefined;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Newest wanted annotations per object not yet written. */
  private readonly pending = new Map<string, Entry>();
  /** What was last written or found in Git, per object. */
  private readonly known = new Map<string, Entry>();
  state: StatusWriterState = 'idle';

  constructor(private readonly options: StatusWriterOptions) {
    this.log = options.logger.child({ component: 'gitstatus' });
    this.clock = options.clock ?? systemClock;
    this.branch = options.branch ?? 'main';
    this.target = options.statusBranch ?? this.branch;
    this.author = options.author ?? DEFAULT_STATUS_AUTHOR;
  }

  /** Open the repository, read every status, then follow the store. */
  async start(): Promise<void> {
    const o = this.options;
    const opened = await openStatusRepo({ repo: o.repo, dataDir: o.dataDir, auth: o.auth, env: o.env, timeoutMs: o.timeoutMs, logger: this.log });
    if (opened.kind === 'folder') {
      this.state = 'disabled';
      this.log.info({ source: o.repo }, `status is not written back: ${opened.reason}`);
      return;
    }
    if (opened.kind === 'worktree' && (o.statusBranch === undefined || opened.checkedOut === this.target)) {
      // Like `git push` to a checked-out branch: refused, so the user's work tree never goes stale.
      this.state = 'disabled';
      this.log.info(
        { source: o.repo, branch: this.target },
        'status is not written back: a local repository with a work tree takes status only on a --status-branch that is not checked out',
      );
      return;
    }
    this.repo = opened.repo;
    this.state = 'running';
    const revision = await this.list();
    this.watching = this.follow(revision + 1);
  }

  /** A method, not a field test, so the compiler does not narrow it across awaits. */
  private stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Observe every status record; the store revision they were read at. */
  private async list(): Promise<number> {
    const r = await this.options.kv.range(STORE_PREFIX.status, { prefix: true });
    for (const item of r.kvs) await this.observe(item.key, item.value);
    return r.revision;
  }

  /**
   * Follow status changes from `from`. A watch that fails (the store compacted past it, or a
   * store error) is not the end: list again and go on, as every other watcher does.
   */
  private async follow(from: number): Promise<void> {
    let fromRevision = from;
    while (!this.stopped()) {
      try {
        const watch = this.options.kv.watch(STORE_PREFIX.status, { prefix: true, fromRevision });
        this.watch = watch;
        for await (const batch of watch) {
          for (const ev of batch.events) if (ev.type === 'put') await this.observe(ev.kv.key, ev.kv.value);
          fromRevision = batch.revision + 1;
        }
      } catch (err) {
        if (!this.stopped()) this.log.warn({ err }, 'status watch failed; listing again');
      }
      if (this.stopped()) return;
      await sleep(this.clock, 1000);
      if (this.stopped()) return;
      try {
        fromRevision = (await this.list()) + 1;
      } catch (err) {
        this.log.warn({ err }, 'listing status records failed; retrying');
      }
    }
  }

  /** Stop watching; waits for a flush in progress. Pending changes are written by `flush` only. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.watch?.close();
    await this.watching;
    await this.flushing?.catch(() => undefined);
  }

  /** Objects with changes waiting for the next commit. */
  pendingIds(): string[] {
    return [...this.pending.keys()].sort();
  }

  /** Write what is pending now (waits for a flush in progress first). Throws on failure. */
  async flush(): Promise<FlushResult> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    const run = this.flushOnce();
    this.flushing = run;
    try {
      return await run;
    } finally {
      this.flushing = undefined;
      this.lastFlushAt = this.clock.now();
      if (this.pending.size > 0) this.schedule();
    }
  }

  private async observe(key: string, value: Uint8Array): Promise<void> {
    let status: WorkloadStatus;
    try {
      status = JSON.parse(dec.decode(value)) as WorkloadStatus;
    } catch {
      return;
    }
    // Only rollout status goes to Git; other status records (a Service's address and
    // endpoints, written by the router) have no phase and are not reported.
    if (!hasPhase(status)) return;
    const entry = await this.entryFor(key.slice(STORE_PREFIX.status.length), status).catch((err: unknown) => {
      this.log.warn({ err, key }, 'status not mapped to a manifest');
      return undefined;
    });
    if (!entry) return;
    const known = this.known.get(entry.id);
    if (!this.pending.has(entry.id) && known && !isMeaningfulChange(known.annotations, entry.annotations)) return;
    this.pending.set(entry.id, entry);
    this.schedule();
  }

  private async desired(id: string): Promise<DesiredRecord | undefined> {
    const kv = await this.options.kv.get(`${STORE_PREFIX.desired}${id}`);
    return kv ? (JSON.parse(dec.decode(kv.value)) as DesiredRecord) : undefined;
  }

  /** The manifest a status is reported on: the object's own, or its ChartRelease's. */
  private async entryFor(id: string, status: WorkloadStatus): Promise<Entry | undefined> {
    const record = await this.desired(id);
    if (!record) return undefined;
    const release = record.source.release;
    if (!release) {
      const m = record.object.metadata;
      return {
        id,
        kind: record.object.kind,
        namespace: m.namespace,
        name: m.name,
        file: record.source.file,
        at: { docIndex: record.source.index, item: record.source.item },
        annotations: statusAnnotations(status),
      };
    }
    const relId = objectId({ kind: 'ChartRelease', namespace: release.namespace, name: release.name });
    const relRecord = await this.desired(relId);
    const statuses: WorkloadStatus[] = [];
    const all = await this.options.kv.range(STORE_PREFIX.desired, { prefix: true });
    for (const item of all.kvs) {
      const r = JSON.parse(dec.decode(item.value)) as DesiredRecord;
      const rel = r.source.release;
      if (!rel || rel.namespace !== release.namespace || rel.name !== release.name) continue;
      const s = await this.options.kv.get(`${STORE_PREFIX.status}${item.key.slice(STORE_PREFIX.desired.length)}`);
      const parsed = s ? (JSON.parse(dec.decode(s.value)) as WorkloadStatus) : undefined;
      if (parsed && hasPhase(parsed)) statuses.push(parsed);
    }
    const annotations = releaseAnnotations(statuses, relRecord?.commit);
    if (!annotations) return undefined;
    return {
      id: relId,
      kind: 'ChartRelease',
      namespace: release.namespace,
      name: release.name,
      file: relRecord?.source.file ?? release.file,
      at: { docIndex: relRecord?.source.index ?? 0, item: relRecord?.source.item },
      annotations,
    };
  }

  private schedule(): void {
    if (this.timer !== undefined || this.state !== 'running') return;
    const interval = this.options.intervalMs ?? 10_000;
    const settle = this.options.settleMs ?? 1_000;
    const delay = Math.max(settle, this.lastFlushAt + interval - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.state !== 'running') return;
      this.flush().catch((err: unknown) => this.log.error({ err, branch: this.target }, 'status commit failed; will retry at the next interval'));
    }, delay);
  }

  private async flushOnce(): Promise<FlushResult> {
    const repo = this.repo;
    const batch = new Map(this.pending);
    if (!repo || batch.size === 0) return { written: [], attempts: 0 };
    const attempts = this.options.attempts ?? 5;
    const ownBranch = this.target !== this.branch;
    let delay = this.options.retryDelayMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      const base = await repo.tip(this.branch);
      if (!base) throw new CapstanError('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', `branch ${this.branch} does not exist in ${repo.location}`);
      const current = ownBranch ? await repo.tip(this.target) : base;
      // On a status branch, every object's annotations are laid over the source branch's tip, so
      // the status branch follows the source branch and keeps everything written before.
      const entries = ownBranch ? new Map([...this.known, ...batch]) : batch;
      const { files, written, seen } = await this.applyAll(repo, base, entries);
      for (const e of seen) if (!batch.has(e.id) || batch.get(e.id) === this.pending.get(e.id)) this.known.set(e.id, e);
      let parents = [base];
      if (ownBranch && current) parents = (await repo.isAncestor(base, current)) ? [current] : [current, base];
      const settleBatch = (): void => {
        for (const [id, e] of batch) if (this.pending.get(id) === e) this.pending.delete(id);
      };
      if (files.size === 0) {
        settleBatch();
        return { written: [], attempts: attempt };
      }
      const writtenIds = written.filter((e) => batch.has(e.id));
      const commit = await repo.commit(base, parents, files, commitMessage(writtenIds.length > 0 ? writtenIds : written), this.author, (this.options.now ?? (() => new Date()))());
      if (ownBranch && current && (await repo.treeOf(commit)) === (await repo.treeOf(current))) {
        settleBatch();
        return { written: [], attempts: attempt };
      }
      await this.options.beforeUpdate?.(attempt);
      const result = await repo.update(this.target, commit, current);
      if (result === 'ok') {
        for (const e of written) this.known.set(e.id, e);
        settleBatch();
        this.log.info({ branch: this.target, commit, objects: written.map((e) => e.id) }, 'status committed');
        return { commit, written: written.map((e) => e.id).sort(), attempts: attempt };
      }
      if (attempt >= attempts) {
        throw new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `status commit to ${this.target} of ${repo.location} was rejected ${attempts} times (the branch keeps moving)`, {
          context: { location: repo.location, branch: this.target, attempts },
        });
      }
      this.log.info({ branch: this.target, attempt }, 'branch moved while writing status; fetching and trying again');
      await sleep(this.clock, delay);
      delay *= 2;
    }
  }

  /** Apply each entry to its file at `base`; files whose annotations are already right are skipped. */
  private async applyAll(repo: StatusRepo, base: string, entries: Map<string, Entry>): Promise<{ files: Map<string, string>; written: Entry[]; seen: Entry[] }> {
    const files = new Map<string, string>();
    const written: Entry[] = [];
    const seen: Entry[] = [];
    for (const e of [...entries.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const text = files.get(e.file) ?? (await repo.readFile(base, e.file));
      if (text === undefined) {
        this.log.warn({ object: e.id, file: e.file }, 'manifest file is gone from the branch; status not written');
        continue;
      }
      try {
        const at = locateObject(text, e.file, { kind: e.kind, name: e.name }, e.at);
        if (!at) {
          this.log.warn({ object: e.id, file: e.file }, 'object is no longer in its manifest file; status not written');
          continue;
        }
        const now = readAnnotations(text, e.file, at.docIndex, at.item);
        if (sameAnnotations(now, e.annotations) || !isMeaningfulChange(now, e.annotations)) {
          seen.push({ ...e, annotations: pickStatus(now) });
          continue;
        }
        const next = setAnnotations(text, e.file, at.docIndex, e.annotations, at.item);
        if (next !== text) {
          files.set(e.file, next);
          written.push(e);
        }
      } catch (err) {
        this.log.warn({ err, object: e.id, file: e.file }, 'status not written to the manifest');
      }
    }
    return { files, written, seen };
  }
}

function pickStatus(a: Record<string, string>): StatusAnnotations {
  const out = {} as Record<string, string | undefined>;
  for (const k of Object.values(STATUS_ANNOTATIONS)) out[k] = a[k];
  return out as StatusAnnotations;
}

/** `capstan: web Healthy at revision 4 [skip ci]`, or a summary with one line per object. */
/** A status record that describes a rollout (Deployment, Rollout, CronJob), not traffic. */
function hasPhase(status: Partial<WorkloadStatus>): status is WorkloadStatus {
  return typeof status.phase === 'string' && (status.phase as string) !== '';
}

export function commitMessage(entries: { kind: string; namespace: string; name: string; annotations: StatusAnnotations }[]): string {
  const line = (e: (typeof entries)[number]): string => {
    const phase = e.annotations[STATUS_ANNOTATIONS.phase] ?? 'Unknown';
    const rev = e.annotations[STATUS_ANNOTATIONS.revision];
    return `${e.name} ${phase}${rev ? ` at revision ${rev}` : ''}`;
  };
  if (entries.length === 1) return `capstan: ${line(entries[0]!)} [skip ci]\n`;
  const body = entries.map((e) => `- ${e.kind} ${e.namespace}/${line(e)}`).join('\n');
  return `capstan: status of ${entries.length} objects [skip ci]\n\n${body}\n`;
}
