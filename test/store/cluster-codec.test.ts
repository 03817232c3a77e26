// The peer wire formats: every Raft message type survives a binary round trip, and results
// with bytes survive the JSON form. Also --peers parsing and the ids derived from it.
import { describe, expect, it } from 'vitest';
import { decodeMessages, encodeMessages, fromWireJson, toWireJson } from '../../src/store/cluster/codec.js';
import { clusterIdFor, memberIdFor, parsePeers } from '../../src/store/cluster/index.js';
import { isCapstanError } from '../../src/common/index.js';
import type { RaftMessage } from '../../src/store/raft/index.js';

const env = { from: 0x1234567890ab, to: 7, term: 42 };
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

const ALL: RaftMessage[] = [
  { type: 'vote', ...env, lastLogIndex: 10, lastLogTerm: 3 },
  { type: 'vote', ...env, lastLogIndex: 10, lastLogTerm: 3, transfer: true },
  { type: 'voteResponse', ...env, granted: true },
  { type: 'preVote', ...env, lastLogIndex: 9, lastLogTerm: 2 },
  { type: 'preVoteResponse', ...env, granted: false },
  { type: 'append', ...env, prevLogIndex: 5, prevLogTerm: 4, commit: 3, entries: [{ term: 4, index: 6, data: bytes('x') }, { term: 4, index: 7, data: new Uint8Array(0) }] },
  { type: 'appendResponse', ...env, success: true, matchIndex: 7 },
  { type: 'appendResponse', ...env, success: false, matchIndex: 2, rejectIndex: 5, hintTerm: 1 },
  { type: 'heartbeat', ...env, commit: 9 },
  { type: 'heartbeat', ...env, commit: 9, context: 77 },
  { type: 'heartbeatResponse', ...env },
  { type: 'heartbeatResponse', ...env, context: 77 },
  { type: 'snapshot', ...env, snapshot: { index: 100, term: 5, config: { voters: [1, 2, 3], learners: [4] }, data: bytes('state') } },
  { type: 'readIndex', ...env, requestId: 'r-1' },
  { type: 'readIndexResponse', ...env, requestId: 'r-1', index: -1 },
  { type: 'timeoutNow', ...env },
];

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

describe('peer codec', () => {
  it('round-trips every message type in one batch', () => {
    const back = decodeMessages(encodeMessages(ALL));
    expect(plain(back)).toEqual(plain(ALL));
  });

  it('refuses trailing garbage and unknown types', () => {
    const buf = Buffer.concat([encodeMessages(ALL.slice(0, 1)), Buffer.from([1])]);
    expect(() => decodeMessages(buf)).toThrow(/left/);
    const bad = encodeMessages(ALL.slice(0, 1));
    bad[4] = 200;
    expect(() => decodeMessages(bad)).toThrow(/unknown/);
  });

  it('carries byte arrays through JSON as base64', () => {
    const v = { kvs: [{ key: 'k', value: bytes('v\u0000\u00ff') }], prevKv: { value: Buffer.from('p') } };
    const back = fromWireJson<typeof v>(toWireJson(v));
    expect(Buffer.from(back.kvs[0]!.value).toString()).toBe('v\u0000\u00ff');
    expect(back.prevKv.value).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(back.prevKv.value).toString()).toBe('p');
  });
});

describe('--peers and ids', () => {
  it('parses name=url pairs and refuses what is not one', () => {
    expect(parsePeers('a=http://127.0.0.1:7481, b=http://localhost:7482/')).toEqual([
      { name: 'a', url: 'http://127.0.0.1:7481' },
      { name: 'b', url: 'http://localhost:7482' },
    ]);
    for (const bad of ['', 'a', 'a=ftp://x:1', 'a=http://127.0.0.1', 'A=http://127.0.0.1:1', 'a=http://h:1,a=http://h:2']) {
      let err: unknown;
      try {
        parsePeers(bad);
      } catch (e) {
        err = e;
      }
      expect(isCapstanError(err, 'CAPSTAN_ERR_CLI_USAGE'), bad).toBe(true);
    }
  });

  it('derives the same ids from the same names, and a cluster id from the whole list', () => {
    expect(memberIdFor('a')).toBe(memberIdFor('a'));
    expect(memberIdFor('a')).not.toBe(memberIdFor('b'));
    expect(Number.isSafeInteger(memberIdFor('a')) && memberIdFor('a') > 0).toBe(true);
    const peers = parsePeers('a=http://127.0.0.1:1,b=http://127.0.0.1:2');
    expect(clusterIdFor('capstan', peers)).toBe(clusterIdFor('capstan', [...peers].reverse()));
    expect(clusterIdFor('capstan', peers)).not.toBe(clusterIdFor('other', peers));
  });
});
