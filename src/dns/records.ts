// The DNS answers for Services as a pure function of a snapshot and one question, with
// Kubernetes' names: `<svc>.<ns>.svc.<domain>` is the router's address (or, for a headless
// Service, one address per ready pod), `<host>.<svc>.<ns>.svc.<domain>` one pod of a headless
// Service, `_<port>._<proto>.<svc>.<ns>.svc.<domain>` an SRV record per named port.
import { isIPv4, isIPv6 } from 'node:net';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Every answer's time to live, in seconds: endpoints change, so resolvers must ask again soon. */
export const RECORD_TTL = 5;

export interface DnsServicePort {
  /** Named ports get SRV records (`_<name>._<proto>`); an unnamed one gets none. */
  name?: string;
  /** Where the router serves this Service port. */
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface DnsService {
  namespace: string;
  name: string;
  /** `clusterIP: None`: answered with the pods' addresses instead of the router's. */
  headless: boolean;
  ports: DnsServicePort[];
  /** `spec.selector`: which pods back the Service (for endpoints built from pods the agent sees). */
  selector?: Record<string, string>;
}

export interface DnsEndpoint {
  ip: string;
  ready: boolean;
  /**
   * `spec.hostname` of a pod whose `spec.subdomain` is this Service's name: also answered as
   * `<hostname>.<svc>.<ns>.svc.<domain>`.
   */
  hostname?: string;
  podName: string;
  /**
   * Where this pod serves each Service port, by port name (or the Service port number as a
   * string) when it is not the Service port itself: headless SRV answers carry it.
   */
  ports?: Record<string, number>;
}

export interface DnsSnapshot {
  services: DnsService[];
  /** Endpoints per Service, keyed by `serviceKey(namespace, name)`. */
  endpoints: Record<string, DnsEndpoint[]>;
  /** The node's router address (IPv4): what a Service name that is not headless resolves to. */
  routerAddress: string;
  /** Default `cluster.local`. */
  clusterDomain?: string;
}

export type QuestionType = 'A' | 'AAAA' | 'SRV' | 'ANY' | string;

export interface DnsQuestion {
  name: string;
  type: QuestionType;
}

export type DnsRecord =
  | { type: 'A'; name: string; ttl: number; address: string }
  | { type: 'AAAA'; name: string; ttl: number; address: string }
  | { type: 'SRV'; name: string; ttl: number; priority: number; weight: number; port: number; target: string }
  | { type: 'SOA'; name: string; ttl: number; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'SERVFAIL';

export interface Resolution {
  rcode: Rcode;
  answers: DnsRecord[];
  /** For a negative answer, the zone's SOA (its minimum is the negative-cache time). */
  authorities: DnsRecord[];
  /** Addresses of SRV targets. */
  additionals: DnsRecord[];
  /** True when the answer comes from the snapshot (the name is in the cluster domain). */
  authoritative: boolean;
}

/** Answers a name outside the cluster domain, e.g. through the host's resolver. */
export type Upstream = (question: DnsQuestion) => Promise<Resolution>;

export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** What the snapshot must hold for answers to make sense; each problem names its field. */
export function snapshotProblems(snapshot: DnsSnapshot): string[] {
  const problems: string[] = [];
  if (!isIPv4(snapshot.routerAddress)) {
    problems.push(`routerAddress "${snapshot.routerAddress}" is not an IPv4 address: pass the address the node's router listens on`);
  }
  const domain = snapshot.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(domain)) {
    problems.push(`clusterDomain "${domain}" is not a DNS name: use labels of letters, digits and dashes, such as cluster.local`);
  }
  return problems;
}

function canonical(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** An IP address written as one DNS label, as Kubernetes names pods without a hostname. */
export function addressLabel(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

function addressRecord(name: string, address: string): DnsRecord | undefined {
  if (isIPv4(address)) return { type: 'A', name, ttl: RECORD_TTL, address };
  if (isIPv6(address)) return { type: 'AAAA', name, ttl: RECORD_TTL, address };
  return undefined;
}

function wants(qtype: QuestionType, rtype: DnsRecord['type']): boolean {
  return qtype === 'ANY' || qtype === rtype;
}

/** One index of a snapshot; built per snapshot, not per question. */
export class Zone {
  readonly domain: string;
  private readonly services = new Map<string, DnsService>();
  private readonly namespaces = new Set<string>();

  constructor(private readonly snapshot: DnsSnapshot) {
    this.domain = canonical(snapshot.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN);
    for (const s of snapshot.services) {
      this.services.set(serviceKey(s.namespace.toLowerCase(), s.name.toLowerCase()), s);
      this.namespaces.add(s.namespace.toLowerCase());
    }
  }

  /**
   * The labels of a name below `svc.<domain>`, most specific first, or undefined when the name
   * is not the cluster's: full names, `….svc` and `<svc>.<ns>` of a namespace that has Services.
   */
  private labelsBelowSvc(name: string): string[] | 'zone' | undefined {
    if (name === this.domain || name === `svc.${this.domain}`) return 'zone';
    if (name.endsWith(`.${this.domain}`)) {
      const labels = name.slice(0, -(this.domain.length + 1)).split('.');
      if (labels[labels.length - 1] !== 'svc') return [];
      return labels.slice(0, -1);
    }
    if (name === 'svc') return 'zone';
    if (name.endsWith('.svc')) return name.slice(0, -4).split('.');
    const labels = name.split('.');
    if (labels.length === 2 && this.namespaces.has(labels[1])) return labels;
    return undefined;
  }

  private fqdn(...labels: string[]): string {
    return `${labels.join('.')}.svc.${this.domain}`;
  }

  private soa(): DnsRecord {
    return {
      type: 'SOA',
      name: this.domain,
      ttl: RECORD_TTL,
      mname: `ns.dns.${this.domain}`,
      rname: `hostmaster.${this.domain}`,
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: RECORD_TTL,
    };
  }

  private readyEndpoints(svc: DnsService): DnsEndpoint[] {
    const list = this.snapshot.endpoints[serviceKey(svc.namespace, svc.name)] ?? [];
    return list.filter((e) => e.ready && (isIPv4(e.ip) || isIPv6(e.ip)));
  }

  /** The address records of a Service name: the router's, or each ready pod's once. */
  private serviceAddresses(svc: DnsService, name: string): DnsRecord[] {
    if (!svc.headless) {
      const r = addressRecord(name, this.snapshot.routerAddress);
      return r === undefined ? [] : [r];
    }
    const seen = new Set<string>();
    const out: DnsRecord[] = [];
    for (const e of this.readyEndpoints(svc)) {
      if (seen.has(e.ip)) continue;
      seen.add(e.ip);
      const r = addressRecord(name, e.ip);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /** The pod label of an endpoint: its hostname, else its address as a label. */
  private podLabel(e: DnsEndpoint): string {
    return e.hostname !== undefined && e.hostname !== '' ? e.hostname.toLowerCase() : addressLabel(e.ip);
  }

  private srv(svc: DnsService, ports: DnsServicePort[], name: string): { answers: DnsRecord[]; additionals: DnsRecord[] } {
    const answers: DnsRecord[] = [];
    const additionals: DnsRecord[] = [];
    const svcName = svc.name.toLowerCase();
    const ns = svc.namespace.toLowerCase();
    if (!svc.headless) {
      const target = this.fqdn(svcName, ns);
      for (const p of ports) answers.push({ type: 'SRV', name, ttl: RECORD_TTL, priority: 0, weight: 100, port: p.port, target });
      if (answers.length > 0) additionals.push(...this.serviceAddresses(svc, target));
      return { answers, additionals };
    }
    const eps = this.readyEndpoints(svc);
    const weight = eps.length > 0 ? Math.max(1, Math.floor(100 / eps.length)) : 100;
    const targets = new Set<string>();
    for (const p of ports) {
      for (const e of eps) {
        const target = this.fqdn(this.podLabel(e), svcName, ns);
        const port = (p.name !== undefined ? e.ports?.[p.name] : undefined) ?? e.ports?.[String(p.port)] ?? p.port;
        answers.push({ type: 'SRV', name, ttl: RECORD_TTL, priority: 0, weight, port, target });
        if (!targets.has(target)) {
          targets.add(target);
          const r = addressRecord(target, e.ip);
          if (r !== undefined) additionals.push(r);
        }
      }
    }
    return { answers, additionals };
  }

  /** The answer to one question, from this snapshot alone. */
  resolve(question: DnsQuestion): Resolution {
    const name = canonical(question.name);
    const asked = question.name.replace(/\.+$/, '');
    const qtype = question.type.toUpperCase();
    const empty = (rcode: Rcode): Resolution => ({ rcode, answers: [], authorities: rcode === 'REFUSED' ? [] : [this.soa()], additionals: [], authoritative: rcode !== 'REFUSED' });
    const found = (answers: DnsRecord[], additionals: DnsRecord[] = []): Resolution =>
      answers.length === 0 ? empty('NOERROR') : { rcode: 'NOERROR', answers, authorities: [], additionals, authoritative: true };

    const labels = this.labelsBelowSvc(name);
    if (labels === undefined) return { ...empty('REFUSED'), authoritative: false };
    if (labels === 'zone') return found(wants(qtype, 'SOA') && name === this.domain ? [{ ...this.soa(), name: asked }] : []);
    if (labels.length === 1) return this.namespaces.has(labels[0]) ? empty('NOERROR') : empty('NXDOMAIN');
    if (labels.length < 2) return empty('NXDOMAIN');

    const [svcName, ns] = labels.slice(-2);
    const svc = this.services.get(serviceKey(ns, svcName));
    if (svc === undefined) return empty('NXDOMAIN');
    const rest = labels.slice(0, -2);

    if (rest.length === 0) {
      const answers = this.serviceAddresses(svc, asked).filter((r) => wants(qtype, r.type));
      if (qtype === 'SRV' || qtype === 'ANY') {
        const srv = this.srv(svc, svc.ports.filter((p) => p.name !== undefined && p.name !== ''), asked);
        return found([...answers, ...srv.answers], srv.additionals);
      }
      return found(answers);
    }

    if (rest.length === 1) {
      // One pod of a headless Service, by hostname or by its address as a label.
      if (!svc.headless) return empty('NXDOMAIN');
      const pods = this.readyEndpoints(svc).filter((e) => this.podLabel(e) === rest[0] || addressLabel(e.ip) === rest[0]);
      if (pods.length === 0) return empty('NXDOMAIN');
      const seen = new Set<string>();
      const answers: DnsRecord[] = [];
      for (const e of pods) {
        if (seen.has(e.ip)) continue;
        seen.add(e.ip);
        const r = addressRecord(asked, e.ip);
        if (r !== undefined && wants(qtype, r.type)) answers.push(r);
      }
      return found(answers);
    }

    if (rest.length === 2 && rest[0].startsWith('_') && rest[1].startsWith('_')) {
      const portName = rest[0].slice(1);
      const proto = rest[1].slice(1);
      const ports = svc.ports.filter((p) => p.name !== undefined && p.name.toLowerCase() === portName && (p.protocol ?? 'TCP').toLowerCase() === proto);
      if (ports.length === 0) return empty('NXDOMAIN');
      if (!wants(qtype, 'SRV')) return empty('NOERROR');
      const srv = this.srv(svc, ports, asked);
      return found(srv.answers, srv.additionals);
    }

    return empty('NXDOMAIN');
  }
}

/** The answer to one question from a snapshot (an index is built for it; servers keep a Zone). */
export function resolve(snapshot: DnsSnapshot, question: DnsQuestion): Resolution {
  return new Zone(snapshot).resolve(question);
}

/**
 * The answer to one question: from the zone when the name is the cluster's; else from
 * `upstream` when there is one (a failing upstream is SERVFAIL), else REFUSED.
 */
export async function answer(zone: Zone, question: DnsQuestion, upstream?: Upstream): Promise<Resolution> {
  const local = zone.resolve(question);
  if (local.authoritative || upstream === undefined) return local;
  try {
    return await upstream(question);
  } catch {
    return { rcode: 'SERVFAIL', answers: [], authorities: [], additionals: [], authoritative: false };
  }
}
