import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startApi, type TestApi } from '../helpers/api.js';
import { nodeBody } from './fixtures.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ bodyLimitBytes: 64 * 1024 });
});
afterAll(async () => t.close());

/** A raw request, so the test controls headers and sees exactly what the server answers. */
function raw(method: string, path: string, headers: Record<string, string | number>, body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, t.url);
    const req = request({ host: '127.0.0.1', port: url.port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP edges', () => {
  it('serves /healthz without a token', async () => {
    const r = await call(t.url, 'GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
  });

  it('refuses a body over the limit with 413', async () => {
    const big = Buffer.from(JSON.stringify({ ...nodeBody('node-a'), pad: 'x'.repeat(100 * 1024) }));
    const declared = await raw(
      'PUT',
      '/api/v1/nodes/node-a',
      { authorization: `Bearer ${t.tokens.agentA}`, 'content-type': 'application/json', 'content-length': big.length },
      big,
    );
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('CAPSTAN_ERR_API_BODY_TOO_LARGE');
    // Without Content-Length (chunked), the limit holds while reading.
    const chunked = await raw(
      'PUT',
      '/api/v1/nodes/node-a',
      { authorization: `Bearer ${t.tokens.agentA}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      big,
    );
    expect(chunked.status).toBe(413);
    // The server is still fine afterwards.
    expect((await call(t.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('takes JSON only (415) and reports unparsable JSON (400)', async () => {
    const form = await call(t.url, 'PUT', '/api/v1/nodes/node-a', {
      token: t.tokens.agentA,
      rawBody: 'name=node-a',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(form.json.error.code).toBe('CAPSTAN_ERR_API_UNSUPPORTED_MEDIA_TYPE');
    const broken = await call(t.url, 'PUT', '/api/v1/nodes/node-a', {
      token: t.tokens.agentA,
      rawBody: '{"name": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe('CAPSTAN_ERR_API_BAD_REQUEST');
  });

  it('answers 404 for unknown routes and 405 for a wrong method', async () => {
    expect((await call(t.url, 'GET', '/nope', { token: t.tokens.admin })).status).toBe(404);
    const r = await call(t.url, 'DELETE', '/api/v1/sync', { token: t.tokens.admin });
    expect(r.status).toBe(405);
    expect(r.json.error.code).toBe('CAPSTAN_ERR_API_METHOD_NOT_ALLOWED');
  });

  it('counts requests by route pattern and code in /metrics', async () => {
    await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.viewer });
    await call(t.url, 'GET', '/api/v1/pods/default/missing', { token: t.tokens.viewer });
    const r = await call(t.url, 'GET', '/metrics', { token: t.tokens.viewer });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.text).toMatch(/capstan_http_requests_total\{method="GET",route="\/api\/v1\/:resource",code="200"\} \d+/);
    expect(r.text).toMatch(/capstan_http_requests_total\{method="GET",route="\/api\/v1\/:resource\/\*",code="404"\} 1/);
    expect(r.text).toContain('capstan_http_request_duration_seconds_bucket');
    expect((await call(t.url, 'GET', '/metrics')).status).toBe(401);
  });
});
