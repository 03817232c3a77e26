// The resolv.conf a pod gets for each dnsPolicy, and the host file read back.
import { describe, expect, it } from 'vitest';
import { formatResolvConf, parseResolvConf, podDnsProblems, podResolvConf, type ResolvConf } from '../../src/dns/index.js';

const HOST: ResolvConf = parseResolvConf('# made by the host\nnameserver 10.0.0.2\nnameserver 10.0.0.3 ; second\nsearch corp.example lab.example\noptions edns0 timeout:2\n');
const text = (conf: ResolvConf | undefined): string | undefined => (conf === undefined ? undefined : formatResolvConf(conf));

describe('host resolv.conf', () => {
  it('reads nameservers, search domains and options, ignoring comments', () => {
    expect(HOST).toEqual({ nameservers: ['10.0.0.2', '10.0.0.3'], searches: ['corp.example', 'lab.example'], options: ['edns0', 'timeout:2'] });
    expect(parseResolvConf('domain one.example\nsearch two.example\n').searches).toEqual(['two.example']);
    expect(parseResolvConf('')).toEqual({ nameservers: [], searches: [], options: [] });
  });
});

describe('pod resolv.conf per dnsPolicy', () => {
  const base = { namespace: 'shop', clusterNameserver: '127.0.0.1', host: HOST };

  it('ClusterFirst (the default): the node DNS, the namespace search path, ndots:5', () => {
    const expected = 'nameserver 127.0.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n';
    expect(text(podResolvConf(base))).toBe(expected);
    expect(text(podResolvConf({ ...base, dnsPolicy: 'ClusterFirst' }))).toBe(expected);
    expect(text(podResolvConf({ ...base, dnsPolicy: 'ClusterFirstWithHostNet' }))).toBe(expected);
    expect(text(podResolvConf({ ...base, clusterDomain: 'corp.internal.' }))).toBe(
      'nameserver 127.0.0.1\nsearch shop.svc.corp.internal svc.corp.internal corp.internal\noptions ndots:5\n',
    );
  });

  it('ClusterFirst merges dnsConfig: more nameservers and searches, options replaced by name', () => {
    const conf = podResolvConf({
      ...base,
      dnsConfig: { nameservers: ['10.9.9.9', '127.0.0.1'], searches: ['extra.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
    });
    expect(conf).toEqual({
      nameservers: ['127.0.0.1', '10.9.9.9'],
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'extra.example'],
      options: ['ndots:2', 'edns0'],
    });
  });

  it("Default keeps the host's file, or merges a dnsConfig into the host's", () => {
    expect(podResolvConf({ ...base, dnsPolicy: 'Default' })).toBeUndefined();
    expect(podResolvConf({ ...base, dnsPolicy: 'Default', dnsConfig: { searches: ['x.example'], options: [{ name: 'timeout', value: '5' }] } })).toEqual({
      nameservers: ['10.0.0.2', '10.0.0.3'],
      searches: ['corp.example', 'lab.example', 'x.example'],
      options: ['edns0', 'timeout:5'],
    });
  });

  it('None: only the dnsConfig, at most three nameservers', () => {
    const conf = podResolvConf({ ...base, dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '8.8.8.8', '9.9.9.9', '8.8.4.4'], searches: ['a.example'], options: [{ name: 'ndots', value: '1' }] } });
    expect(text(conf)).toBe('nameserver 1.1.1.1\nnameserver 8.8.8.8\nnameserver 9.9.9.9\nsearch a.example\noptions ndots:1\n');
  });

  it('names what is wrong with the policy fields', () => {
    expect(podDnsProblems(undefined, undefined)).toEqual([]);
    expect(podDnsProblems('Cluster', undefined)[0]).toMatch(/spec\.dnsPolicy "Cluster" is not one of/);
    expect(podDnsProblems('None', {})[0]).toMatch(/spec\.dnsConfig\.nameservers/);
    expect(podDnsProblems('None', { nameservers: ['1.1.1.1'] })).toEqual([]);
  });
});
