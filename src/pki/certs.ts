// The cluster's certificates: a CA made once per cluster, and leaf certificates it issues for
// the API server (its host names and addresses) and for node agents (their node name, usable
// as a client certificate). ECDSA P-256 keys, SHA-256 signatures, PEM in and out. The clock
// and the key generator are Web Crypto's and the caller's `now`; nothing here touches files.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  cert: string;
  key: string;
}

export interface CAOptions {
  commonName?: string;
  /** Default ten years. */
  validityDays?: number;
  now?: Date;
}

export type CertificateUsage = 'server' | 'client' | 'both';

export interface IssueOptions {
  commonName: string;
  /** Host names and IP addresses the certificate is valid for (subject alternative names). */
  hosts?: string[];
  usage: CertificateUsage;
  /** Default one year. */
  validityDays?: number;
  /** Organisation (O=), e.g. the role a client certificate stands for. */
  organization?: string;
  now?: Date;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  commonName: string | undefined;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  isCA: boolean;
  /** sha256 of the DER encoding, lower-case hex (as `openssl x509 -fingerprint -sha256`, without colons). */
  fingerprint: string;
}

/** A random positive serial number of 16 bytes. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function pemBody(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`not a PEM ${label.toLowerCase()}`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

function keyPem(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** An X.500 name value with the characters RFC 4514 reserves escaped. */
function dnValue(v: string): string {
  return v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', pemBody(pem, 'PRIVATE KEY'), ALGORITHM, false, ['sign'])) as unknown as CryptoKey;
}

/** A self-signed CA that may sign leaf certificates only (path length 0). */
export async function createCA(options: CAOptions = {}): Promise<CertifiedKey> {
  const now = options.now ?? new Date();
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${dnValue(options.commonName ?? 'Capstan cluster CA')}`,
    // An hour back, so a peer whose clock is a little behind accepts it at once.
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + (options.validityDays ?? 3650) * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: keyPem((await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) as ArrayBuffer) };
}

/** A leaf certificate signed by `ca` for a server (its host names and addresses), a client, or both. */
export async function issueCertificate(ca: CertifiedKey, options: IssueOptions): Promise<CertifiedKey> {
  const keys = await newKeys();
  const cert = await signLeaf(ca, keys.publicKey, options);
  return { cert, key: keyPem((await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) as ArrayBuffer) };
}

/** A key pair made here and a PKCS #10 request for it: the private key never leaves this machine. */
export async function createCertificateRequest(commonName: string): Promise<{ csr: string; key: string }> {
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${dnValue(commonName)}`, keys, signingAlgorithm: ALGORITHM });
  return { csr: csr.toString('pem'), key: keyPem((await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) as ArrayBuffer) };
}

/**
 * A certificate for the key of a PKCS #10 request, once the request's own signature checks
 * (the requester holds the key). Everything else in the request is ignored: the name, the
 * addresses and the usage are the caller's to decide.
 */
export async function issueFromRequest(ca: CertifiedKey, csrPem: string, options: IssueOptions): Promise<string> {
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new Error('not a PEM certificate request');
  }
  if (!(await request.verify())) throw new Error('the certificate request is not signed by its own key');
  const publicKey = await request.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' } as never, ['verify']).catch(() => {
    throw new Error('the certificate request is not for an ECDSA P-256 key');
  });
  return signLeaf(ca, publicKey as unknown as CryptoKey, options);
}

async function signLeaf(ca: CertifiedKey, publicKey: CryptoKey, options: IssueOptions): Promise<string> {
  const now = options.now ?? new Date();
  const caCert = new x509.X509Certificate(ca.cert);
  const signingKey = await importPrivateKey(ca.key);
  const hosts = [...new Set(options.hosts ?? [])];
  const names = hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const usages = {
    server: [x509.ExtendedKeyUsage.serverAuth],
    client: [x509.ExtendedKeyUsage.clientAuth],
    both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  }[options.usage];
  const subject = [`CN=${dnValue(options.commonName)}`, ...(options.organization ? [`O=${dnValue(options.organization)}`] : [])].join(', ');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(Math.min(now.getTime() + (options.validityDays ?? 365) * DAY_MS, caCert.notAfter.getTime())),
    signingAlgorithm: ALGORITHM,
    publicKey: publicKey as never,
    signingKey: signingKey as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(publicKey as never),
    ],
  });
  return cert.toString('pem');
}

/** sha256 of a PEM certificate's DER bytes, lower-case hex. */
export function certificateFingerprint(pem: string): string {
  return createHash('sha256').update(pemBody(pem, 'CERTIFICATE')).digest('hex');
}

/** What a certificate says about itself. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const cn = /(?:^|,\s*)CN=((?:\\.|[^,])*)/.exec(cert.subject)?.[1]?.replace(/\\(.)/g, '$1');
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    commonName: cn,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: (san?.names.items ?? []).filter((n) => n.type === 'ip').map((n) => n.value),
    isCA: basic?.ca === true,
    fingerprint: certificateFingerprint(pem),
  };
}

/** True when `pem` carries a signature by `caPem`'s key and `now` is inside its validity. */
export async function issuedBy(pem: string, caPem: string, now: Date = new Date()): Promise<boolean> {
  const cert = new x509.X509Certificate(pem);
  const ca = new x509.X509Certificate(caPem);
  if (cert.issuer !== ca.subject) return false;
  return cert.verify({ publicKey: ca.publicKey, date: now });
}
