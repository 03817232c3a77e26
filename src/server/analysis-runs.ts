// GET /api/v1/analysisruns/{namespace}/{name}: the analysis runs of a Deployment's or
// Rollout's current rollout, as the analysis runner last summarised them (read-only).
import { ANALYSIS_RUNS_PREFIX } from '../analysis/index.js';
import type { KV } from '../store/index.js';
import { apiError } from './http.js';
import type { Route } from './routes.js';

export function analysisRunsRoute(kv: KV): Route {
  return {
    method: 'GET',
    pattern: '/api/v1/analysisruns/:namespace/:name',
    access: 'read',
    handler: async ({ params }) => {
      for (const kind of ['Rollout', 'Deployment']) {
        const item = await kv.get(`${ANALYSIS_RUNS_PREFIX}${kind}/${params.namespace}/${params.name}`);
        if (item) return JSON.parse(Buffer.from(item.value).toString('utf8')) as unknown;
      }
      throw apiError('CAPSTAN_ERR_API_NOT_FOUND', `no analysis runs for ${params.namespace}/${params.name}`);
    },
  };
}
