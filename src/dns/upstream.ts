// An upstream for names outside the cluster domain, over a node `dns.promises.Resolver` (the
// host's resolvers, or the servers given to it). A, AAAA and SRV are forwarded; any other type
// is answered empty.
import type { Resolver } from 'node:dns/promises';
import { RECORD_TTL, type DnsQuestion, type DnsRecord, type Rcode, type Resolution, type Upstream } from './records.js';

function result(rcode: Rcode, answers: DnsRecord[] = []): Resolution {
  return { rcode, answers, authorities: [], additionals: [], authoritative: false };
}

/** The rcode a resolver error stands for; an error that is none (timeout, refused connection) is thrown on. */
function rcodeOf(err: unknown): Rcode | undefined {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOTFOUND':
      return 'NXDOMAIN';
    case 'ENODATA':
      return 'NOERROR';
    case 'EREFUSED':
      return 'REFUSED';
    case 'ESERVFAIL':
      return 'SERVFAIL';
    default:
      return undefined;
  }
}

async function lookup(resolver: Resolver, name: string, type: string): Promise<DnsRecord[]> {
  switch (type) {
    case 'A':
      return (await resolver.resolve4(name, { ttl: true })).map((r) => ({ type: 'A', name, ttl: r.ttl, address: r.address }));
    case 'AAAA':
      return (await resolver.resolve6(name, { ttl: true })).map((r) => ({ type: 'AAAA', name, ttl: r.ttl, address: r.address }));
    case 'SRV':
      return (await resolver.resolveSrv(name)).map((r) => ({ type: 'SRV', name, ttl: RECORD_TTL, priority: r.priority, weight: r.weight, port: r.port, target: r.name }));
    default:
      return [];
  }
}

export function resolverUpstream(resolver: Resolver): Upstream {
  return async (question: DnsQuestion): Promise<Resolution> => {
    const name = question.name.replace(/\.+$/, '');
    const type = question.type.toUpperCase();
    const types = type === 'ANY' ? ['A', 'AAAA'] : [type];
    const answers: DnsRecord[] = [];
    let rcode: Rcode | undefined;
    for (const t of types) {
      try {
        answers.push(...(await lookup(resolver, name, t)));
      } catch (err) {
        const code = rcodeOf(err);
        if (code === undefined) throw err;
        if (rcode === undefined || rcode === 'NOERROR') rcode = code;
      }
    }
    if (answers.length > 0) return result('NOERROR', answers);
    return result(rcode ?? 'NOERROR');
  };
}
