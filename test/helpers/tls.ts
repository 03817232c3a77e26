// Self-signed certificates made with the openssl command, for TLS tests on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const haveOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A P-256 certificate for `host` (CN and subjectAltName), valid one day; files kept in `dir`. */
export function selfSigned(dir: string, host: string): { crt: string; key: string } {
  const k = join(dir, `${host}.key`);
  const c = join(dir, `${host}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', k, '-out', c, '-days', '1', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`], { stdio: 'ignore' });
  return { crt: readFileSync(c, 'utf8'), key: readFileSync(k, 'utf8') };
}
