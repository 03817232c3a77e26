// The pure parts of the etcd backend: key prefixing, prefix ranges, request size and key checks.

import { describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/common/index.js';
import { KeySpace, checkKey, prefixEnd, putSize, txnSize } from '../../src/store/etcd/codec.js';
import { mapEtcdError, neverSent } from '../../src/store/etcd/errors.js';
import { MAX_REQUEST_BYTES } from '../../src/store/types.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('etcd codec', () => {
  it('computes the end of a prefix range as etcd does', () => {
    expect(prefixEnd(b('abc'))).toEqual(b('abd'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(b('b'));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  });

  it('puts keys under the prefix and strips it on the way out', () => {
    const ks = new KeySpace('/capstan/');
    expect(ks.key('a/b')).toEqual(b('/capstan/a/b'));
    expect(ks.range('a/', true)).toEqual({ key: b('/capstan/a/'), range_end: b('/capstan/a0') });
    expect(ks.range('', true)).toEqual({ key: b('/capstan/'), range_end: b('/capstan0') });
    expect(ks.range('x', false)).toEqual({ key: b('/capstan/x') });
    expect(ks.strip(b('/capstan/a/b'))).toBe('a/b');
    const kv = ks.kv({ key: b('/capstan/k'), value: b('v'), create_revision: '5', mod_revision: '7', version: '3', lease: '0' });
    expect(kv).toEqual({ key: 'k', value: new Uint8Array(b('v')), createRevision: 5, modRevision: 7, version: 3, lease: 0 });
  });

  it('spells "every key" as \\0..\\0 without a prefix', () => {
    expect(new KeySpace('').range('', true)).toEqual({ key: Buffer.from([0]), range_end: Buffer.from([0]) });
  });

  it('refuses empty keys and keys that are not valid UTF-8', () => {
    for (const bad of ['', 'a\uD800', '\uDC00b']) {
      let err: unknown;
      try {
        checkKey(bad);
      } catch (e) {
        err = e;
      }
      expect(isCapstanError(err, 'CAPSTAN_ERR_STORE_INVALID_KEY')).toBe(true);
    }
    expect(() => checkKey('ok/\u{1F600}')).not.toThrow();
    expect(() => new KeySpace('p/').range('', false)).toThrow(/empty/);
  });

  it('counts keys and values toward the request limit', () => {
    expect(putSize('ab', new Uint8Array(10))).toBe(12);
    expect(putSize('é', 'é')).toBe(4);
    expect(
      txnSize({
        compare: [{ key: 'k', target: 'version', op: '==', value: 1 }],
        success: [{ type: 'put', key: 'k', value: 'xyz' }],
        failure: [{ type: 'get', key: 'g' }],
      }),
    ).toBe(1 + 8 + 1 + 3 + 1);
    expect(putSize('k', new Uint8Array(MAX_REQUEST_BYTES - 1))).toBe(MAX_REQUEST_BYTES);
  });

  it('maps etcd failures to catalog codes and keeps credentials out', () => {
    const scope = { endpoints: ['http://user:pw@127.0.0.1:2379'] };
    expect(mapEtcdError(new Error('etcdserver: mvcc: required revision has been compacted'), 'range', scope).code).toBe(
      'CAPSTAN_ERR_STORE_COMPACTED',
    );
    expect(mapEtcdError(new Error('etcdserver: requested lease not found'), 'put', scope).code).toBe(
      'CAPSTAN_ERR_STORE_LEASE_NOT_FOUND',
    );
    expect(mapEtcdError(new Error('etcdserver: request is too large'), 'put', scope).code).toBe('CAPSTAN_ERR_STORE_TOO_LARGE');
    const sent = mapEtcdError(new Error('etcdserver: request timed out'), 'txn', scope, true);
    expect(sent.code).toBe('CAPSTAN_ERR_STORE_UNAVAILABLE');
    expect(sent.context.outcome).toBe('unknown');
    expect(JSON.stringify(sent.context) + sent.message).not.toContain('pw');
    const unsent = new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED');
    expect(neverSent(unsent)).toBe(true);
    expect(neverSent(new Error('14 UNAVAILABLE: Connection dropped'))).toBe(false);
  });
});
