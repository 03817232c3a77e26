// `POST /api/v1/nodes/{name}/routerstats`: a node's Service router sends its per-revision
// window (one-second buckets with latency histograms) for its own node only. Kept at
// `/capstan/routerstats/<node>` with the sender's clock and the receipt time, so a reader
// moves the buckets onto its own clock; old reports age out of every window by themselves.
import type { Logger } from 'pino';
import type { KV } from '../store/index.js';
import { forbidden } from './auth.js';
import { apiError, isRecord, readJsonBody } from './http.js';
import type { Route } from './routes.js';

export const ROUTER_STATS_PREFIX = '/capstan/routerstats/';

/** What is stored per node. */
export interface StoredRouterStats {
  node: string;
  /** The sender's clock when it sent the report (ms since the epoch). */
  sentAt: number;
  /** The server's clock when the report arrived. */
  receivedAt: number;
  windowSeconds: number;
  series: { service: string; revision: string; buckets: { second: number; requests: number; errors: number; latency: number[] }[] }[];
}

const LIMITS = { series: 4096, buckets: 600, latency: 64 };

const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function bad(message: string): Error {
  return apiError('CAPSTAN_ERR_API_BAD_REQUEST', `router stats: ${message}; send { "sentAt": ms, "windowSeconds": N, "series": [{ "service", "revision", "buckets": [{ "second", "requests", "errors", "latency": [...] }] }] }`);
}

/** Checks a report's shape (counts are non-negative integers, sizes bounded) and stamps it. */
export function parseRouterStats(body: unknown, node: string, receivedAt: number): StoredRouterStats {
  if (!isRecord(body)) throw bad('the body is not an object');
  const { sentAt, windowSeconds, series } = body;
  if (!count(sentAt)) throw bad('sentAt must be a time in milliseconds');
  if (!count(windowSeconds) || windowSeconds === 0) throw bad('windowSeconds must be a positive integer');
  if (!Array.isArray(series) || series.length > LIMITS.series) throw bad(`series must be a list of at most ${LIMITS.series}`);
  const out: StoredRouterStats['series'] = [];
  for (const [i, s] of series.entries()) {
    if (!isRecord(s) || typeof s.service !== 'string' || typeof s.revision !== 'string' || !Array.isArray(s.buckets)) throw bad(`series[${i}] needs service, revision and buckets`);
    if (s.buckets.length > LIMITS.buckets) throw bad(`series[${i}].buckets holds more than ${LIMITS.buckets}`);
    const buckets = s.buckets.map((b: unknown, j: number) => {
      const ok = isRecord(b) && count(b.second) && count(b.requests) && count(b.errors) && Array.isArray(b.latency) && b.latency.length <= LIMITS.latency && b.latency.every(count);
      if (!ok) throw bad(`series[${i}].buckets[${j}] is not a bucket of counts`);
      const r = b as { second: number; requests: number; errors: number; latency: number[] };
      return { second: r.second, requests: r.requests, errors: r.errors, latency: r.latency };
    });
    out.push({ service: s.service, revision: s.revision, buckets });
  }
  return { node, sentAt, receivedAt, windowSeconds, series: out };
}

export function routerStatsRoutes(options: { kv: KV; bodyLimit: number; now: () => number; logger: Logger }): Route[] {
  return [
    {
      method: 'POST',
      pattern: '/api/v1/nodes/:name/routerstats',
      access: 'node',
      handler: async (ctx) => {
        const node = ctx.params.name!;
        const p = ctx.principal!;
        if (p.role !== 'agent' || p.node !== node) throw forbidden(p, `send router figures for node ${node}`);
        const stored = parseRouterStats(await readJsonBody(ctx.req, options.bodyLimit), node, options.now());
        await options.kv.put(`${ROUTER_STATS_PREFIX}${node}`, JSON.stringify(stored));
        return { stored: stored.series.length };
      },
    },
  ];
}
