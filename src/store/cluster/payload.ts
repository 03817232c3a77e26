// What a member's snapshot holds: the MVCC state and the member table (names and peer URLs
// of every id in the configuration), so a member restored from a snapshot, on disk or sent
// by the leader, knows where its peers are.
// The membership in effect at the snapshot goes along, as the WAL keeps only index and term.
// Layout: [magic u32 "CSC1"][json length u32][json][MVCC snapshot bytes].
import { CapstanError } from '../../common/index.js';
import { decodeSnapshot, encodeSnapshot, type MvccState } from '../mvcc/index.js';
import type { RaftConfig } from '../raft/index.js';
import type { PeerSpec } from './ids.js';

const MAGIC = 0x43534331;

export interface SnapshotPayload {
  mvcc: MvccState;
  members: PeerSpec[];
  /** The membership in effect at the snapshot's index. */
  config: RaftConfig;
}

export function encodePayload(mvcc: MvccState, members: PeerSpec[], config: RaftConfig): Uint8Array {
  const json = Buffer.from(JSON.stringify({ members, config }));
  const state = encodeSnapshot(mvcc);
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(json.length, 4);
  return Buffer.concat([head, json, state]);
}

export function decodePayload(data: Uint8Array): SnapshotPayload {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) {
    throw new CapstanError('CAPSTAN_ERR_STORE_CORRUPT', 'the snapshot is not a Raft group member snapshot');
  }
  const len = buf.readUInt32LE(4);
  const meta = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as { members: PeerSpec[]; config: RaftConfig };
  return { members: meta.members, config: meta.config, mvcc: decodeSnapshot(buf.subarray(8 + len)) };
}
