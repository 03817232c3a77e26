// Membership changes as log entries. The data starts with a tag no state-machine command
// uses (MVCC command tags are small integers), so any member tells them apart without
// context. Each entry carries the whole configuration it results in, so a member that
// replays the log (or joins with nothing) ends with the same membership as everyone else:
// [0xCC][kind u8][id f64][voters u16][f64...][learners u16][f64...][context UTF-8...].
import type { ConfChange, RaftConfig } from './types.js';

export const CONF_CHANGE_TAG = 0xcc;
const KINDS = ['addLearner', 'promote', 'remove'] as const;

export function isConfChange(data: Uint8Array): boolean {
  return data.length >= 14 && data[0] === CONF_CHANGE_TAG;
}

/** Encodes `cc` with the configuration it results in. */
export function encodeConfChange(cc: ConfChange, config: RaftConfig): Uint8Array {
  const ctx = new TextEncoder().encode(cc.context ?? '');
  const out = new Uint8Array(14 + 8 * (config.voters.length + config.learners.length) + ctx.length);
  const view = new DataView(out.buffer);
  out[0] = CONF_CHANGE_TAG;
  out[1] = KINDS.indexOf(cc.type);
  view.setFloat64(2, cc.id);
  let at = 10;
  for (const list of [config.voters, config.learners]) {
    view.setUint16(at, list.length);
    at += 2;
    for (const m of list) {
      view.setFloat64(at, m);
      at += 8;
    }
  }
  out.set(ctx, at);
  return out;
}

/** The change and the configuration it results in. */
export function decodeConfEntry(data: Uint8Array): { change: ConfChange; config: RaftConfig } {
  if (!isConfChange(data)) throw new RangeError('not a membership change entry');
  const type = KINDS[data[1]!];
  if (!type) throw new RangeError(`unknown membership change kind ${data[1]}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const change: ConfChange = { type, id: view.getFloat64(2) };
  let at = 10;
  const lists: number[][] = [];
  for (let l = 0; l < 2; l++) {
    const n = view.getUint16(at);
    at += 2;
    const list: number[] = [];
    for (let i = 0; i < n; i++, at += 8) list.push(view.getFloat64(at));
    lists.push(list);
  }
  if (at > data.length) throw new RangeError('truncated membership change entry');
  if (data.length > at) change.context = new TextDecoder().decode(data.subarray(at));
  return { change, config: { voters: lists[0]!, learners: lists[1]! } };
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  return decodeConfEntry(data).change;
}

/** The configuration after `cc`; undefined when the change does not apply to `config`. */
export function applyConfChange(config: RaftConfig, cc: ConfChange): RaftConfig | undefined {
  const voter = config.voters.includes(cc.id);
  const learner = config.learners.includes(cc.id);
  switch (cc.type) {
    case 'addLearner':
      if (voter || learner) return undefined;
      return { voters: [...config.voters], learners: [...config.learners, cc.id] };
    case 'promote':
      if (!learner) return undefined;
      return { voters: [...config.voters, cc.id], learners: config.learners.filter((m) => m !== cc.id) };
    case 'remove':
      if (!voter && !learner) return undefined;
      if (voter && config.voters.length === 1) return undefined;
      return { voters: config.voters.filter((m) => m !== cc.id), learners: config.learners.filter((m) => m !== cc.id) };
  }
}
