// Signature checks for Git host webhooks. Pure: the secret, the raw body and a header in,
// true or false out. Every comparison is constant-time, so a caller cannot learn the
// expected value byte by byte from response timings.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookProvider = 'github' | 'gitlab' | 'gitea';

/** Lower-cased header name → value, as Node's `IncomingMessage.headers` has them. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Which host sent the request. Gitea also sends GitHub's headers for compatibility, so it
 * is checked first; undefined when no known event header is present.
 */
export function detectProvider(headers: WebhookHeaders): WebhookProvider | undefined {
  if (header(headers, 'x-gitea-event') !== undefined || header(headers, 'x-gitea-delivery') !== undefined) return 'gitea';
  if (header(headers, 'x-gitlab-event') !== undefined) return 'gitlab';
  if (header(headers, 'x-github-event') !== undefined) return 'github';
  return undefined;
}

function hmacHex(secret: string, body: Uint8Array): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Equal strings, in time that does not depend on where they differ (lengths may leak). */
export function constantTimeEqual(a: string, b: string): boolean {
  // Hashing first gives equal-length inputs for timingSafeEqual whatever the lengths.
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
export function verifyGithubSignature(secret: string, body: Uint8Array, signature: string | undefined): boolean {
  if (!signature) return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
  if (!m) return false;
  return constantTimeEqual(m[1]!.toLowerCase(), hmacHex(secret, body));
}

/** Gitea: `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`. */
export function verifyGiteaSignature(secret: string, body: Uint8Array, signature: string | undefined): boolean {
  if (!signature) return false;
  const hex = signature.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  return constantTimeEqual(hex.toLowerCase(), hmacHex(secret, body));
}

/** GitLab sends the secret itself: `X-Gitlab-Token: <secret>`. */
export function verifyGitlabToken(secret: string, token: string | undefined): boolean {
  if (token === undefined) return false;
  return constantTimeEqual(token, secret);
}

/** The check for whichever provider sent the request. */
export function verifyWebhook(provider: WebhookProvider, secret: string, headers: WebhookHeaders, body: Uint8Array): boolean {
  switch (provider) {
    case 'github':
      return verifyGithubSignature(secret, body, header(headers, 'x-hub-signature-256'));
    case 'gitea':
      return verifyGiteaSignature(secret, body, header(headers, 'x-gitea-signature'));
    case 'gitlab':
      return verifyGitlabToken(secret, header(headers, 'x-gitlab-token'));
  }
}

/** The provider's delivery id, used to drop replays; undefined when the request has none. */
export function deliveryId(provider: WebhookProvider, headers: WebhookHeaders): string | undefined {
  const name = provider === 'github' ? 'x-github-delivery' : provider === 'gitea' ? 'x-gitea-delivery' : 'x-gitlab-event-uuid';
  const v = header(headers, name)?.trim();
  return v ? v : undefined;
}

/** The event name: `push`, `ping`, `Push Hook`, `Tag Push Hook`... */
export function eventName(provider: WebhookProvider, headers: WebhookHeaders): string | undefined {
  const name = provider === 'github' ? 'x-github-event' : provider === 'gitea' ? 'x-gitea-event' : 'x-gitlab-event';
  return header(headers, name);
}
