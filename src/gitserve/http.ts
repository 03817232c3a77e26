// Smart HTTP for the one served repository, mounted at /git/<name>.git/ on the API port and
// run by `git http-backend` as a CGI program.
// Access: HTTP Basic auth whose password is an API token (the user name is free; the token's
// user is the pusher). Push (git-receive-pack) needs the deployer or admin role; fetch and
// clone need a viewer, deployer or admin token, from every address, unless `anonymousRead`
// is on (`--git-anonymous-read`): then anyone who reaches the port can clone.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { silentLogger, type Logger } from '../common/index.js';
import { lookupToken, type Principal } from '../server/index.js';
import type { KV } from '../store/index.js';
import { gitEnv, runGit } from './git-cli.js';
import { parseReceiveCommands, refusalReport, type RefUpdate } from './receive-report.js';

export const GIT_HTTP_PREFIX = '/git/';

export interface GitHttpOptions {
  /** The bare repository served, e.g. `<dataDir>/repo.git`. */
  repoPath: string;
  /** Where API tokens are looked up. */
  kv: KV;
  logger?: Logger;
  /** Called after a push went through (e.g. to sync at once); not awaited by the reply. */
  onPush?: (pusher: string) => Promise<unknown>;
  /** A push moved a ref to a commit that does not contain its old one (a force push). */
  onHistoryRewritten?: (rewrite: HistoryRewrite) => Promise<unknown>;
  /** Clone and fetch without a token, from any address (default false). */
  anonymousRead?: boolean;
  gitBinary?: string;
  /** Largest receive-pack request body accepted (default 100 MiB, `--max-push-size`). */
  maxPushBytes?: number;
  /**
   * The branch Capstan commits rollout status to: a push to it is answered (as `remote:`
   * lines in git's own output) with a reminder that those commits will follow and how to
   * push again after them.
   */
  statusBranch?: string;
}

export interface HistoryRewrite {
  ref: string;
  old: string;
  new: string;
  /** Commits reachable from the old tip and no longer from the new one. */
  dropped: number;
  pusher: string;
}

export const DEFAULT_MAX_PUSH_BYTES = 100 * 1024 * 1024;

export type GitHttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const PUSH_ROLES = new Set(['deployer', 'admin']);
const FETCH_ROLES = new Set(['viewer', 'deployer', 'admin']);

/** Which service a request is for, or undefined for paths this server does not offer. */
export function gitService(pathInRepo: string, query: URLSearchParams): 'upload' | 'receive' | undefined {
  if (pathInRepo === '/info/refs') {
    const service = query.get('service');
    if (service === 'git-upload-pack') return 'upload';
    if (service === 'git-receive-pack') return 'receive';
    return undefined; // the dumb protocol is not served
  }
  if (pathInRepo === '/git-upload-pack') return 'upload';
  if (pathInRepo === '/git-receive-pack') return 'receive';
  return undefined;
}

/** The token from `Authorization: Basic base64(user:token)`; undefined when absent or malformed. */
export function basicPassword(header: string | undefined): string | undefined {
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon >= 0 && colon < text.length - 1 ? text.slice(colon + 1) : undefined;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`${text}\n`);
}

