// The cluster CA's routes:
//
//   GET  /api/v1/pki/ca                     the CA certificate and its sha256 (public: a joining
//                                           node compares it with its join token's fingerprint)
//   POST /api/v1/nodes/{name}/certificate   { csr, hosts? } → a certificate for node {name}, signed
//                                           by the CA, for the key of the request (an agent token
//                                           bound to that node, or an admin)
//
// The certificate names the node (CN=<node>, O=capstan:nodes) and the addresses it gives, and
// serves both as the node's client certificate and for its own port. An agent asks again
// before a third of its life is left (rotation); every issue is logged with the node and the
// expiry, never the key (which the server never sees).
import type { Logger } from 'pino';
import { certificateInfo, issueFromRequest, type CertifiedKey } from '../pki/index.js';
import { forbidden } from './auth.js';
import { apiError, isRecord, readJsonBody } from './http.js';
import type { Route } from './routes.js';

export interface PkiRouteOptions {
  ca: CertifiedKey;
  caFingerprint: string;
  bodyLimit: number;
  logger: Logger;
  /** Lifetime of a node certificate (default 30 days). */
  nodeCertDays?: number;
  now?: () => number;
}

export const NODE_CERT_ORGANIZATION = 'capstan:nodes';
const MAX_HOSTS = 16;
const HOST = /^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*|[0-9.]{7,15}|[0-9a-f:]{2,39})$/i;

export function pkiRoutes(options: PkiRouteOptions): Route[] {
  const now = options.now ?? Date.now;
  return [
    {
      method: 'GET',
      pattern: '/api/v1/pki/ca',
      access: 'public',
      handler: async () => ({ certificate: options.ca.cert, fingerprint: options.caFingerprint }),
    },
    {
      method: 'POST',
      pattern: '/api/v1/nodes/:name/certificate',
      access: 'node',
      status: 201,
      handler: async (ctx) => {
        const node = ctx.params.name!;
        const p = ctx.principal!;
        if (p.role === 'agent' && p.node !== node) throw forbidden(p, `get a certificate for node ${node}`);
        const body = await readJsonBody(ctx.req, options.bodyLimit);
        if (!isRecord(body) || typeof body.csr !== 'string') throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', 'send { "csr": "<PEM certificate request>", "hosts"?: ["address", ...] }');
        const hosts = body.hosts === undefined ? [] : body.hosts;
        if (!Array.isArray(hosts) || hosts.length > MAX_HOSTS || !hosts.every((h) => typeof h === 'string' && HOST.test(h))) {
          throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `hosts: up to ${MAX_HOSTS} host names or IP addresses`);
        }
        let cert: string;
        try {
          cert = await issueFromRequest(options.ca, body.csr, {
            commonName: node,
            organization: NODE_CERT_ORGANIZATION,
            hosts: [node, ...(hosts as string[])],
            usage: 'both',
            validityDays: options.nodeCertDays ?? 30,
            now: new Date(now()),
          });
        } catch (err) {
          throw apiError('CAPSTAN_ERR_API_BAD_REQUEST', `csr: ${(err as Error).message}`);
        }
        const info = certificateInfo(cert);
        options.logger.info({ node, user: p.user, notAfter: info.notAfter.toISOString(), serial: info.fingerprint.slice(0, 16) }, 'node certificate issued');
        return { certificate: cert, ca: options.ca.cert, notAfter: info.notAfter.toISOString() };
      },
    },
  ];
}
