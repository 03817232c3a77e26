// The cluster CA and the server certificate under `<dataDir>/pki/`: made on first start,
// kept across restarts, and the server certificate issued again when its host list changed or
// a third of its lifetime is left. Private keys are written 0600 (the folder 0700).
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificateFingerprint, certificateInfo, createCA, issueCertificate, type CertifiedKey } from './certs.js';

export interface ClusterPki {
  ca: CertifiedKey;
  server: CertifiedKey;
  caFingerprint: string;
  /** Files, for people and for `--ca`. */
  paths: { dir: string; caCert: string; caKey: string; serverCert: string; serverKey: string };
  /** What this call made: nothing, the server certificate, or both. */
  made: 'none' | 'server' | 'all';
}

export interface EnsurePkiOptions {
  dataDir: string;
  /** Names and addresses the API is reached by; localhost and 127.0.0.1 are always in. */
  hosts?: string[];
  now?: Date;
  /** Server certificate lifetime (default 365 days). */
  serverValidityDays?: number;
}

async function readPair(certPath: string, keyPath: string): Promise<CertifiedKey | undefined> {
  try {
    return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write a file whole or not at all (temp file, then rename). */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** True when the certificate covers every host and has more than a third of its life left. */
export function serverCertFits(certPem: string, hosts: string[], now: Date): boolean {
  const info = certificateInfo(certPem);
  const covered = new Set([...info.dnsNames, ...info.ipAddresses]);
  const life = info.notAfter.getTime() - info.notBefore.getTime();
  return hosts.every((h) => covered.has(h)) && info.notAfter.getTime() - now.getTime() > life / 3;
}

export async function ensureClusterPki(options: EnsurePkiOptions): Promise<ClusterPki> {
  const now = options.now ?? new Date();
  const dir = join(options.dataDir, 'pki');
  const paths = { dir, caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key') };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const hosts = [...new Set(['localhost', '127.0.0.1', ...(options.hosts ?? [])].filter((h) => h !== '' && h !== '0.0.0.0' && h !== '::'))];
  let made: ClusterPki['made'] = 'none';
  let ca = await readPair(paths.caCert, paths.caKey);
  if (!ca) {
    ca = await createCA({ now });
    await writeAtomic(paths.caKey, ca.key, 0o600);
    await writeAtomic(paths.caCert, ca.cert, 0o644);
    made = 'all';
  }
  let server = made === 'all' ? undefined : await readPair(paths.serverCert, paths.serverKey);
  if (!server || !serverCertFits(server.cert, hosts, now)) {
    server = await issueCertificate(ca, { commonName: 'capstan-api', hosts, usage: 'both', validityDays: options.serverValidityDays ?? 365, now });
    await writeAtomic(paths.serverKey, server.key, 0o600);
    await writeAtomic(paths.serverCert, server.cert, 0o644);
    if (made === 'none') made = 'server';
  }
  return { ca, server, caFingerprint: certificateFingerprint(ca.cert), paths, made };
}
