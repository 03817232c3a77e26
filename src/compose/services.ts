// Service traffic in the control-plane process: the router's listeners, and what `capstan get
// services` shows (address, ready endpoints, weights) written as each Service's status.

import type { Registry } from 'prom-client';
import { STORE_PREFIX } from '../api/cluster.js';
import type { Logger } from '../common/index.js';
import { Router } from '../router/index.js';
import type { KV } from '../store/types.js';

export interface ServiceTrafficOptions {
  kv: KV;
  logger: Logger;
  registry: Registry;
  bindAddress?: string;
  /** How often the Service status is refreshed from the router (default 2 s). */
  statusEveryMs?: number;
}

export interface ServiceTraffic {
  router: Router;
  stop(): Promise<void>;
}

export async function startServiceTraffic(options: ServiceTrafficOptions): Promise<ServiceTraffic> {
  const log = options.logger.child({ component: 'router' });
  const router = new Router({ kv: options.kv, logger: log, registry: options.registry, bindAddress: options.bindAddress });
  await router.start();
  const written = new Map<string, string>();
  const publish = async (): Promise<void> => {
    for (const view of router.addresses()) {
      const key = `${STORE_PREFIX.status}Service/${view.namespace}/${view.name}`;
      const value = JSON.stringify({ address: view.address, endpoints: view.endpoints, weights: view.weights });
      if (written.get(key) === value) continue;
      await options.kv.put(key, value);
      written.set(key, value);
    }
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(publish).catch((err: unknown) => log.warn({ err }, 'could not publish service status'));
  }, options.statusEveryMs ?? 2000);
  timer.unref();
  return {
    router,
    stop: async () => {
      clearInterval(timer);
      await running;
      await router.stop();
    },
  };
}
