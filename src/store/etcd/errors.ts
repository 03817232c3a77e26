// Maps what etcd3 throws (typed gRPC errors, or plain errors carrying etcd's message) to
// catalog codes. etcd reports most conditions only as message text, so we match on the
// server's strings (etcd v3.4/v3.5 `rpctypes`).

import { isRecoverableError } from 'etcd3';
import { CapstanError, isCapstanError, redactUrl, type ErrorCode } from '../../common/index.js';

const BY_MESSAGE: ReadonlyArray<[string, ErrorCode]> = [
  ['required revision has been compacted', 'CAPSTAN_ERR_STORE_COMPACTED'],
  ['required revision is a future revision', 'CAPSTAN_ERR_STORE_FUTURE_REVISION'],
  ['requested lease not found', 'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND'],
  ['request is too large', 'CAPSTAN_ERR_STORE_TOO_LARGE'],
  ['too many operations in txn request', 'CAPSTAN_ERR_STORE_TOO_LARGE'],
  ['database space exceeded', 'CAPSTAN_ERR_STORE_NO_SPACE'],
  ['authentication failed', 'CAPSTAN_ERR_STORE_AUTH'],
  ['permission denied', 'CAPSTAN_ERR_STORE_AUTH'],
  ['user name is empty', 'CAPSTAN_ERR_STORE_AUTH'],
  ['invalid auth token', 'CAPSTAN_ERR_STORE_AUTH'],
  ['key is not provided', 'CAPSTAN_ERR_STORE_INVALID_KEY'],
  ['no leader', 'CAPSTAN_ERR_STORE_UNAVAILABLE'],
  ['not leader', 'CAPSTAN_ERR_STORE_UNAVAILABLE'],
  ['leader changed', 'CAPSTAN_ERR_STORE_UNAVAILABLE'],
  ['request timed out', 'CAPSTAN_ERR_STORE_UNAVAILABLE'],
  ['too many requests', 'CAPSTAN_ERR_STORE_UNAVAILABLE'],
];

/** Everything about the cluster an error message may show: endpoints without credentials. */
export interface ErrorScope {
  endpoints: string[];
}

export function redactEndpoints(endpoints: string[]): string[] {
  return endpoints.map((e) => redactUrl(e));
}

/** True when the failure is about reaching etcd (a retry or a reconnect may help). */
export function isTransportError(err: unknown): boolean {
  return (
    (err instanceof Error && isRecoverableError(err)) ||
    (err instanceof Error && /circuit|No connection established|Connection pool has no hosts/i.test(err.message))
  );
}

/**
 * True when the call failed before its request left this process: grpc-js found no
 * connection to send it on, or a breaker refused the member. Only then is a write safe to
 * repeat on another member.
 */
export function neverSent(err: unknown): boolean {
  return err instanceof Error && /No connection established|circuit open/.test(err.message);
}

/**
 * A CapstanError for an etcd failure. `op` names the call; `unknownOutcome` marks writes
 * whose request may have reached etcd before the failure.
 */
export function mapEtcdError(err: unknown, op: string, scope: ErrorScope, write = false): CapstanError {
  if (isCapstanError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const endpoints = redactEndpoints(scope.endpoints);
  for (const [needle, code] of BY_MESSAGE) {
    if (message.includes(needle)) {
      if (code === 'CAPSTAN_ERR_STORE_UNAVAILABLE') break;
      return new CapstanError(code, `etcd ${op}: ${stripPrefix(message)}`, {
        cause: err,
        context: { op, endpoints },
      });
    }
  }
  if (isTransportError(err) || /etcdserver: (no leader|not leader|leader changed|request timed out|too many requests)/.test(message)) {
    // For a write, say whether it may have been applied: the caller re-reads only then.
    const outcome = !write ? undefined : neverSent(err) ? 'not-sent' : 'unknown';
    const note =
      outcome === 'unknown' ? ' (the write may or may not have been applied)' : outcome === 'not-sent' ? ' (the write was not sent)' : '';
    return new CapstanError(
      'CAPSTAN_ERR_STORE_UNAVAILABLE',
      `etcd at ${endpoints.join(', ')} could not be reached for ${op}${note}: ${stripPrefix(message)}`,
      { cause: err, context: { op, endpoints, ...(outcome ? { outcome } : {}) } },
    );
  }
  return new CapstanError('CAPSTAN_ERR_INTERNAL_ERROR', `etcd ${op} failed: ${stripPrefix(message)}`, {
    cause: err,
    context: { op, endpoints },
  });
}

function stripPrefix(message: string): string {
  return message.replace(/^[A-Za-z]*Error: /, '');
}
