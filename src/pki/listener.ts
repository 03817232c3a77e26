// Whether a listener serves HTTPS or plain HTTP, and which names its certificate must carry.
// Pure: the host, the flags and the machine's addresses in, a decision out.
import { CapstanError } from '../common/index.js';

export type ListenerScheme = 'https' | 'http';

export interface ListenerSecurityInput {
  /** The address the listener binds (`--host`). */
  host: string;
  /** `--tls`: HTTPS even on loopback. */
  tls?: boolean;
  /** `--insecure-http`: plain HTTP on an address other hosts reach. */
  insecureHttp?: boolean;
}

export interface ListenerSecurity {
  scheme: ListenerScheme;
  /** Set when plain HTTP is served where others can listen in: say it loudly. */
  warning?: string;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine reaches them. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\./.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * HTTPS unless the listener is on loopback (where plain HTTP is the default, and `--tls`
 * turns HTTPS on) or `--insecure-http` asks for plain HTTP on a reachable address.
 */
export function listenerSecurity(input: ListenerSecurityInput): ListenerSecurity {
  if (input.tls && input.insecureHttp) {
    throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--tls and --insecure-http contradict each other: give one of them');
  }
  if (isLoopbackHost(input.host)) return { scheme: input.tls ? 'https' : 'http' };
  if (input.insecureHttp) {
    return {
      scheme: 'http',
      warning: `--insecure-http: the API on ${input.host} is plain HTTP, so API tokens, join tokens and Secret values cross the network readable by anyone on the path; use it only on a network you trust`,
    };
  }
  return { scheme: 'https' };
}

/**
 * Raft peer traffic carries every write of the group. Over https:// it is mutual TLS. Plain
 * http:// is accepted on loopback; off loopback it is refused unless `--insecure-http` says
 * so, and then warned about.
 */
export function peerSecurity(peers: { name: string; url: string }[], insecureHttp = false): { warning?: string } {
  const plain = peers.filter((p) => p.url.startsWith('http://') && !isLoopbackHost(new URL(p.url).hostname));
  if (plain.length === 0) return {};
  const list = plain.map((p) => `${p.name}=${p.url}`).join(', ');
  if (!insecureHttp) {
    throw new CapstanError(
      'CAPSTAN_ERR_CLI_USAGE',
      `--peers: ${list} would carry the group's writes in clear text off loopback; use https:// peer URLs (mutual TLS with the cluster CA, copied to every member: see docs/fleet.md) or add --insecure-http on a network you trust`,
    );
  }
  return { warning: `--insecure-http: Raft peer traffic to ${list} is plain HTTP, readable and forgeable by anyone on the path` };
}

/** The wildcard addresses: a certificate cannot name them. */
export function isWildcardHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || h === '';
}

/**
 * The names a server certificate must carry: the bound host (or, for a wildcard, every
 * address of the machine), the machine's host name, and the extra names of `--tls-san`.
 */
export function certificateHosts(host: string, machine: { hostname: string; addresses: string[] }, extra: string[] = []): string[] {
  const bound = isWildcardHost(host) ? machine.addresses : [host.replace(/^\[|\]$/g, '')];
  const names = [...bound, machine.hostname, ...extra].map((n) => n.trim()).filter((n) => n !== '' && !isWildcardHost(n));
  return [...new Set(names)];
}
