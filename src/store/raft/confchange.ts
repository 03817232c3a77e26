// Membership changes as log entries. The data starts with a tag no state-machine command
// uses (MVCC command tags are small integers), so any member tells them apart without
// context: [0xCC][kind u8][id f64][context UTF-8...].
import type { ConfChange, RaftConfig } from './types.js';

export const CONF_CHANGE_TAG = 0xcc;
const KINDS = ['addLearner', 'promote', 'remove'] as const;

export function isConfChange(data: Uint8Array): boolean {
  return data.length >= 10 && data[0] === CONF_CHANGE_TAG;
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = new TextEncoder().encode(cc.context ?? '');
  const out = new Uint8Array(10 + ctx.length);
  const view = new DataView(out.buffer);
  out[0] = CONF_CHANGE_TAG;
  out[1] = KINDS.indexOf(cc.type);
  view.setFloat64(2, cc.id);
  out.set(ctx, 10);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (!isConfChange(data)) throw new RangeError('not a membership change entry');
  const type = KINDS[data[1]!];
  if (!type) throw new RangeError(`unknown membership change kind ${data[1]}`);
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(2);
  const cc: ConfChange = { type, id };
  if (data.length > 10) cc.context = new TextDecoder().decode(data.subarray(10));
  return cc;
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