export function createGitHttpHandler(options: GitHttpOptions): GitHttpHandler {
  const log = (options.logger ?? silentLogger()).child({ component: 'git-http' });
  const repoName = basename(options.repoPath);
  const root = dirname(options.repoPath);
  const mount = `${GIT_HTTP_PREFIX}${repoName}`;
  const anonymous = options.anonymousRead ?? false;
  const maxPush = options.maxPushBytes ?? DEFAULT_MAX_PUSH_BYTES;
  const hooksPath = options.statusBranch !== undefined ? writePushNotice(root, options.statusBranch) : undefined;

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(`${mount}/`)) {
      req.resume();
      return plain(res, 404, `no repository here; clone ${mount}`);
    }
    const inRepo = url.pathname.slice(mount.length);
    const service = gitService(inRepo, url.searchParams);
    if (!service) {
      req.resume();
      return plain(res, 404, 'only the smart HTTP protocol is served');
    }

    let principal: Principal | undefined;
    const password = basicPassword(req.headers.authorization);
    if (password !== undefined) principal = await lookupToken(options.kv, password);
    const needed = service === 'receive' ? PUSH_ROLES : FETCH_ROLES;
    const free = service === 'upload' && anonymous;
    if (!free && !principal) {
      req.resume();
      if (password !== undefined) log.warn({ service, remote: req.socket.remoteAddress }, 'git request refused: unknown token');
      // 401 with a challenge makes git ask its credential helper for a user and password.
      return plain(res, 401, 'authentication required: use a Capstan API token as the password (any user name)', { 'www-authenticate': 'Basic realm="capstan"' });
    }
    if (!free && principal && !needed.has(principal.role)) {
      req.resume();
      log.warn({ user: principal.user, role: principal.role, service }, 'git request refused: role');
      return plain(res, 403, `a ${principal.role} token may not ${service === 'receive' ? 'push' : 'fetch'}; ${service === 'receive' ? 'push needs a deployer or admin token' : ''}`.trim());
    }

    const { status, updates } = await runBackend(req, res, {
      root,
      pathInfo: `/${repoName}${inRepo}`,
      query: url.search.replace(/^\?/, ''),
      user: principal?.user ?? '',
      ...(options.gitBinary ? { gitBinary: options.gitBinary } : {}),
      ...(hooksPath !== undefined && service === 'receive' ? { hooksPath } : {}),
      ...(service === 'receive' && req.method === 'POST'
        ? {
            maxBodyBytes: maxPush,
            onTooLarge: (received: number) =>
              log.warn({ user: principal?.user, received, limit: maxPush, code: 'CAPSTAN_ERR_SOURCE_PUSH_TOO_LARGE' }, 'push refused: over --max-push-size'),
          }
        : {}),
    });
    // git sends a body-less probe before a large (chunked) push; only ref updates count.
    if (service === 'receive' && req.method === 'POST' && status === 200 && updates.length > 0) {
      const pusher = principal?.user ?? '';
      log.info({ user: pusher }, 'push received');
      // Force pushes are accepted (history is the team's to rewrite) but never silently.
      for (const rewrite of await historyRewrites(options.repoPath, updates, pusher, options.gitBinary)) {
        log.warn({ ...rewrite }, `force push to ${rewrite.ref}: ${rewrite.dropped} commit(s) no longer in its history`);
        await options.onHistoryRewritten?.(rewrite).catch((err: unknown) => log.error({ err }, 'history rewrite could not be recorded'));
      }
      options.onPush?.(pusher).catch((err: unknown) => log.error({ err }, 'sync after push failed'));
    }
  };
}

/**
 * A post-receive hook under `<root>/hooks`, outside every served repository: git sends what
 * it prints to the pusher as `remote:` lines. A push to the status branch is told that
 * Capstan's status commits will land on top of it, so the next push needs a rebase first
 * (git refuses it on the client with "fetch first", where no server can add a word).
 */
function writePushNotice(root: string, branch: string): string {
  const dir = join(root, 'hooks');
  mkdirSync(dir, { recursive: true });
  const ref = `refs/heads/${branch}`;
  if (!/^[A-Za-z0-9._/-]+$/.test(ref)) throw new Error(`status branch ${JSON.stringify(branch)} is not a plain branch name`);
  const notice = [
    `capstan: syncing ${branch} now; rollout status is committed back to ${branch} as it goes.`,
    `capstan: before your next push run: git pull --rebase`,
    `capstan: (a push refused with "fetch first" is behind those status commits)`,
  ];
  const script = [
    '#!/bin/sh',
    '# Capstan: tells the pusher that status commits will follow on this branch.',
    'while read old new ref; do',
    `  if [ "$ref" = "${ref}" ]; then`,
    ...notice.map((l) => `    echo '${l.replace(/'/g, "'\\''")}'`),
    '  fi',
    'done',
    '',
  ].join('\n');
  const hook = join(dir, 'post-receive');
  writeFileSync(hook, script, { mode: 0o755 });
  chmodSync(hook, 0o755);
  return dir;
}

