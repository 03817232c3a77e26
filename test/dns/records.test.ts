import { describe, expect, it } from 'vitest';
import { answer, resolve, snapshotProblems, Zone, type DnsRecord, type Resolution } from '../../src/dns/index.js';
import { ROUTER, snapshot } from './fixtures.js';

const addresses = (r: Resolution): string[] =>
  r.answers.flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [a.address] : [])).sort();

describe('DNS records from a snapshot', () => {
  const zone = new Zone(snapshot());

  it('answers a Service that is not headless with the router address, under every accepted form of its name', () => {
    for (const name of ['web.default.svc.cluster.local', 'web.default.svc.cluster.local.', 'web.default.svc', 'web.default', 'WEB.Default.SVC.Cluster.Local']) {
      const r = zone.resolve({ name, type: 'A' });
      expect(r.rcode, name).toBe('NOERROR');
      expect(r.authoritative).toBe(true);
      expect(r.answers).toEqual([{ type: 'A', name: name.replace(/\.$/, ''), ttl: 5, address: ROUTER }]);
    }
    // Same name, another namespace: its own Service.
    expect(addresses(zone.resolve({ name: 'web.shop.svc.cluster.local', type: 'A' }))).toEqual([ROUTER]);
  });

  it('says NOERROR with no records for a type the name has none of, and NXDOMAIN for a name that does not exist', () => {
    const aaaa = zone.resolve({ name: 'web.default.svc.cluster.local', type: 'AAAA' });
    expect(aaaa.rcode).toBe('NOERROR');
    expect(aaaa.answers).toEqual([]);
    expect(aaaa.authorities[0]).toMatchObject({ type: 'SOA', name: 'cluster.local', minimum: 5 });

    for (const name of ['nope.default.svc.cluster.local', 'web.nons.svc.cluster.local', 'nope.default', 'x.web.default.svc.cluster.local', 'web.default.pod.cluster.local']) {
      const r = zone.resolve({ name, type: 'A' });
      expect(r.rcode, name).toBe('NXDOMAIN');
      expect(r.authoritative, name).toBe(true);
    }
    // A namespace that has Services exists as a name; the zone's own names do too.
    expect(zone.resolve({ name: 'default.svc.cluster.local', type: 'A' }).rcode).toBe('NOERROR');
    expect(zone.resolve({ name: 'svc.cluster.local', type: 'A' }).rcode).toBe('NOERROR');
    expect(zone.resolve({ name: 'cluster.local', type: 'SOA' }).answers[0]?.type).toBe('SOA');
  });

  it('answers a headless Service with one address per ready pod, and each ready pod by hostname or address label', () => {
    expect(addresses(zone.resolve({ name: 'db.default.svc.cluster.local', type: 'A' }))).toEqual(['127.0.2.1', '127.0.2.2']);
    expect(addresses(zone.resolve({ name: 'db-0.db.default.svc.cluster.local', type: 'A' }))).toEqual(['127.0.2.1']);
    expect(addresses(zone.resolve({ name: 'DB-0.db.default.svc', type: 'A' }))).toEqual(['127.0.2.1']);
    expect(addresses(zone.resolve({ name: '127-0-2-2.db.default.svc.cluster.local', type: 'A' }))).toEqual(['127.0.2.2']);
    // db-2 is not ready: neither in the set nor by name.
    expect(zone.resolve({ name: 'db-2.db.default.svc.cluster.local', type: 'A' }).rcode).toBe('NXDOMAIN');
    // A pod name under a Service that is not headless does not exist.
    expect(zone.resolve({ name: 'web-abc.web.default.svc.cluster.local', type: 'A' }).rcode).toBe('NXDOMAIN');
  });

  it('gives one address per pod even when pods share one (host ports on one node)', () => {
    const s = snapshot();
    s.endpoints['default/db'] = [
      { ip: '127.0.2.1', ready: true, podName: 'a' },
      { ip: '127.0.2.1', ready: true, podName: 'b' },
    ];
    expect(resolve(s, { name: 'db.default.svc.cluster.local', type: 'A' }).answers).toHaveLength(1);
  });

  it('answers SRV for named ports: the Service name as target, with its address as an additional record', () => {
    const r = zone.resolve({ name: '_http._tcp.web.default.svc.cluster.local', type: 'SRV' });
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([
      { type: 'SRV', name: '_http._tcp.web.default.svc.cluster.local', ttl: 5, priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' },
    ]);
    expect(r.additionals).toEqual([{ type: 'A', name: 'web.default.svc.cluster.local', ttl: 5, address: ROUTER }]);
    // The protocol is part of the name: a UDP port answers under _udp only.
    expect(zone.resolve({ name: '_http._udp.web.default.svc.cluster.local', type: 'SRV' }).rcode).toBe('NXDOMAIN');
    expect(zone.resolve({ name: '_dns._udp.web.shop.svc.cluster.local', type: 'SRV' }).answers[0]).toMatchObject({ port: 53 });
    expect(zone.resolve({ name: '_nope._tcp.web.default.svc.cluster.local', type: 'SRV' }).rcode).toBe('NXDOMAIN');
    // The SRV name exists, so an A question on it is NOERROR and empty.
    const a = zone.resolve({ name: '_http._tcp.web.default.svc.cluster.local', type: 'A' });
    expect([a.rcode, a.answers.length]).toEqual(['NOERROR', 0]);
  });

  it('answers SRV of a headless Service with one record per ready pod, each pod its own target and port', () => {
    const r = zone.resolve({ name: '_pg._tcp.db.default.svc.cluster.local', type: 'SRV' });
    const srv = r.answers.filter((a): a is Extract<DnsRecord, { type: 'SRV' }> => a.type === 'SRV').map((a) => [a.target, a.port]).sort();
    expect(srv).toEqual([
      ['127-0-2-2.db.default.svc.cluster.local', 5432],
      ['db-0.db.default.svc.cluster.local', 15432],
    ]);
    expect(r.additionals.map((a) => [a.name, a.type === 'A' ? a.address : '']).sort()).toEqual([
      ['127-0-2-2.db.default.svc.cluster.local', '127.0.2.2'],
      ['db-0.db.default.svc.cluster.local', '127.0.2.1'],
    ]);
  });

  it('answers ANY on a Service name with its addresses and the SRV records of its named ports', () => {
    const r = zone.resolve({ name: 'web.default.svc.cluster.local', type: 'ANY' });
    expect(r.answers.map((a) => a.type).sort()).toEqual(['A', 'SRV']);
  });

  it('uses the configured cluster domain', () => {
    const z = new Zone(snapshot({ clusterDomain: 'Fleet.Example' }));
    expect(addresses(z.resolve({ name: 'web.default.svc.fleet.example', type: 'A' }))).toEqual([ROUTER]);
    expect(z.resolve({ name: 'web.default.svc.cluster.local', type: 'A' }).rcode).toBe('REFUSED');
  });

  it('refuses names outside the cluster domain, or hands them to the upstream', async () => {
    for (const name of ['example.com', 'web.unknown', 'localhost']) {
      const r = zone.resolve({ name, type: 'A' });
      expect(r.rcode, name).toBe('REFUSED');
      expect(r.authoritative).toBe(false);
    }
    expect((await answer(zone, { name: 'example.com', type: 'A' })).rcode).toBe('REFUSED');

    const asked: string[] = [];
    const upstream = async (q: { name: string; type: string }): Promise<Resolution> => {
      asked.push(`${q.name} ${q.type}`);
      return { rcode: 'NOERROR', answers: [{ type: 'A', name: q.name, ttl: 60, address: '127.0.7.7' }], authorities: [], additionals: [], authoritative: false };
    };
    expect(addresses(await answer(zone, { name: 'example.com', type: 'A' }, upstream))).toEqual(['127.0.7.7']);
    // Cluster names never reach the upstream, not even unknown ones.
    expect((await answer(zone, { name: 'nope.default.svc.cluster.local', type: 'A' }, upstream)).rcode).toBe('NXDOMAIN');
    expect(asked).toEqual(['example.com A']);

    const failing = async (): Promise<Resolution> => {
      throw new Error('no route');
    };
    expect((await answer(zone, { name: 'example.com', type: 'A' }, failing)).rcode).toBe('SERVFAIL');
  });

  it('names what is wrong with a snapshot', () => {
    expect(snapshotProblems(snapshot())).toEqual([]);
    const problems = snapshotProblems(snapshot({ routerAddress: 'router.local', clusterDomain: 'bad_domain' }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('routerAddress "router.local"');
    expect(problems[1]).toContain('clusterDomain "bad_domain"');
  });
});
