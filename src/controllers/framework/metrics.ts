// Per-controller metrics on an injected registry. Controllers share one set of metrics
// labelled by controller name, so each metric is created once per registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ControllerMetrics {
  reconciles: Counter<'controller' | 'result'>;
  errors: Counter<'controller'>;
  duration: Histogram<'controller'>;
  depth: Gauge<'controller'>;
  leader: Gauge<'identity'>;
}

const cache = new WeakMap<Registry, ControllerMetrics>();

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m: ControllerMetrics = {
    reconciles: new Counter({
      name: 'capstan_controller_reconcile_total',
      help: 'Reconciles by controller and result (success, error, requeue_after).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    errors: new Counter({
      name: 'capstan_controller_reconcile_errors_total',
      help: 'Reconciles that failed and were requeued with backoff.',
      labelNames: ['controller'],
      registers,
    }),
    duration: new Histogram({
      name: 'capstan_controller_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    depth: new Gauge({
      name: 'capstan_controller_queue_depth',
      help: 'Keys waiting for a worker.',
      labelNames: ['controller'],
      registers,
    }),
    leader: new Gauge({
      name: 'capstan_controller_leader',
      help: '1 while this instance holds controller leadership.',
      labelNames: ['identity'],
      registers,
    }),
  };
  cache.set(registry, m);
  return m;
}
