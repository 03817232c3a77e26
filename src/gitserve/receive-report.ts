// A receive-pack answer written by Capstan itself, for a push refused before git stored it:
// the request's commands are read from the start of its body (pkt-lines up to the first
// flush), and the answer is the report git prints for a failed push: `unpack <reason>` and
// `ng <ref> <reason>` for every ref, inside side-band 1 (with the reason on side-band 2 as
// well, which git shows as `remote: ...`) when the client asked for side-band-64k.

export interface RefUpdate {
  ref: string;
  /** All zeros when the ref is created. */
  old: string;
  /** All zeros when the ref is deleted. */
  new: string;
}

export interface ReceiveCommands {
  updates: RefUpdate[];
  capabilities: string[];
  /** False until the flush that ends the command list has been read. */
  complete: boolean;
}

/** The ref updates at the start of a git-receive-pack request body (as much as is there). */
export function parseReceiveCommands(body: Buffer): ReceiveCommands {
  const out: ReceiveCommands = { updates: [], capabilities: [], complete: false };
  let at = 0;
  while (at + 4 <= body.length) {
    const len = Number.parseInt(body.subarray(at, at + 4).toString('latin1'), 16);
    if (!Number.isFinite(len)) break;
    if (len === 0) {
      out.complete = true;
      break;
    }
    if (len < 4 || at + len > body.length) break;
    let line = body.subarray(at + 4, at + len).toString('utf8');
    at += len;
    const nul = line.indexOf('\0');
    if (nul >= 0) {
      if (out.updates.length === 0) out.capabilities = line.slice(nul + 1).trim().split(/\s+/).filter(Boolean);
      line = line.slice(0, nul);
    }
    line = line.replace(/\n$/, '');
    const m = /^([0-9a-f]{40,64}) ([0-9a-f]{40,64}) (\S+)$/.exec(line);
    if (m) out.updates.push({ ref: m[3]!, old: m[1]!, new: m[2]! });
  }
  return out;
}

function pkt(payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0'), 'latin1'), data]);
}

const FLUSH = Buffer.from('0000', 'latin1');

/** The body of a `application/x-git-receive-pack-result` refusing every ref with `reason`. */
export function refusalReport(commands: ReceiveCommands, reason: string): Buffer {
  const oneLine = reason.replace(/\s+/g, ' ').trim();
  const report = Buffer.concat([pkt(`unpack ${oneLine}\n`), ...commands.updates.map((u) => pkt(`ng ${u.ref} ${oneLine}\n`)), FLUSH]);
  if (!commands.capabilities.includes('side-band-64k') && !commands.capabilities.includes('side-band')) return report;
  const max = commands.capabilities.includes('side-band-64k') ? 65515 : 995;
  const parts: Buffer[] = [pkt(Buffer.concat([Buffer.from([2]), Buffer.from(`${oneLine}\n`, 'utf8')]))];
  for (let i = 0; i < report.length; i += max) parts.push(pkt(Buffer.concat([Buffer.from([1]), report.subarray(i, i + max)])));
  parts.push(FLUSH);
  return Buffer.concat(parts);
}
