import { describe, expect, it } from 'vitest';
import { envName, serviceEnvironment, type DnsService } from '../../src/dns/index.js';

const services: DnsService[] = [
  { namespace: 'default', name: 'redis-primary', headless: false, ports: [{ name: 'redis', port: 6379, protocol: 'TCP' }, { name: 'metrics-port', port: 9121 }] },
  { namespace: 'default', name: 'dns', headless: false, ports: [{ port: 53, protocol: 'UDP' }] },
  { namespace: 'default', name: 'peers', headless: true, ports: [{ name: 'p', port: 7000 }] },
  { namespace: 'other', name: 'api', headless: false, ports: [{ port: 443 }] },
];

describe('Service environment variables', () => {
  it('gives the Kubernetes variables of each Service of the namespace, at the router address', () => {
    const env = serviceEnvironment(services, 'default', '127.0.0.9');
    expect(env).toEqual([
      { name: 'DNS_SERVICE_HOST', value: '127.0.0.9' },
      { name: 'DNS_SERVICE_PORT', value: '53' },
      { name: 'DNS_PORT', value: 'udp://127.0.0.9:53' },
      { name: 'DNS_PORT_53_UDP', value: 'udp://127.0.0.9:53' },
      { name: 'DNS_PORT_53_UDP_PROTO', value: 'udp' },
      { name: 'DNS_PORT_53_UDP_PORT', value: '53' },
      { name: 'DNS_PORT_53_UDP_ADDR', value: '127.0.0.9' },
      { name: 'REDIS_PRIMARY_SERVICE_HOST', value: '127.0.0.9' },
      { name: 'REDIS_PRIMARY_SERVICE_PORT', value: '6379' },
      { name: 'REDIS_PRIMARY_SERVICE_PORT_REDIS', value: '6379' },
      { name: 'REDIS_PRIMARY_SERVICE_PORT_METRICS_PORT', value: '9121' },
      { name: 'REDIS_PRIMARY_PORT', value: 'tcp://127.0.0.9:6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP', value: 'tcp://127.0.0.9:6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_PROTO', value: 'tcp' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_PORT', value: '6379' },
      { name: 'REDIS_PRIMARY_PORT_6379_TCP_ADDR', value: '127.0.0.9' },
      { name: 'REDIS_PRIMARY_PORT_9121_TCP', value: 'tcp://127.0.0.9:9121' },
      { name: 'REDIS_PRIMARY_PORT_9121_TCP_PROTO', value: 'tcp' },
      { name: 'REDIS_PRIMARY_PORT_9121_TCP_PORT', value: '9121' },
      { name: 'REDIS_PRIMARY_PORT_9121_TCP_ADDR', value: '127.0.0.9' },
    ]);
  });

  it('leaves out headless Services and other namespaces', () => {
    const names = serviceEnvironment(services, 'default', '127.0.0.9').map((e) => e.name);
    expect(names.some((n) => n.startsWith('PEERS_'))).toBe(false);
    expect(names.some((n) => n.startsWith('API_'))).toBe(false);
    expect(serviceEnvironment(services, 'other', '127.0.0.9').map((e) => e.name)).toContain('API_SERVICE_HOST');
    expect(serviceEnvironment(services, 'empty', '127.0.0.9')).toEqual([]);
  });

  it('brackets an IPv6 router address in URLs', () => {
    const env = serviceEnvironment(services, 'other', '::1');
    expect(env.find((e) => e.name === 'API_PORT')?.value).toBe('tcp://[::1]:443');
    expect(env.find((e) => e.name === 'API_SERVICE_HOST')?.value).toBe('::1');
  });

  it('upper-cases names and turns dashes into underscores', () => {
    expect(envName('my-svc-2')).toBe('MY_SVC_2');
  });
});
