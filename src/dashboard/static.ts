// The dashboard's static files: our own assets (the folder beside this module, copied to
// dist/ by the build) and the ESM builds of preact, preact/hooks and htm from node_modules.
// Only names in the table are served, so no request path can reach any other file. Every
// reply has an ETag (sha256 of the bytes; If-None-Match → 304), a content type, nosniff and a
// Content-Security-Policy allowing scripts from this origin plus the page's import map (by hash).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

export interface StaticSite {
  /** URL path (`/dashboard/app.js`) → file; `/` is the page. */
  files: Map<string, StaticFile>;
  /** The Content-Security-Policy every reply carries. */
  csp: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
};

/** Where our own assets are: `assets/` beside this module (src/ when run from source, dist/ when built). */
export const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

/** The browser builds of the UI libraries, resolved from the installed packages. */
export function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const preact = dirname(require.resolve('preact')); // …/preact/dist
  const hooks = dirname(require.resolve('preact/hooks')); // …/preact/hooks/dist
  const htm = dirname(require.resolve('htm')); // …/htm/dist
  return {
    'preact.js': join(preact, 'preact.module.js'),
    'hooks.js': join(hooks, 'hooks.module.js'),
    'htm.js': join(htm, 'htm.module.js'),
  };
}

function file(body: Buffer, name: string): StaticFile {
  return { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** The policy for the page: its inline import map is allowed by its sha256, nothing else inline. */
export function contentSecurityPolicy(html: string): string {
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
  return [
    "default-src 'none'",
    `script-src 'self'${hashes.length > 0 ? ` ${hashes.join(' ')}` : ''}`,
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Reads the assets folder (flat: no sub-folders) and the vendor files once. */
export async function loadSite(assetsDir = ASSETS_DIR, vendor = vendorFiles()): Promise<StaticSite> {
  const files = new Map<string, StaticFile>();
  const entries = await readdir(assetsDir, { withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.') || !(extname(e.name) in TYPES)) continue;
    files.set(e.name === 'index.html' ? '/' : `/dashboard/${e.name}`, file(await readFile(join(assetsDir, e.name)), e.name));
  }
  for (const [name, path] of Object.entries(vendor)) files.set(`/dashboard/vendor/${name}`, file(await readFile(path), name));
  const page = files.get('/');
  return { files, csp: contentSecurityPolicy(page ? page.body.toString('utf8') : '') };
}

/** True when the request's If-None-Match names this ETag (or `*`). */
function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

export function securityHeaders(csp: string): Record<string, string> {
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** Answers `path` from the table; false (nothing written) when it is not there. */
export function serveFile(site: StaticSite, path: string, req: IncomingMessage, res: ServerResponse): boolean {
  const f = site.files.get(path);
  if (!f) return false;
  const headers = {
    ...securityHeaders(site.csp),
    etag: f.etag,
    // Revalidated on every load: the ETag makes that a 304 when nothing changed.
    'cache-control': 'no-cache',
  };
  if (notModified(req, f.etag)) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  res.writeHead(200, { ...headers, 'content-type': f.type, 'content-length': f.body.length });
  res.end(req.method === 'HEAD' ? undefined : f.body);
  return true;
}
