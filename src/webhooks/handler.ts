// POST /api/v1/webhooks/git: a push from GitHub, GitLab or Gitea, verified against the
// configured secret (the route is not token-authenticated: the signature is the proof),
// deduplicated by delivery id, and turned into an immediate sync when it is for the
// repository and branch the control plane follows; a pull request against that branch is
// handed to `plan` (a comment with the plan on it), after the reply.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { CapstanError, silentLogger, type ErrorCode, type Logger } from '../common/index.js';
import { SyncCoalescer } from './coalesce.js';
import { DeliveryCache } from './dedup.js';
import { matchPush, parsePush, type WatchedRepository } from './payload.js';
import { matchPullRequest, parsePullRequest, type PullRequestEvent } from './pull-request.js';
import { deliveryId, detectProvider, eventName, verifyWebhook } from './verify.js';

export const WEBHOOK_PATH = '/api/v1/webhooks/git';
export const DEFAULT_WEBHOOK_BODY_LIMIT = 1024 * 1024;

export interface WebhookHandlerOptions {
  /** The shared secret; without one the endpoint answers 404, as if it did not exist. */
  secret: string | undefined;
  /** What the control plane follows; only pushes to it trigger a sync. */
  repository: WatchedRepository;
  /** Start a sync (called with 'webhook'); not awaited by the reply. */
  sync: (trigger: string) => Promise<unknown>;
  logger?: Logger;
  /** Largest accepted body (default 1 MiB); more is a 413. */
  bodyLimitBytes?: number;
  /** Replay protection; a fresh cache (10,000 ids, 24 h) when absent. */
  deliveries?: DeliveryCache;
  /** Least time between two webhook-triggered syncs, in ms (default 2,000); deliveries in between join one sync. */
  minSyncIntervalMs?: number;
  /** Plan a pull request against the followed branch; not awaited by the reply. Without it pull requests are ignored. */
  plan?: (pr: PullRequestEvent) => Promise<unknown>;
}

export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function fail(res: ServerResponse, status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  reply(res, status, { error: { code, message } }, headers);
}

class TooLarge extends Error {}

async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new TooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** JSON bodies, and GitHub's form-encoded variant (`payload=<json>`). */
function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const text = raw.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) throw new SyntaxError('no payload field');
    return JSON.parse(payload) as unknown;
  }
  return JSON.parse(text) as unknown;
}

export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  const log = (options.logger ?? silentLogger()).child({ component: 'webhooks' });
  const limit = options.bodyLimitBytes ?? DEFAULT_WEBHOOK_BODY_LIMIT;
  const deliveries = options.deliveries ?? new DeliveryCache();
  const syncs = new SyncCoalescer({
    run: () => options.sync('webhook'),
    ...(options.minSyncIntervalMs !== undefined ? { minIntervalMs: options.minSyncIntervalMs } : {}),
    onError: (err) => log.error({ err }, 'sync after webhook failed'),
  });

  return async (req, res) => {
    const secret = options.secret;
    if (!secret) {
      req.resume();
      fail(res, 404, 'CAPSTAN_ERR_API_NOT_FOUND', 'webhooks are not enabled on this server (no webhook secret is configured)');
      return;
    }
    const provider = detectProvider(req.headers);
    if (!provider) {
      req.resume();
      fail(res, 400, 'CAPSTAN_ERR_API_BAD_REQUEST', 'not a GitHub, GitLab or Gitea webhook (no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header)');
      return;
    }
    let raw: Buffer;
    try {
      raw = await readRaw(req, limit);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      req.resume(); // drain what still arrives so the client can read the reply
      fail(res, 413, 'CAPSTAN_ERR_API_BODY_TOO_LARGE', `the webhook body is over the ${limit}-byte limit`, { connection: 'close' });
      return;
    }
    if (!verifyWebhook(provider, secret, req.headers, raw)) {
      log.warn({ provider, remote: req.socket.remoteAddress }, 'webhook refused: bad signature');
      fail(res, 401, 'CAPSTAN_ERR_SOURCE_WEBHOOK_SIGNATURE', `the ${provider} webhook signature does not match the configured secret`);
      return;
    }
    const id = deliveryId(provider, req.headers);
    if (id !== undefined && !deliveries.firstSeen(`${provider}:${id}`)) {
      log.info({ provider, delivery: id }, 'webhook ignored: replayed delivery');
      reply(res, 200, { ignored: `delivery ${id} was already received` });
      return;
    }
    let payload: unknown;
    try {
      payload = parseBody(raw, req.headers['content-type']);
    } catch {
      fail(res, 400, 'CAPSTAN_ERR_API_BAD_REQUEST', 'the webhook body is not valid JSON');
      return;
    }
    const event = eventName(provider, req.headers) ?? '';
    const pr = options.plan ? parsePullRequest(provider, event, payload) : undefined;
    if (pr) {
      const matched = matchPullRequest(pr, options.repository);
      if (!matched.matched) {
        log.info({ provider, delivery: id, pullRequest: pr.number, reason: matched.reason }, 'webhook ignored');
        reply(res, 200, { ignored: matched.reason });
        return;
      }
      log.info({ provider, delivery: id, pullRequest: pr.number, commit: pr.headSha }, 'webhook: pull request, planning');
      reply(res, 202, { plan: true, pullRequest: pr.number, provider, commit: pr.headSha });
      options.plan!(pr).catch((err: unknown) => log.error({ err, pullRequest: pr.number }, 'plan of a pull request failed'));
      return;
    }
    const push = /push/i.test(event) ? parsePush(provider, payload) : undefined;
    if (!push) {
      reply(res, 200, { ignored: `${provider} event ${JSON.stringify(event)} is not a push${options.plan ? ' or a pull request opened, updated or reopened' : ''}` });
      return;
    }
    const match = matchPush(push, options.repository);
    if (!match.matched) {
      log.info({ provider, delivery: id, ref: push.ref, reason: match.reason }, 'webhook ignored');
      reply(res, 200, { ignored: match.reason });
      return;
    }
    // `sync`: started now, queued (behind a running sync or the pacing interval), or joined to
    // the sync already queued — a flood of deliveries costs at most one sync per interval.
    const sync = syncs.trigger();
    log.info({ provider, delivery: id, branch: push.branch, commit: push.after, sync }, 'webhook: push, syncing');
    reply(res, 202, { synced: true, sync, provider, branch: push.branch, ...(push.after ? { commit: push.after } : {}) });
  };
}

export interface WebhookSecretOptions {
  /** `--webhook-secret-file`: a file holding the secret (surrounding whitespace dropped). */
  file?: string;
  /** Where CAPSTAN_WEBHOOK_SECRET is looked up (default process.env). */
  env?: Record<string, string | undefined>;
}

/** The webhook secret from a file, else from CAPSTAN_WEBHOOK_SECRET; undefined when neither is set. */
export async function loadWebhookSecret(options: WebhookSecretOptions = {}): Promise<string | undefined> {
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (cause) {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `cannot read the webhook secret file ${options.file}`, { cause, context: { file: options.file } });
    }
    const secret = text.trim();
    if (!secret) throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the webhook secret file ${options.file} is empty`, { context: { file: options.file } });
    return secret;
  }
  const fromEnv = (options.env ?? process.env).CAPSTAN_WEBHOOK_SECRET?.trim();
  return fromEnv ? fromEnv : undefined;
}
