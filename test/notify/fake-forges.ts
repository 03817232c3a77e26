// A local HTTP server on 127.0.0.1 standing in for GitHub (octokit at baseUrl BASE/gh), GitLab
// (BASE/gl), Gitea (BASE/gt), Slack and generic webhooks: it records every request and answers
// with canned statuses, and `serveComments` adds pull-request comments kept per thread in each
// forge's REST shape.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An answer for a request, or undefined to leave it to the next route (and then the canned answers). */
export type Route = (r: Received) => { status: number; body: unknown } | undefined;

export class FakeForges {
  server!: Server;
  received: Received[] = [];
  /** Answers per path prefix, consumed in order; the last one repeats. */
  answers = new Map<string, number[]>();
  routes: Route[] = [];
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.received.push(r);
        const entry = [...this.answers.entries()].find(([p]) => r.url.startsWith(p));
        let status = r.url.includes('/statuses/') ? 201 : 200;
        if (entry) status = entry[1].length > 1 ? entry[1].shift()! : entry[1][0]!;
        if (status >= 300) {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: 'boom' }));
          return;
        }
        for (const route of this.routes) {
          const a = route(r);
          if (!a) continue;
          res.writeHead(a.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(a.body));
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: this.received.length, state: 'ok' }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  to(prefix: string): Received[] {
    return this.received.filter((r) => r.url.startsWith(prefix));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface StoredComment {
  id: number;
  body: string;
  /** GitLab marks notes the forge itself wrote. */
  system?: boolean;
}

export interface CommentStore {
  /** Comments by thread: `gh:<owner>/<repo>#N`, `gl:<project>!N`, `gt:<owner>/<repo>#N`. */
  threads: Map<string, StoredComment[]>;
  thread(key: string): StoredComment[];
}

/**
 * Pull-request comments: GitHub's issue comments (list paged by `per_page`/`page`, POST,
 * PATCH `/issues/comments/:id`), GitLab's merge request notes (paged, POST, PUT `/notes/:id`)
 * and Gitea's issue comments (unpaged, POST, PATCH `/issues/comments/:id`).
 */
export function serveComments(forges: FakeForges): CommentStore {
  const threads = new Map<string, StoredComment[]>();
  let next = 1000;
  const thread = (key: string): StoredComment[] => {
    if (!threads.has(key)) threads.set(key, []);
    return threads.get(key)!;
  };
  const byId = (id: number): StoredComment | undefined => [...threads.values()].flat().find((c) => c.id === id);
  const page = (list: StoredComment[], q: URLSearchParams): StoredComment[] => {
    const size = Number(q.get('per_page') ?? 30);
    const n = Number(q.get('page') ?? 1);
    return list.slice((n - 1) * size, n * size);
  };
  const bodyOf = (r: Received): string => (JSON.parse(r.body) as { body: string }).body;
  forges.routes.push((r) => {
    const u = new URL(r.url, forges.base);
    // Matched before decoding: GitLab's project path is one segment, `team%2Fmanifests`.
    const p = u.pathname;
    let m = /^\/(gh|gt)(?:\/api\/v1)?\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(p);
    if (m) {
      const list = thread(`${m[1]}:${m[2]}#${m[3]}`);
      if (r.method === 'GET') return { status: 200, body: m[1] === 'gh' ? page(list, u.searchParams) : list };
      if (r.method === 'POST') {
        const c = { id: next++, body: bodyOf(r) };
        list.push(c);
        return { status: 201, body: c };
      }
    }
    m = /^\/(gh|gt)(?:\/api\/v1)?\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(p);
    if (m && r.method === 'PATCH') {
      const c = byId(Number(m[2]));
      if (!c) return { status: 404, body: { message: 'Not Found' } };
      c.body = bodyOf(r);
      return { status: 200, body: c };
    }
    m = /^\/gl\/api\/v4\/projects\/([^/]+)\/merge_requests\/(\d+)\/notes(?:\/(\d+))?$/.exec(p);
    if (m) {
      const list = thread(`gl:${decodeURIComponent(m[1]!)}!${m[2]}`);
      if (m[3] === undefined && r.method === 'GET') return { status: 200, body: page(list, u.searchParams) };
      if (m[3] === undefined && r.method === 'POST') {
        const c = { id: next++, body: bodyOf(r), system: false };
        list.push(c);
        return { status: 201, body: c };
      }
      if (m[3] !== undefined && r.method === 'PUT') {
        const c = list.find((x) => x.id === Number(m![3]));
        if (!c) return { status: 404, body: { message: '404 Not found' } };
        c.body = bodyOf(r);
        return { status: 200, body: c };
      }
    }
    return undefined;
  });
  return { threads, thread };
}
