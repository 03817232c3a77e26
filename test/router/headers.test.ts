// Header copying on the proxy path: hop-by-hop fields dropped (RFC 9110 section 7.6.1),
// X-Forwarded-For extended, X-Forwarded-Proto defaulted, request bodies detected.
import { describe, expect, it } from 'vitest';
import { forwardRaw, stripHopByHop } from '../../src/router/proxy.js';

describe('forwardRaw', () => {
  it('drops hop-by-hop fields and the fields Connection names, keeping repeats and case', () => {
    const raw = ['Host', 'a', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'TE', 'trailers', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Keep-Alive', 'timeout=5'];
    expect(forwardRaw(raw)).toEqual(['Host', 'a', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2']);
  });

  it('appends the peer to X-Forwarded-For (repeats joined) and sets X-Forwarded-Proto when absent', () => {
    const scan = { body: false };
    expect(forwardRaw(['X-Forwarded-For', '192.0.2.1', 'x-forwarded-for', '192.0.2.2', 'Accept', '*/*'], '127.0.0.1', scan)).toEqual([
      'Accept',
      '*/*',
      'x-forwarded-for',
      '192.0.2.1, 192.0.2.2, 127.0.0.1',
      'x-forwarded-proto',
      'http',
    ]);
    expect(scan.body).toBe(false);
    expect(forwardRaw(['X-Forwarded-Proto', 'https'], '::1')).toEqual(['X-Forwarded-Proto', 'https', 'x-forwarded-for', '::1']);
  });

  it('notices a request body from Content-Length or Transfer-Encoding', () => {
    const a = { body: false };
    forwardRaw(['Content-Length', '3'], 'p', a);
    expect(a.body).toBe(true);
    const b = { body: false };
    expect(forwardRaw(['Transfer-Encoding', 'chunked'], 'p', b)).toEqual(['x-forwarded-for', 'p', 'x-forwarded-proto', 'http']);
    expect(b.body).toBe(true);
  });

  it('agrees with stripHopByHop on parsed headers', () => {
    expect(stripHopByHop({ connection: 'close, x-a', 'x-a': '1', 'x-b': '2', upgrade: 'h2c' })).toEqual({ 'x-b': '2' });
    expect(forwardRaw(['Connection', 'close, x-a', 'x-a', '1', 'x-b', '2', 'Upgrade', 'h2c'])).toEqual(['x-b', '2']);
  });
});
