// Membership of a group member, one member at a time: a new member joins as a learner and is
// promoted by the leader once it has caught up; names and peer URLs travel in the changes'
// context, so every member's transport learns new peers.
import { CapstanError } from '../../common/index.js';
import type { ConfChange, RaftConfig } from '../raft/index.js';
import { memberIdFor, normalisePeerUrl, type PeerSpec } from './ids.js';
import { closedError, hex, unavailable, type Applied } from './member-base.js';
import { MemberForwarding } from './member-forward.js';
import type { MembershipRequest } from './transport.js';

export abstract class MemberMembership extends MemberForwarding {
  protected promoting = false;

  /** Names and URLs from a change's context; the transport learns new peers. */
  protected learnMembers(cc: ConfChange): void {
    if (cc.type !== 'addLearner' || !cc.context) return;
    const spec = parseContext(cc.context);
    if (!spec) return;
    this.names.set(cc.id, spec);
    if (cc.id !== this.id) this.transport.setPeer(cc.id, spec.url);
  }

  protected appliedMembership(cc: ConfChange): void {
    this.learnMembers(cc);
    const name = this.names.get(cc.id)?.name ?? hex(cc.id);
    this.logger?.info({ change: cc.type, member: name }, 'membership change applied');
    if (cc.type === 'remove') {
      if (cc.id === this.id) this.logger?.warn('this member was removed from the group; stop it');
      else this.transport.removePeer(cc.id);
    }
  }

  /** On the leader: add (as a learner), promote or remove a member; resolves once applied. */
  async changeMembership(req: MembershipRequest): Promise<{ index: number }> {
    if (this.closed) throw closedError();
    if (!this.raft.isLeader) {
      const leader = await this.waitForLeader(this.deadline());
      if (leader !== this.id) return this.transport.forwardMembership(leader, req, this.requestTimeoutMs);
    }
    const id = memberIdFor(req.name);
    let cc: ConfChange;
    if (req.op === 'add') {
      const url = normalisePeerUrl(req.url ?? '');
      const scheme = this.transport.url.startsWith('https://') ? 'https:' : 'http:';
      if (new URL(url).protocol !== scheme) {
        throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `the new member's peer URL ${url} must use ${scheme}// like the rest of the group`);
      }
      cc = { type: 'addLearner', id, context: JSON.stringify({ name: req.name, url }) };
    } else if (req.op === 'promote') cc = { type: 'promote', id };
    else cc = { type: 'remove', id };
    const deadline = this.deadline();
    for (;;) {
      const r = this.raft.proposeConfChange(cc);
      if (r.ok) {
        const applied = new Promise<Applied>((resolve, reject) => this.inflight.set(r.index, { resolve, reject, term: this.raft.term, deadline }));
        void this.kick();
        await applied;
        return { index: r.index };
      }
      if (r.reason === 'invalid') {
        throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `cannot ${req.op} member ${req.name}: ${req.op === 'add' ? 'it is already a member' : 'it is not a member (or is the last voter)'}`, {
          context: { member: req.name },
        });
      }
      if (r.reason === 'not-leader') throw this.notLeader();
      if (this.clock.now() >= deadline) {
        throw unavailable(`the membership change could not start: ${r.reason === 'not-caught-up' ? 'the learner has not caught up yet' : 'another change is in progress'}`, {
          member: req.name,
          reason: r.reason,
        });
      }
      await this.pause(this.tickMs * 2);
    }
  }

  /** The leader promotes learners that have caught up with its commit index. */
  protected promoteCaughtUp(): void {
    if (!this.raft.isLeader || this.promoting) return;
    const s = this.raft.state;
    if (s.role !== 'leader') return;
    for (const learner of this.raft.config.learners) {
      const p = s.progress.get(learner);
      if (!p) continue;
      // A lagging learner gets appends on its heartbeat answers (the core), even when idle.
      if (p.match < this.raft.commit) continue;
      const name = this.names.get(learner)?.name;
      if (!name) continue;
      this.promoting = true;
      this.changeMembership({ op: 'promote', name })
        .then(() => this.logger?.info({ member: name }, 'promoted a learner that caught up'))
        .catch((err: unknown) => this.logger?.debug({ err, member: name }, 'promotion not done yet'))
        .finally(() => {
          this.promoting = false;
        });
      return;
    }
  }

  /** Names and URLs of the members of `c`. */
  protected members(c: RaftConfig): PeerSpec[] {
    const ids = new Set([...c.voters, ...c.learners]);
    return [...this.names].filter(([id]) => ids.has(id)).map(([, p]) => p);
  }
}

function parseContext(context: string): PeerSpec | undefined {
  try {
    const v = JSON.parse(context) as { name?: unknown; url?: unknown };
    return typeof v.name === 'string' && typeof v.url === 'string' ? { name: v.name, url: v.url } : undefined;
  } catch {
    return undefined;
  }
}

/** The member list after a change in the log (names and URLs of an added learner). */
export function withChange(members: PeerSpec[], cc: ConfChange): PeerSpec[] {
  if (cc.type !== 'addLearner' || !cc.context) return members;
  const spec = parseContext(cc.context);
  if (!spec) return members;
  return [...members.filter((m) => m.name !== spec.name), spec];
}

/** Members from a snapshot, with URLs from the command line for those it names again. */
export function mergeMembers(fromSnapshot: PeerSpec[], fromFlags: PeerSpec[]): PeerSpec[] {
  const byName = new Map(fromSnapshot.map((p) => [p.name, p]));
  for (const p of fromFlags) if (!byName.has(p.name)) byName.set(p.name, p);
  return [...byName.values()];
}
