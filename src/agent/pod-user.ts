// Who process-runtime pods run as. A Capstan running as root starts every pod as `nobody`
// (its uid and gid from /etc/passwd, else 65534:65534), with no supplementary groups: the
// pod then cannot read the data dir (0700) or its tokens (0600), nor write outside what
// Unix permissions grant `nobody`. A Capstan that is not root cannot switch users, so its
// pods run as itself. `nobody` rather than a user of our own: it exists on every system and
// nothing is added to the host's user database; the cost is that pods share it with any
// other service that runs as `nobody` (see README, "What the process runtime does not isolate").

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PodUser {
  name: string;
  uid: number;
  gid: number;
}

export const NOBODY_FALLBACK: PodUser = { name: 'nobody', uid: 65534, gid: 65534 };

/** The entry for `name` in /etc/passwd text (`name:x:uid:gid:...`), or undefined. */
export function findPasswdUser(passwd: string, name: string): PodUser | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] !== name || f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 && gid > 0) return { name, uid, gid };
  }
  return undefined;
}

/**
 * The user pods run as: `nobody` when Capstan runs as root (uid 0), undefined when it
 * cannot switch users (any other uid, or a platform without uids).
 */
export function defaultPodUser(selfUid: number | undefined, readPasswd: () => string = () => readFileSync('/etc/passwd', 'utf8')): PodUser | undefined {
  if (selfUid !== 0) return undefined;
  let passwd = '';
  try {
    passwd = readPasswd();
  } catch {
    // No passwd file: the conventional ids.
  }
  return findPasswdUser(passwd, 'nobody') ?? NOBODY_FALLBACK;
}

/** One line for the console and the log: who pods run as, and what that means. */
export function describePodUser(user: PodUser | undefined, selfUid: number | undefined): string {
  if (user !== undefined) return `pods run as user ${user.name} (uid ${user.uid})`;
  const who = selfUid === undefined ? "Capstan's own user" : `Capstan's own user (uid ${selfUid})`;
  return `pods run as ${who}: Capstan is not root, so it cannot switch users, and pods can read whatever it can, its data dir and tokens too`;
}

/** Permission to search (x) a directory with this mode and owner, for `user` (no supplementary groups). */
export function canSearch(mode: number, owner: { uid: number; gid: number }, user: PodUser): boolean {
  if (owner.uid === user.uid) return (mode & 0o100) !== 0;
  if (owner.gid === user.gid) return (mode & 0o010) !== 0;
  return (mode & 0o001) !== 0;
}

/**
 * Whether `user` could reach `dir` on its own: every directory from / down to it searchable.
 * The runtime checks this for an absolute workingDir, since the process enters its working
 * dir before it drops root, and would otherwise be handed a directory it could not enter.
 */
export function userCanReach(dir: string, user: PodUser): boolean {
  let path: string;
  try {
    path = realpathSync(dir);
  } catch {
    return false;
  }
  for (;;) {
    const st = statSync(path);
    if (!st.isDirectory() || !canSearch(st.mode, st, user)) return false;
    const parent = dirname(path);
    if (parent === path) return true;
    path = parent;
  }
}

export interface ContainerIdentity {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
}

export type ContainerUserDecision = { user: PodUser | undefined; ignored?: true } | { refusal: string };

/**
 * Who one process-runtime container runs as. runAsUser and runAsGroup replace the pod user's
 * ids when Capstan can switch users (it runs as root); otherwise they are ignored (`ignored`,
 * for a warning). uid or gid 0 is the host's root here, with nothing around it: refused unless
 * the node allows privileged containers. runAsNonRoot refuses a container that would run as uid 0.
 */
export function containerUser(base: PodUser | undefined, selfUid: number | undefined, sc: ContainerIdentity, allowPrivileged: boolean): ContainerUserDecision {
  const asks = sc.runAsUser !== undefined || sc.runAsGroup !== undefined;
  let user = base;
  let ignored = false;
  if (asks && base === undefined) ignored = true;
  else if (asks && base !== undefined) {
    const uid = sc.runAsUser ?? base.uid;
    const gid = sc.runAsGroup ?? base.gid;
    if ((uid === 0 || gid === 0) && !allowPrivileged) {
      return { refusal: 'runAsUser or runAsGroup 0 would run the process as root on the host: the process runtime refuses it unless the agent runs with --allow-privileged' };
    }
    user = { name: uid === base.uid ? base.name : `uid ${uid}`, uid, gid };
  }
  const effectiveUid = user?.uid ?? selfUid;
  if (sc.runAsNonRoot === true && effectiveUid === 0) return { refusal: 'runAsNonRoot is set and the process would run as root (uid 0)' };
  return ignored ? { user, ignored: true } : { user };
}
