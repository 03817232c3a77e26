// Mutual TLS for the members of a group with https:// peer URLs: the cluster CA is read from
// `<data-dir>/pki/` (the same ca.crt and ca.key on every member: the first member makes them,
// the others get a copy, like the cluster token file) and each member issues itself a
// certificate whose CN is its name, for the host of its peer URL, at every start.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CapstanError } from '../../common/index.js';
import { peerScheme, type PeerSpec } from './ids.js';
import type { PeerTls } from './transport.js';

export interface MemberTlsOptions {
  name: string;
  peers: PeerSpec[];
  /** Joining an existing group (which already has its CA). */
  join?: boolean;
  /** Folder holding ca.crt and ca.key (`<data-dir>/pki`). */
  pkiDir?: string;
}

export function clusterCaFiles(pkiDir: string): { caCert: string; caKey: string } {
  return { caCert: join(pkiDir, 'ca.crt'), caKey: join(pkiDir, 'ca.key') };
}

function copyTheCa(name: string, pkiDir: string, what: string): CapstanError {
  const { caCert, caKey } = clusterCaFiles(pkiDir);
  return new CapstanError(
    'CAPSTAN_ERR_CONFIG_INVALID',
    `member ${name} has https:// peers (mutual TLS) but ${what}: copy ${caCert} and ${caKey} from the member that made the cluster CA (the same two files on every member, like the cluster token file), then start again`,
    { context: { caCert, caKey } },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Before anything may make a CA in `pkiDir`: with https:// peers, half a CA (one of the two
 * files) or a joining member without one is refused, so no member ever makes a CA of its own
 * over a copy it was meant to have.
 */
export async function checkClusterCa(pkiDir: string, o: MemberTlsOptions): Promise<void> {
  if (peerScheme(o.peers) !== 'https') return;
  const { caCert, caKey } = clusterCaFiles(pkiDir);
  const [hasCert, hasKey] = await Promise.all([exists(caCert), exists(caKey)]);
  if (hasCert && !hasKey) throw copyTheCa(o.name, pkiDir, `${caKey} is missing`);
  if (hasKey && !hasCert) throw copyTheCa(o.name, pkiDir, `${caCert} is missing`);
  if (!hasKey && o.join) throw copyTheCa(o.name, pkiDir, `it joins a group and has no cluster CA (${caKey} is missing)`);
}

async function readCaFile(name: string, pkiDir: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw copyTheCa(name, pkiDir, `${path} is missing`);
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the cluster CA file ${path} could not be read: ${(err as Error).message}`, { context: { file: path } });
  }
}

/** The member's TLS material for https:// peers; undefined for http:// ones. */
export async function memberTls(o: MemberTlsOptions): Promise<PeerTls | undefined> {
  if (peerScheme(o.peers) !== 'https') return undefined;
  if (!o.pkiDir) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `member ${o.name} has https:// peers (mutual TLS) but no folder with the cluster CA was given (<data-dir>/pki with ca.crt and ca.key)`);
  }
  const { caCert, caKey } = clusterCaFiles(o.pkiDir);
  const ca = { cert: await readCaFile(o.name, o.pkiDir, caCert), key: await readCaFile(o.name, o.pkiDir, caKey) };
  const self = o.peers.find((p) => p.name === o.name);
  if (!self) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `--name ${o.name} is not one of the members in --peers (${o.peers.map((p) => p.name).join(', ')})`);
  const host = new URL(self.url).hostname.replace(/^\[(.*)\]$/, '$1');
  const { issueCertificate, issuedBy } = await import('../../pki/index.js');
  let member;
  try {
    member = await issueCertificate(ca, { commonName: o.name, hosts: [host], usage: 'both' });
  } catch (err) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `the cluster CA in ${o.pkiDir} could not sign a member certificate: ${(err as Error).message}`, { context: { caCert, caKey } });
  }
  if (!(await issuedBy(member.cert, ca.cert))) {
    throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `${caKey} is not the key of ${caCert}: copy both files together from the member that made the cluster CA`, { context: { caCert, caKey } });
  }
  return { ca: ca.cert, cert: member.cert, key: member.key };
}
