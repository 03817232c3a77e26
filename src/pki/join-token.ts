// Join tokens: an API token together with the sha256 fingerprint of the cluster CA, so the
// first contact of a joining node is verified without a CA file copied by hand (the idea of
// Docker Swarm's SWMTKN-1-<digest>-<secret>). Format: `CAPSTAN-1-<64 hex>-<API token>`.
import { CapstanError } from '../common/errors.js';

const PREFIX = 'CAPSTAN-1-';

export interface JoinToken {
  /** sha256 of the CA certificate's DER bytes, lower-case hex. */
  caFingerprint: string;
  /** The API token the joining node authenticates with. */
  token: string;
}

export function formatJoinToken(t: JoinToken): string {
  if (!/^[0-9a-f]{64}$/.test(t.caFingerprint)) throw new Error('a CA fingerprint is 64 lower-case hex digits');
  return `${PREFIX}${t.caFingerprint}-${t.token}`;
}

export function isJoinToken(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** The parts of a join token; a clear error for anything else (never echoing the token). */
export function parseJoinToken(text: string): JoinToken {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX)) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `not a join token: it starts with ${PREFIX} (make one with \`capstan token create --role agent --node NAME\`)`);
  }
  const rest = trimmed.slice(PREFIX.length);
  const fingerprint = rest.slice(0, 64).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(fingerprint) || rest[64] !== '-' || rest.length <= 65) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'the join token is cut short or altered: expected CAPSTAN-1-<64 hex digits>-<token>');
  }
  return { caFingerprint: fingerprint, token: rest.slice(65) };
}
