// What a failed TLS handshake between members means, in words for the log, and a bounded
// memory of whom it was already said about. Pure: errors in, text out; never key material.

/** Verification failures of the certificate the other side presented. */
const NOT_OUR_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

const COPY_HINT = 'every member needs the same <data-dir>/pki/ca.crt and ca.key (copy them from the member that made them)';

function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * A dialling member's view: why the handshake failed, or undefined when it was not TLS.
 * `afterHandshake`: the connection was new, its handshake finished and it closed before any
 * answer (under TLS 1.3 the peer checks our certificate after we consider the handshake done,
 * and a refusal shows as a reset).
 */
export function outboundTlsRefusal(err: unknown, afterHandshake = false): string | undefined {
  const all = codes(err);
  if (afterHandshake && all.some((c) => c === 'ECONNRESET' || c === 'EPIPE')) {
    return `the peer closed the connection right after the handshake: it does not accept this member's certificate; ${COPY_HINT}`;
  }
  for (const code of all) {
    if (NOT_OUR_CA.has(code)) return `the peer's certificate is not signed by the cluster CA (${code}); ${COPY_HINT}`;
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the peer's certificate is not for the host in its peer URL (${code}); the URL in --peers must be the host the member was started with`;
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `the peer's certificate is not valid now (${code}); restart that member to reissue it, and check both clocks`;
    if (/^ERR_SSL_.*(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|DECRYPT_ERROR|ACCESS_DENIED)/.test(code)) {
      return `the peer refused this member's certificate (${code}); ${COPY_HINT}`;
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') return `the peer does not answer TLS (${code}); every member must use https:// peer URLs`;
  }
  return undefined;
}

/** An answering member's view of a connection refused during its handshake. */
export function inboundTlsRefusal(err: unknown, authorizationError?: Error | string): string {
  const all = codes(err);
  if (all.includes('ERR_SSL_HTTP_REQUEST')) return 'a plain HTTP request on the https peer port';
  const verify = authorizationError === undefined || authorizationError === null ? undefined : String((authorizationError as { code?: unknown }).code ?? authorizationError);
  if (verify && NOT_OUR_CA.has(verify)) return `the caller's certificate is not signed by the cluster CA (${verify}); ${COPY_HINT}`;
  if (verify) return `the caller's certificate was refused (${verify})`;
  if (all.some((c) => /PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(c))) return 'the caller presented no certificate';
  if (all.some((c) => /CERTIFICATE_VERIFY_FAILED|UNKNOWN_CA|BAD_CERTIFICATE/.test(c))) return `the caller's certificate is not signed by the cluster CA; ${COPY_HINT}`;
  return `the handshake failed (${all[0] ?? 'no code'})`;
}

/** Keys already reported; forgets everything once it holds `max` (a flood never grows it). */
export class RefusalLog {
  private readonly seen = new Set<string>();
  constructor(private readonly max = 1024) {}

  /** True the first time `key` is seen. */
  first(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.add(key);
    return true;
  }
}
