// The generic webhook's signature: `X-Capstan-Signature: sha256=<hex HMAC-SHA256 of the body>`,
// as GitHub signs its own webhooks, so receivers can reuse their checks.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Capstan-Signature';

export function signBody(key: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/** A receiver's check, in constant time. */
export function verifySignature(key: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(signBody(key, body));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}