interface BackendRequest {
  root: string;
  pathInfo: string;
  query: string;
  user: string;
  gitBinary?: string;
  /** `core.hooksPath` for receive-pack (the push notice's post-receive hook). */
  hooksPath?: string;
  /** Most request-body bytes forwarded; over it the backend is killed and 413 answered. */
  maxBodyBytes?: number;
  /** Called once when the body went over `maxBodyBytes`. */
  onTooLarge?: (received: number) => void;
  /** Bytes past the limit read and dropped before the connection is cut with a 413. */
  drainBytes?: number;
}

/** How much of a request's start is kept to name its refs in a refusal. */
const COMMANDS_BYTES = 64 * 1024;
const DEFAULT_DRAIN_BYTES = 64 * 1024 * 1024;

/** Status answered when a request body went over `maxBodyBytes`. */
export const PAYLOAD_TOO_LARGE = 413;

/**
 * Pipes the request through `git http-backend`; resolves with the status it answered and the ref updates the request asked for.
 * With `maxBodyBytes`, body bytes are counted as they arrive (chunked bodies have no
 * Content-Length) and the backend's answer is held until the whole body was read, so a body
 * over the limit can still be refused with a plain 413: forwarding stops, the backend and its
 * children (receive-pack, index-pack) are killed, and nothing of the push is kept.
 */
