// Snapshots shared by the DNS tests: a Service the router serves, a headless one with pods
// (ready or not, with and without a hostname) and a Service of another namespace.
import type { DnsEndpoint, DnsSnapshot } from '../../src/dns/index.js';

export const ROUTER = '127.0.0.9';

export function snapshot(extra: Partial<DnsSnapshot> = {}): DnsSnapshot {
  return {
    routerAddress: ROUTER,
    services: [
      { namespace: 'default', name: 'web', headless: false, ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 9090 }] },
      { namespace: 'default', name: 'db', headless: true, ports: [{ name: 'pg', port: 5432 }] },
      { namespace: 'shop', name: 'web', headless: false, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    ],
    endpoints: {
      'default/web': [{ ip: '127.0.1.1', ready: true, podName: 'web-abc' }],
      'default/db': [
        { ip: '127.0.2.1', ready: true, hostname: 'db-0', podName: 'db-0', ports: { pg: 15432 } },
        { ip: '127.0.2.2', ready: true, podName: 'db-x' },
        { ip: '127.0.2.3', ready: false, hostname: 'db-2', podName: 'db-2' },
      ],
    },
    ...extra,
  };
}

/** `count` ready pods of one headless Service `big` in `default`. */
export function bigHeadless(count: number): DnsSnapshot {
  const eps: DnsEndpoint[] = [];
  for (let i = 0; i < count; i++) eps.push({ ip: `127.3.${Math.floor(i / 250)}.${(i % 250) + 1}`, ready: true, podName: `big-${i}` });
  const base = snapshot();
  return {
    ...base,
    services: [...base.services, { namespace: 'default', name: 'big', headless: true, ports: [{ name: 'tcp', port: 7000 }] }],
    endpoints: { ...base.endpoints, 'default/big': eps },
  };
}
