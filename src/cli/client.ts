// The CLI's client for the Capstan API server.

import type { SourcedObject } from '../api/types.js';
import { CapstanError } from '../common/errors.js';
import { redactUrl } from '../common/logger.js';

const TIMEOUT_MS = 15_000;

/** The desired objects the server holds now, for `plan --server`. */
export async function fetchLiveObjects(server: string, token: string | undefined): Promise<SourcedObject[]> {
  const url = new URL('/api/v1/desired', server);
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (cause) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_UNREACHABLE', `cannot reach the Capstan server at ${redactUrl(server)}`, { cause });
  }
  if (res.status === 401 || res.status === 403) {
    throw new CapstanError('CAPSTAN_ERR_SOURCE_AUTH', `the server at ${redactUrl(server)} refused the token (HTTP ${res.status})`);
  }
  if (!res.ok) {
    throw new CapstanError('CAPSTAN_ERR_PLAN_FAILED', `the server at ${redactUrl(server)} answered HTTP ${res.status}`);
  }
  const body = (await res.json()) as { items?: SourcedObject[] };
  return body.items ?? [];
}
