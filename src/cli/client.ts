// Reads the CLI needs from a server, shaped for the commands that use them.

import type { SourcedObject } from '../api/types.js';
import type { ApiClient } from './api-client.js';

/** The desired objects the server holds now, for `plan --server`. */
export async function fetchLiveObjects(api: ApiClient): Promise<SourcedObject[]> {
  const body = await api.get<{ items?: SourcedObject[] }>('/api/v1/desired');
  return body.items ?? [];
}
