// Request metrics on the injected registry (never prom-client's global one).
import { Counter, Histogram, type Registry } from 'prom-client';

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'code'>;
  duration: Histogram<'method' | 'route' | 'code'>;
}

const cache = new WeakMap<Registry, HttpMetrics>();

export function httpMetrics(registry: Registry): HttpMetrics {
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m: HttpMetrics = {
    requests: new Counter({
      name: 'capstan_http_requests_total',
      help: 'API requests by method, route pattern and status code.',
      labelNames: ['method', 'route', 'code'],
      registers,
    }),
    duration: new Histogram({
      name: 'capstan_http_request_duration_seconds',
      help: 'API request latency (for watches: how long the stream stayed open).',
      labelNames: ['method', 'route', 'code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
  };
  cache.set(registry, m);
  return m;
}
