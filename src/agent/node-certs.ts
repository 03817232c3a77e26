// A node's certificate: asked for with a request made here (the key never leaves the node),
// kept under `<state-dir>/pki/` (key 0600), and asked for again once a third of its life is
// left, as kubelet's certificate rotation does. The clock and the API call are injected.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { certificateInfo, createCertificateRequest, type ClientTls } from '../pki/index.js';

export interface NodeCertFiles {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

export function nodeCertFiles(stateDir: string): NodeCertFiles {
  const dir = join(stateDir, 'pki');
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key') };
}

/** True when less than a third of the certificate's life is left (or it is unreadable). */
export function needsRenewal(certPem: string, now: Date): boolean {
  try {
    const info = certificateInfo(certPem);
    const life = info.notAfter.getTime() - info.notBefore.getTime();
    return info.notAfter.getTime() - now.getTime() < life / 3;
  } catch {
    return true;
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** What a node's certificate is asked from: `POST /api/v1/nodes/{node}/certificate`. */
export type CertificateIssuer = (request: { csr: string; hosts: string[] }) => Promise<{ certificate: string; ca: string; notAfter: string }>;

export interface NodeCertificatesOptions {
  stateDir: string;
  node: string;
  /** Addresses the node's port is reached at (besides the node name). */
  hosts: string[];
  issue: CertificateIssuer;
  logger: Logger;
  now?: () => Date;
}

export class NodeCertificates {
  readonly files: NodeCertFiles;
  private current: ClientTls | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: NodeCertificatesOptions) {
    this.files = nodeCertFiles(options.stateDir);
    this.now = options.now ?? (() => new Date());
  }

  /** The CA, certificate and key in use. */
  get tls(): ClientTls | undefined {
    return this.current;
  }

  /** Takes material already loaded (an agent restarted with its state folder) as the one in use. */
  adopt(tls: ClientTls): void {
    this.current = tls;
  }

  /** Writes the CA a join verified. */
  async saveCa(caPem: string): Promise<void> {
    await mkdir(this.files.dir, { recursive: true, mode: 0o700 });
    await writeAtomic(this.files.ca, caPem, 0o644);
  }

  /** The kept certificate when it has life left, else a new one; returns what is in use. */
  async ensure(): Promise<ClientTls> {
    const [ca, cert, key] = await Promise.all([this.files.ca, this.files.cert, this.files.key].map((f) => readFile(f, 'utf8').catch(() => undefined)));
    if (ca && cert && key && !needsRenewal(cert, this.now())) {
      this.current = { ca, cert, key };
      return this.current;
    }
    return this.renew();
  }

  /** Asks for a new certificate now and keeps it. */
  async renew(): Promise<ClientTls> {
    const { csr, key } = await createCertificateRequest(this.options.node);
    const issued = await this.options.issue({ csr, hosts: this.options.hosts });
    await mkdir(this.files.dir, { recursive: true, mode: 0o700 });
    await writeAtomic(this.files.key, key, 0o600);
    await writeAtomic(this.files.cert, issued.certificate, 0o644);
    await writeAtomic(this.files.ca, issued.ca, 0o644);
    this.current = { ca: issued.ca, cert: issued.certificate, key };
    this.options.logger.info({ node: this.options.node, notAfter: issued.notAfter }, 'node certificate issued');
    return this.current;
  }

  /** Looks every `everyMs` (default an hour) and renews when due; `onRenewed` gets the new one. */
  startRotation(onRenewed: (tls: ClientTls) => void, everyMs = 3_600_000): void {
    this.stopRotation();
    this.timer = setInterval(() => {
      const cert = this.current?.cert;
      if (cert !== undefined && !needsRenewal(cert, this.now())) return;
      this.renew().then(onRenewed, (err: unknown) => this.options.logger.warn({ err, node: this.options.node }, 'node certificate renewal failed; retrying at the next check'));
    }, everyMs);
    this.timer.unref();
  }

  stopRotation(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
