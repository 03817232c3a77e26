// Weight accuracy through real HTTP: the router, its backends and the client all on 127.0.0.1.
// Shared by two test files (weights 1 and 5, then 20 and 50) so each stays short.
import http from 'node:http';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/index.js';
import { Router } from '../../src/router/index.js';
import { openEmbeddedStore, type KV } from '../../src/store/index.js';
import { backend, get, load, pod, putPod, putPolicy, putService, service, until, type Backend } from './fixtures.js';

export function weightSuite(weights: number[], withHeaderRoute: boolean): void {
  let kv: KV;
  let router: Router;
  let backends: Backend[];
  let address: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  beforeAll(async () => {
    kv = await openEmbeddedStore({});
    // Four stable replicas and one canary: a replica-ratio split would give the canary 20 %.
    backends = await Promise.all(['stable', 'stable', 'stable', 'stable', 'canary'].map((n) => backend(n)));
    await putService(kv, service('web', [{ name: 'http', port: 80, targetPort: 'http' }]));
    for (const [i, b] of backends.entries()) await putPod(kv, pod(`web-${i}`, i < 4 ? 'stable' : 'canary', b.port));
    router = new Router({ kv, logger: silentLogger(), registry: new Registry(), portFor: () => 0 });
    await router.start();
    await until(() => router.addresses().length === 1 && router.tables('default', 'web')[0]?.backends.canary !== undefined, 'the service table');
    address = router.addresses()[0].address as string;
  });

  afterAll(async () => {
    agent.destroy();
    await router.stop();
    await Promise.all(backends.map((b) => b.close()));
    await kv.close();
  });

  describe('router weights over HTTP', () => {
    for (const weight of weights) {
      it(`sends ${weight} % of 10,000 requests to the canary (within 1 point)`, async () => {
        await putPolicy(kv, 'web', { weights: { stable: 100 - weight, canary: weight }, stableRevision: 'stable', canaryRevision: 'canary' });
        await until(() => router.tables('default', 'web')[0]?.weights.canary === weight, `weight ${weight}`);
        await router.settled();
        const tally = await load(agent, address, 10_000, 16);
        expect(tally.stable + tally.canary).toBe(10_000);
        const share = (tally.canary / 10_000) * 100;
        expect(Math.abs(share - weight)).toBeLessThanOrEqual(1);
        // Smooth weighted round-robin is exact over whole cycles of 100.
        expect(tally.canary).toBe(weight * 100);
      });
    }

    if (withHeaderRoute) it('sends requests with the route header to the canary only', async () => {
      await putPolicy(kv, 'web', {
        weights: { stable: 100, canary: 0 },
        headerRoutes: [{ name: 'beta', match: { header: { name: 'x-canary', exact: 'always' } }, revision: 'canary' }],
      });
      await until(() => (router.tables('default', 'web')[0]?.routes.length ?? 0) === 1, 'the header route');
      await router.settled();
      expect(await load(agent, address, 500, 8, { 'x-canary': 'always' })).toEqual({ canary: 500 });
      expect(await load(agent, address, 500, 8, { 'x-canary': 'other' })).toEqual({ stable: 500 });
      expect(await load(agent, address, 500, 8)).toEqual({ stable: 500 });
      const r = await get(agent, address, '/', { 'x-canary': 'always' });
      expect(r.headers['x-backend']).toBe('canary');
      expect(r.headers['x-seen-xff']).toBe('127.0.0.1');
    });
  });
}
