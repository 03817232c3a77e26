// Membership administration over a member: what `capstan members` shows and changes, through
// the API server of any member (changes are carried out by the leader).
import type { ClusterStore } from './store.js';

export interface MemberRow {
  name: string;
  id: string;
  peerUrl: string;
  role: 'voter' | 'learner';
  leader: boolean;
  /** Highest log index the leader knows this member holds (the leader's own last index). */
  matchIndex: number | null;
}

export interface MembersAdmin {
  list(): Promise<{ clusterId: string; leader: string | null; term: number; commit: number; members: MemberRow[] }>;
  /** Adds a learner; the leader promotes it once it has caught up. */
  add(name: string, peerUrl: string): Promise<{ clusterId: string; members: MemberRow[] }>;
  remove(name: string): Promise<{ index: number }>;
  /**
   * Tests only (served when CAPSTAN_DEBUG_ROUTES=1): reads and writes under `/debug/` through
   * this member's store, and cutting its peer transport (a partition).
   */
  debug: {
    put(key: string, value: string): Promise<{ revision: number }>;
    get(key: string): Promise<{ value: string | null; revision: number }>;
    isolate(isolated: boolean): void;
  };
}

export function membersAdmin(store: ClusterStore): MembersAdmin {
  const member = store.member;
  const list = async () => {
    const s = await member.leaderStatus();
    const match = new Map((s.progress ?? []).map((p) => [p.id, p.match]));
    match.set(s.id, s.lastIndex);
    return {
      clusterId: store.clusterId,
      leader: s.leader,
      term: s.term,
      commit: s.commit,
      members: s.members.map(
        (m): MemberRow => ({
          name: m.name,
          id: m.id,
          peerUrl: m.peerUrl,
          role: m.voter ? 'voter' : 'learner',
          leader: m.id === s.leader,
          matchIndex: match.get(m.id) ?? null,
        }),
      ),
    };
  };
  return {
    list,
    async add(name, peerUrl) {
      await member.changeMembership({ op: 'add', name, url: peerUrl });
      const { members } = await list();
      return { clusterId: store.clusterId, members };
    },
    remove: (name) => member.changeMembership({ op: 'remove', name }),
    debug: {
      async put(key, value) {
        const r = await store.kv.put(`/debug/${key}`, value);
        return { revision: r.revision };
      },
      async get(key) {
        const r = await store.kv.range(`/debug/${key}`, { prefix: false });
        const kv = r.kvs[0];
        return { value: kv ? Buffer.from(kv.value).toString('utf8') : null, revision: r.revision };
      },
      isolate: (isolated) => member.setIsolated(isolated),
    },
  };
}
