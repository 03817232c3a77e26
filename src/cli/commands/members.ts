// `capstan members list|add|remove`: the members of the Raft group behind a server (admin).
import type { MemberRow } from '../../store/index.js';
import { connect, type ConnectionOptions } from '../api-client.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

export interface MembersOptions extends ConnectionOptions {
  output?: 'text' | 'json';
}

interface MemberList {
  clusterId: string;
  leader: string | null;
  term: number;
  commit: number;
  members: MemberRow[];
}

function rows(members: MemberRow[]): string {
  return table(
    ['NAME', 'ID', 'PEER URL', 'ROLE', 'LEADER', 'MATCH INDEX'],
    members.map((m) => [m.name, m.id, m.peerUrl, m.role, m.leader ? 'yes' : '', m.matchIndex === null ? '' : String(m.matchIndex)]),
  );
}

export async function runMembersList(io: CliIO, opts: MembersOptions): Promise<void> {
  const list = await connect(io, opts).get<MemberList>('/api/v1/members');
  if (opts.output === 'json') return void io.out(`${JSON.stringify(list, null, 2)}\n`);
  io.out(`cluster ${list.clusterId}, term ${list.term}, commit index ${list.commit}\n${rows(list.members)}`);
}

export async function runMembersAdd(io: CliIO, name: string, peerUrl: string, opts: MembersOptions): Promise<void> {
  const r = await connect(io, opts).post<{ clusterId: string; members: MemberRow[] }>('/api/v1/members', { name, peerUrl });
  if (opts.output === 'json') return void io.out(`${JSON.stringify(r, null, 2)}\n`);
  const peers = r.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  io.out(
    [
      `added ${name} as a learner; it is promoted to a voter once it has caught up.`,
      'Start it with (its own --port and --data-dir, the same token file):',
      `  capstan server --name ${name} --join --cluster-id ${r.clusterId} \\`,
      `    --peers ${peers} --cluster-token-file cluster.token`,
      '',
    ].join('\n'),
  );
}

export async function runMembersRemove(io: CliIO, name: string, opts: MembersOptions): Promise<void> {
  await connect(io, opts).post(`/api/v1/members/${encodeURIComponent(name)}/remove`, {});
  io.out(`removed ${name}; stop its process now.\n`);
}