function runBackend(req: IncomingMessage, res: ServerResponse, r: BackendRequest): Promise<{ status: number; updates: RefUpdate[] }> {
  const env = gitEnv({
    HOME: r.root,
    GIT_PROJECT_ROOT: r.root,
    GIT_HTTP_EXPORT_ALL: '1',
    // Access was checked above; let http-backend accept the push.
    GIT_CONFIG_COUNT: r.hooksPath !== undefined ? '2' : '1',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'true',
    ...(r.hooksPath !== undefined ? { GIT_CONFIG_KEY_1: 'core.hooksPath', GIT_CONFIG_VALUE_1: r.hooksPath } : {}),
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: r.pathInfo,
    QUERY_STRING: r.query,
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: r.user,
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
    ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
    ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
  });
  // Its own process group, so a refused push can stop receive-pack and index-pack with it.
  const child = spawn(r.gitBinary ?? 'git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin.on('error', () => undefined); // the backend may stop reading early
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));

  const limit = r.maxBodyBytes;
  let received = 0;
  let refused = false;
  // Without a limit the answer streams at once; with one it waits for the end of the body.
  let bodyDone = limit === undefined;
  const held: Buffer[] = [];
  let settle: (status: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (settle = resolve));

  const killBackend = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  // The start of the body, where the ref updates are, for the refusal report.
  let start: Buffer = Buffer.alloc(0);
  const drainBytes = r.drainBytes ?? DEFAULT_DRAIN_BYTES;
  const reason = (): string => `push refused: the request is over ${formatBytes(limit!)} (--max-push-size) [CAPSTAN_ERR_SOURCE_PUSH_TOO_LARGE]`;
  const overLimit = (): void => {
    refused = true;
    // End of input: index-pack stops at the truncated pack and receive-pack removes its
    // quarantine folder; a backend still running after that is killed.
    child.stdin.end();
    const killTimer = setTimeout(killBackend, 2000);
    child.once('close', () => clearTimeout(killTimer));
    r.onTooLarge?.(received);
    settle(PAYLOAD_TOO_LARGE);
    if (req.isPaused()) req.resume();
  };
  // Too much even to read and drop: a plain 413 now (curl stops sending on it), then close.
  const cutOff = (): void => {
    req.removeAllListeners('data');
    if (!res.headersSent) plain(res, PAYLOAD_TOO_LARGE, reason(), { connection: 'close' });
    const timer = setTimeout(() => req.socket.destroy(), 2000);
    timer.unref();
    req.resume();
  };

  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (start.length < COMMANDS_BYTES) start = Buffer.concat([start, chunk.subarray(0, COMMANDS_BYTES - start.length)]);
    if (refused) {
      // The rest of the body is read and dropped, so git reads the report as the answer.
      if (received > limit! + drainBytes) cutOff();
      return;
    }
    if (limit !== undefined && received > limit) return overLimit();
    if (!child.stdin.write(chunk)) {
      req.pause();
      child.stdin.once('drain', () => req.resume());
    }
  });
  req.on('end', () => {
    if (refused) {
      if (res.headersSent) return;
      // A receive-pack answer of our own: git prints the reason for every ref.
      res.writeHead(200, { 'content-type': 'application/x-git-receive-pack-result', 'cache-control': 'no-cache', connection: 'close' });
      res.end(refusalReport(parseReceiveCommands(start), reason()));
      return;
    }
    child.stdin.end();
    bodyDone = true;
    for (const chunk of held.splice(0)) deliver(chunk);
  });
  req.on('error', () => {
    if (!refused) killBackend();
  });

  let head: Buffer = Buffer.alloc(0);
  let status = 200;
  let started = false;
  const deliver = (chunk: Buffer): void => {
    if (started) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const parsed = splitCgiOutput(head);
    if (!parsed) return;
    started = true;
    status = parsed.status;
    res.writeHead(parsed.status, parsed.headers);
    if (parsed.body.length > 0) res.write(parsed.body);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (refused) return;
    if (bodyDone) deliver(chunk);
    else held.push(chunk);
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (refused) return;
    if (res.headersSent) res.destroy();
    else plain(res, 500, err.code === 'ENOENT' ? 'git is not installed on the server' : 'git http-backend could not start');
    settle(500);
  });
  child.on('close', (code) => {
    if (refused) return;
    // The backend ended before the body did (it failed early): answer with what it said.
    for (const chunk of held.splice(0)) deliver(chunk);
    if (!started) {
      if (!res.headersSent) plain(res, 500, Buffer.concat(stderr).toString('utf8').trim() || `git http-backend exited with ${code}`);
      return settle(500);
    }
    res.end();
    settle(code === 0 ? status : 500);
  });
  return done.then((status) => ({ status, updates: parseReceiveCommands(start).updates }));
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** CGI output: headers, a blank line, the body. Undefined until the blank line has arrived. */
export function splitCgiOutput(buf: Buffer): { status: number; headers: Record<string, string>; body: Buffer } | undefined {
  let end = buf.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = buf.indexOf('\n\n');
  if (end < 0 || (lf >= 0 && lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end < 0) return undefined;
  const headers: Record<string, string> = {};
  let status = 200;
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
    else headers[name] = value;
  }
  return { status, headers, body: buf.subarray(end + sep) };
}

/** Ref updates of an accepted push whose new commit does not contain the old one. */
async function historyRewrites(repoPath: string, updates: readonly RefUpdate[], pusher: string, gitBinary?: string): Promise<HistoryRewrite[]> {
  const out: HistoryRewrite[] = [];
  const zero = /^0+$/;
  for (const u of updates) {
    if (zero.test(u.old) || zero.test(u.new)) continue;
    const opts = gitBinary ? { gitBinary } : {};
    const contained = await runGit(['--git-dir', repoPath, 'merge-base', '--is-ancestor', u.old, u.new], opts).then(
      () => true,
      () => false,
    );
    if (contained) continue;
    const count = await runGit(['--git-dir', repoPath, 'rev-list', '--count', u.old, `^${u.new}`], opts).catch(() => '0');
    out.push({ ref: u.ref, old: u.old, new: u.new, dropped: Number(count.trim()) || 0, pusher });
  }
  return out;
}
