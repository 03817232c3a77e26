// The client side of the cluster's TLS: requests that trust the cluster CA alone (not the
// system's roots), optionally presenting a certificate of their own (a node's), and errors
// that say which of the two sides to look at when the handshake fails.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { CapstanError } from '../common/index.js';

export interface ClientTls {
  /** PEM of the CA to trust; only it is trusted. */
  ca: string;
  /** A client certificate and key (PEM), for mutual TLS. */
  cert?: string;
  key?: string;
}

/** Options for node:https / node:tls requests. */
export function tlsRequestOptions(tls: ClientTls | undefined): { ca?: string; cert?: string; key?: string } {
  if (!tls) return {};
  return { ca: tls.ca, ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) };
}

/** A fetch that trusts `tls.ca` only (and presents `tls.cert`), or the global fetch without one. */
export function trustingFetch(tls: ClientTls | undefined): typeof fetch {
  if (!tls) return fetch;
  const dispatcher = new Agent({ connect: tlsRequestOptions(tls) });
  const pinned = (input: string | URL, init?: RequestInit): Promise<unknown> =>
    undiciFetch(input, { ...(init as Record<string, unknown>), dispatcher } as Parameters<typeof undiciFetch>[1]);
  return pinned as unknown as typeof fetch;
}

const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The TLS verification code somewhere in an error's cause chain, if any. */
export function tlsFailureCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && VERIFY_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What to tell a person whose request failed TLS verification. */
export function tlsFailureHint(code: string, caSource: string | undefined): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name the host in the URL (${code}); use a name the server was started with, or add it with --tls-san on the server`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `the server's certificate is not valid now (${code}); restart the server to reissue it, and check both clocks`;
  return caSource
    ? `the server's certificate is not signed by the CA in ${caSource} (${code}): it is another cluster's server, or the wrong CA file`
    : `the server's certificate is not signed by a CA this machine trusts (${code}); pass the cluster CA with --ca <file> (the server's <data-dir>/pki/ca.crt) or CAPSTAN_CA`;
}

export interface CaLookup {
  /** `--ca <file>`. */
  ca?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** A data dir whose `pki/ca.crt` is used when it exists (a local server's, or an agent's). */
  dataDir?: string;
}

/** The CA for an https server: --ca, CAPSTAN_CA, or `<data-dir>/pki/ca.crt`; undefined → the system's roots. */
export function findClusterCa(lookup: CaLookup): { pem: string; file: string } | undefined {
  const given = lookup.ca ?? lookup.env.CAPSTAN_CA;
  if (given) {
    const file = resolve(lookup.cwd, given);
    try {
      return { pem: readFileSync(file, 'utf8'), file };
    } catch (cause) {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `cannot read the CA file ${file} (from ${lookup.ca ? '--ca' : 'CAPSTAN_CA'})`, { cause, context: { file } });
    }
  }
  if (lookup.dataDir === undefined) return undefined;
  const file = join(resolve(lookup.cwd, lookup.dataDir), 'pki', 'ca.crt');
  return existsSync(file) ? { pem: readFileSync(file, 'utf8'), file } : undefined;
}
