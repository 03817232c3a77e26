// Credentials and transport for remotes: where credentials come from, an HTTP client bound to
// an abort signal, and the translation of transport failures into Capstan error codes.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { GitAuth, HttpClient } from 'isomorphic-git';
import httpNode from 'isomorphic-git/http/node';
import { CapstanError } from '../common/index.js';
import type { SourceAuth } from './types.js';

/** A URL split into the credential-free URL handed to Git and the credentials it carried. */
export function splitUrlAuth(url: string): { url: string; auth?: SourceAuth } {
  const u = new URL(url);
  const auth: SourceAuth | undefined =
    u.username || u.password
      ? { username: decodeURIComponent(u.username) || undefined, password: decodeURIComponent(u.password) || undefined }
      : undefined;
  u.username = '';
  u.password = '';
  return { url: u.toString(), auth };
}

/**
 * Credentials in order of precedence: options, then the URL, then CAPSTAN_GIT_USERNAME /
 * CAPSTAN_GIT_PASSWORD / CAPSTAN_GIT_TOKEN, then `<dataDir>/git-credentials` (JSON).
 */
export async function findCredentials(
  fromOptions: SourceAuth | undefined,
  fromUrl: SourceAuth | undefined,
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<GitAuth | undefined> {
  const fromEnv: SourceAuth = {
    username: env.CAPSTAN_GIT_USERNAME || undefined,
    password: env.CAPSTAN_GIT_PASSWORD || undefined,
    token: env.CAPSTAN_GIT_TOKEN || undefined,
  };
  for (const a of [fromOptions, fromUrl, fromEnv]) {
    const g = toGitAuth(a);
    if (g) return g;
  }
  const text = await fsp.readFile(join(dataDir, 'git-credentials'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return toGitAuth(JSON.parse(text) as SourceAuth);
  } catch (cause) {
    // Say which file, never what is in it.
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${join(dataDir, 'git-credentials')} is not valid JSON`, { cause: new Error(String((cause as Error).name)) });
  }
}

/** A token is sent as the Basic password (GitHub, Gitea and GitLab all accept that form). */
function toGitAuth(a: SourceAuth | undefined): GitAuth | undefined {
  if (!a) return undefined;
  if (a.token) return { username: a.username || 'x-access-token', password: a.token };
  if (a.username || a.password) return { username: a.username ?? '', password: a.password ?? '' };
  return undefined;
}

/** isomorphic-git's Node client with every request tied to `signal`, so a timeout aborts sockets. */
export function httpWithSignal(signal: AbortSignal): HttpClient {
  return { request: (req) => httpNode.request({ ...req, signal }) };
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** Turn a failed fetch into a CapstanError; messages name only the redacted location. */
export function remoteError(
  err: unknown,
  ctx: { location: string; ref: string; timedOut: boolean; timeoutMs: number; offeredAuth: boolean },
): CapstanError {
  if (err instanceof CapstanError) return err;
  const e = err as { code?: string; name?: string; data?: { statusCode?: number }; cause?: { code?: string } };
  const context = { location: ctx.location, ref: ctx.ref };
  // Keep the cause's kind, not its text: transport errors can echo request details.
  const cause = new Error(`${e.name ?? 'Error'}${e.code ? ` (${e.code})` : ''}`);
  if (ctx.timedOut || e.name === 'AbortError' || e.code === 'ABORT_ERR') {
    return new CapstanError('CAPSTAN_ERR_SOURCE_TIMEOUT', `${ctx.location} did not answer within ${ctx.timeoutMs} ms`, { cause, context });
  }
  if (e.code === 'UserCanceledError' || e.data?.statusCode === 401 || e.data?.statusCode === 403) {
    const msg = ctx.offeredAuth
      ? `${ctx.location} refused the credentials`
      : `${ctx.location} needs credentials: set CAPSTAN_GIT_USERNAME and CAPSTAN_GIT_PASSWORD (or CAPSTAN_GIT_TOKEN)`;
    return new CapstanError('CAPSTAN_ERR_SOURCE_AUTH', msg, { cause, context });
  }
  if (e.data?.statusCode === 404) {
    return new CapstanError('CAPSTAN_ERR_SOURCE_NOT_FOUND', `${ctx.location} is not a Git repository the server knows (HTTP 404)`, { cause, context });
  }
  if (e.code === 'NotFoundError') {
    return new CapstanError('CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', `ref "${ctx.ref}" does not exist in ${ctx.location}`, { cause, context });
  }
  const netCode = e.code && UNREACHABLE_CODES.has(e.code) ? e.code : e.cause?.code && UNREACHABLE_CODES.has(e.cause.code) ? e.cause.code : undefined;
  if (netCode) {
    return new CapstanError('CAPSTAN_ERR_SOURCE_UNREACHABLE', `${ctx.location} could not be reached (${netCode})`, { cause, context });
  }
  if (e.code === 'HttpError') {
    return new CapstanError('CAPSTAN_ERR_SOURCE_UNREACHABLE', `${ctx.location} answered HTTP ${e.data?.statusCode ?? '?'}`, { cause, context });
  }
  return new CapstanError('CAPSTAN_ERR_SOURCE_GIT', `fetching ${ctx.location} failed: ${e.name ?? 'error'}${e.code ? ` (${e.code})` : ''}`, { cause, context });
}

export type OfferAuth = () => { username?: string; password?: string; cancel?: boolean };

/**
 * One network operation against a remote: aborted after `timeoutMs`, credentials offered once
 * (isomorphic-git asks again after a 401; the second ask is refused, so wrong credentials fail
 * fast instead of looping), and failures mapped to the catalog without credentials in them.
 */
export async function withRemote<T>(
  ctx: { auth: { username?: string; password?: string } | undefined; location: string; ref: string; timeoutMs: number },
  run: (http: HttpClient, onAuth: OfferAuth) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timedOut = false;
  let offeredAuth = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
      reject(new Error('timeout'));
    }, ctx.timeoutMs);
  });
  const running = run(httpWithSignal(controller.signal), () => {
    if (!ctx.auth) return { cancel: true };
    offeredAuth = true;
    return ctx.auth;
  });
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } catch (err) {
    throw remoteError(err, { location: ctx.location, ref: ctx.ref, timedOut, timeoutMs: ctx.timeoutMs, offeredAuth });
  } finally {
    clearTimeout(timer);
  }
}
