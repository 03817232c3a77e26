// Raft peer traffic in clear text: fine on loopback, refused off it unless --insecure-http.
import { describe, expect, it } from 'vitest';
import { peerSecurity } from '../../src/pki/listener.js';

describe('peerSecurity', () => {
  it('accepts http:// peers on loopback and https:// peers anywhere, with no warning', () => {
    expect(peerSecurity([{ name: 'a', url: 'http://127.0.0.1:7481' }, { name: 'b', url: 'http://localhost:7482' }])).toEqual({});
    expect(peerSecurity([{ name: 'a', url: 'https://cp-1.example.internal:7481' }, { name: 'b', url: 'https://[2001:db8::1]:7481' }])).toEqual({});
  });

  it('refuses http:// peers off loopback, naming each and the way out', () => {
    const call = () => peerSecurity([{ name: 'a', url: 'http://127.0.0.1:7481' }, { name: 'b', url: 'http://cp-2.example.internal:7481' }]);
    expect(call).toThrow(expect.objectContaining({ code: 'CAPSTAN_ERR_CLI_USAGE' }));
    expect(call).toThrow(/b=http:\/\/cp-2\.example\.internal:7481/);
    expect(call).toThrow(/https:\/\/ peer URLs .*--insecure-http/);
    expect(call).not.toThrow(/a=http/);
  });

  it('with --insecure-http accepts them with a warning naming the peers', () => {
    const r = peerSecurity([{ name: 'b', url: 'http://cp-2.example.internal:7481' }], true);
    expect(r.warning).toMatch(/plain HTTP/);
    expect(r.warning).toContain('b=http://cp-2.example.internal:7481');
  });
});
