// Member and cluster identities. A member's id is derived from its name, so every member
// computes the same ids from the same --peers list; the cluster id is derived from the
// initial member list and a cluster name, and is kept in the data folder afterwards.
import { createHash } from 'node:crypto';
import { CapstanError } from '../../common/index.js';

export interface PeerSpec {
  name: string;
  /** `http://host:port` (or `https://`, mutual TLS) where the member's peer listener answers. */
  url: string;
}

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function hash48(text: string): number {
  // 48 bits: a safe integer in JavaScript, and never 0 (0 means "no member" in the core).
  const n = createHash('sha256').update(text).digest().readUIntBE(0, 6);
  return n === 0 ? 1 : n;
}

export function memberIdFor(name: string): number {
  return hash48(`member/${name}`);
}

/** `<id hex>` of a new cluster: its name and sorted initial members. */
export function clusterIdFor(clusterName: string, peers: PeerSpec[]): string {
  const members = [...peers].sort((a, b) => a.name.localeCompare(b.name)).map((p) => `${p.name}=${p.url}`);
  return hash48(`cluster/${clusterName}/${members.join(',')}`).toString(16).padStart(12, '0');
}

function usage(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CLI_USAGE', message);
}

/** Parses `a=http://127.0.0.1:7481,b=http://127.0.0.1:7482`. */
export function parsePeers(spec: string): PeerSpec[] {
  const peers: PeerSpec[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw usage(`--peers takes name=http://host:port pairs, got "${part}"`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    if (!NAME_RE.test(name)) throw usage(`member name "${name}" must be lower-case letters, digits and dashes`);
    peers.push({ name, url: normalisePeerUrl(url) });
  }
  if (peers.length === 0) throw usage('--peers needs at least one name=http://host:port');
  const names = new Set(peers.map((p) => p.name));
  if (names.size !== peers.length) throw usage('--peers names a member twice');
  peerScheme(peers);
  return peers;
}

/** `https` when every peer URL is https:// (mutual TLS), `http` when none is; a mix is refused. */
export function peerScheme(peers: PeerSpec[]): 'http' | 'https' {
  const https = peers.filter((p) => p.url.startsWith('https://'));
  if (https.length === 0) return 'http';
  if (https.length === peers.length) return 'https';
  const plain = peers.filter((p) => !p.url.startsWith('https://')).map((p) => p.name);
  throw usage(`--peers mixes https:// and http:// URLs (http: ${plain.join(', ')}); use https:// for every member (mutual TLS) or http:// for every member`);
}

export function normalisePeerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usage(`peer URL "${url}" is not a URL (http://host:port or https://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usage(`peer URL "${url}" must use http:// or https://`);
  if (!u.port) throw usage(`peer URL "${url}" needs a port`);
  return `${u.protocol}//${u.hostname}:${u.port}`;
}
