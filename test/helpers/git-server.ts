// A real smart-HTTP Git server for tests: Node's http server in front of `git http-backend`
// run as a CGI program, so clients talk to the same code path as on a real Git host.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

export interface GitServerOptions {
  /** When set, every request needs these Basic credentials (401 otherwise). */
  auth?: { username: string; password: string };
  /** Folder holding the bare repositories; a fresh temporary folder by default. */
  root?: string;
}

export interface GitServer {
  /** Folder holding the bare repositories (`<root>/<name>.git`). */
  readonly root: string;
  /** `http://127.0.0.1:<port>/<repo>.git`, without credentials. */
  url(repo: string): string;
  /** Same URL with the given credentials embedded (for `git push` from tests). */
  urlWithAuth(repo: string, username: string, password: string): string;
  /** Requests served so far, e.g. `GET /app.git/info/refs?service=git-upload-pack 401`. */
  readonly requests: string[];
  stop(): Promise<void>;
}

/** Start a Git server on 127.0.0.1 on a free port. */
export async function startGitServer(options: GitServerOptions = {}): Promise<GitServer> {
  const ownsRoot = options.root === undefined;
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'capstan-git-server-'));
  const requests: string[] = [];

  const server = createServer((req, res) => {
    handle(req, res, root, options.auth)
      .then((status) => requests.push(`${req.method} ${req.url} ${status}`))
      .catch((err: unknown) => {
        requests.push(`${req.method} ${req.url} 500`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  return {
    root,
    requests,
    url: (repo) => `${base}/${repoFile(repo)}`,
    urlWithAuth: (repo, username, password) =>
      `http://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${repoFile(repo)}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsRoot) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `app` → `app.git`; names that already end in `.git` stay as they are. */
export function repoFile(repo: string): string {
  return repo.endsWith('.git') ? repo : `${repo}.git`;
}

/**
 * A server that accepts connections and never answers: for timeout tests.
 * `url(repo)` points at it like a Git server would.
 */
export async function startSilentServer(): Promise<{ url(repo: string): string; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  return {
    url: (repo) => `http://127.0.0.1:${port}/${repoFile(repo)}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A 127.0.0.1 port that nothing listens on (bound once, then released). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await listen(server);
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function listen(server: { listen(port: number, host: string, cb: () => void): unknown; once(ev: 'error', cb: (e: Error) => void): unknown }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  auth: GitServerOptions['auth'],
): Promise<number> {
  let remoteUser = '';
  if (auth) {
    const user = basicUser(req.headers.authorization, auth);
    if (user === undefined) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return 401;
    }
    remoteUser = user;
  }

  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    // Pushes over HTTP are refused unless enabled (or REMOTE_USER is set); tests push.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'true',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: root,
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: remoteUser,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
  if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);

  const child = spawn(HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));

  return new Promise<number>((resolve, reject) => {
    let head = Buffer.alloc(0);
    let status = 200;
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const parsed = parseCgiHead(head);
      if (!parsed) return;
      headersDone = true;
      status = parsed.status;
      res.writeHead(parsed.status, parsed.headers);
      if (parsed.rest.length > 0) res.write(parsed.rest);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (!headersDone) {
        const msg = Buffer.concat(stderr).toString() || `http-backend exited with ${code}`;
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(msg);
        resolve(500);
        return;
      }
      res.end();
      resolve(status);
    });
  });
}

/** Split CGI output into status, headers and the start of the body (once the blank line is in). */
function parseCgiHead(
  buf: Buffer,
): { status: number; headers: Record<string, string>; rest: Buffer } | undefined {
  let end = buf.indexOf('\r\n\r\n');
  let sepLen = 4;
  if (end < 0) {
    end = buf.indexOf('\n\n');
    sepLen = 2;
  }
  if (end < 0) return undefined;
  const headers: Record<string, string> = {};
  let status = 200;
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
    else headers[name] = value;
  }
  return { status, headers, rest: buf.subarray(end + sepLen) };
}

function basicUser(
  header: string | undefined,
  auth: { username: string; password: string },
): string | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  const user = decoded.slice(0, i);
  const pass = decoded.slice(i + 1);
  return user === auth.username && pass === auth.password ? user : undefined;
}
