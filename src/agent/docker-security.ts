// securityContext → Docker container settings: pure, so the mapping and the refusals
// (privileged on a node that does not allow it, runAsNonRoot with a root image) are tested
// without a daemon. The container's fields override the pod's, as in Kubernetes.

import type { PodSecurityContext, SecurityContext, SecurityProfile } from '../api/pod.js';

export interface EffectiveSecurity {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capAdd: string[];
  capDrop: string[];
  /** supplementalGroups, then fsGroup. */
  groups: number[];
  seccompProfile?: SecurityProfile;
  appArmorProfile?: SecurityProfile;
}

/** The container's securityContext laid over the pod's. */
export function effectiveSecurity(pod: PodSecurityContext | undefined, container: SecurityContext | undefined): EffectiveSecurity {
  const groups = [...(pod?.supplementalGroups ?? [])];
  if (pod?.fsGroup !== undefined && !groups.includes(pod.fsGroup)) groups.push(pod.fsGroup);
  const out: EffectiveSecurity = {
    capAdd: container?.capabilities?.add ?? [],
    capDrop: container?.capabilities?.drop ?? [],
    groups,
  };
  const pick = <K extends 'runAsUser' | 'runAsGroup' | 'runAsNonRoot' | 'seccompProfile' | 'appArmorProfile'>(k: K): void => {
    const v = container?.[k] ?? pod?.[k];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  };
  pick('runAsUser');
  pick('runAsGroup');
  pick('runAsNonRoot');
  pick('seccompProfile');
  pick('appArmorProfile');
  if (container?.readOnlyRootFilesystem !== undefined) out.readOnlyRootFilesystem = container.readOnlyRootFilesystem;
  if (container?.allowPrivilegeEscalation !== undefined) out.allowPrivilegeEscalation = container.allowPrivilegeEscalation;
  if (container?.privileged !== undefined) out.privileged = container.privileged;
  return out;
}

/** `NET_ADMIN` or `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays. */
export function dockerCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

export interface DockerSecuritySettings {
  /** Config.User, when the securityContext sets one. */
  user?: string;
  hostConfig: {
    Privileged?: boolean;
    ReadonlyRootfs?: boolean;
    CapAdd?: string[];
    CapDrop?: string[];
    GroupAdd?: string[];
    SecurityOpt: string[];
  };
  /** Fields set but not enforced (Localhost profiles), for a warning. */
  notEnforced: string[];
}

/** Why the container cannot be created (shown as CreateContainerConfigError), or undefined. */
export interface SecurityRefusal {
  refusal: string;
}

export interface DockerSecurityInput {
  pod?: PodSecurityContext;
  container?: SecurityContext;
  containerName: string;
  /** The image's Config.User ("" when it runs as root by default). */
  imageUser: string;
  /** The node runs privileged containers (`capstan agent --allow-privileged`). */
  allowPrivileged: boolean;
}

/**
 * The Docker settings for a container. By default the container gets no-new-privileges (a
 * setuid binary cannot raise what it runs as); `allowPrivilegeEscalation: true` or
 * `privileged: true` lifts it, as Kubernetes' default allows escalation.
 */
export function dockerSecurity(input: DockerSecurityInput): DockerSecuritySettings | SecurityRefusal {
  const sc = effectiveSecurity(input.pod, input.container);
  if (sc.privileged === true && !input.allowPrivileged) {
    return { refusal: `container "${input.containerName}" is privileged, and this node does not allow privileged containers (start the agent with --allow-privileged)` };
  }
  if (sc.runAsNonRoot === true) {
    const problem = nonRootProblem(sc.runAsUser, input.imageUser);
    if (problem !== undefined) return { refusal: `container "${input.containerName}": ${problem}` };
  }
  const hostConfig: DockerSecuritySettings['hostConfig'] = { SecurityOpt: [] };
  const notEnforced: string[] = [];
  if (sc.privileged === true) hostConfig.Privileged = true;
  else if (sc.allowPrivilegeEscalation !== true) hostConfig.SecurityOpt.push('no-new-privileges');
  if (sc.readOnlyRootFilesystem === true) hostConfig.ReadonlyRootfs = true;
  if (sc.capAdd.length > 0) hostConfig.CapAdd = sc.capAdd.map(dockerCapability);
  if (sc.capDrop.length > 0) hostConfig.CapDrop = sc.capDrop.map(dockerCapability);
  if (sc.groups.length > 0) hostConfig.GroupAdd = sc.groups.map(String);
  if (sc.seccompProfile?.type === 'Unconfined') hostConfig.SecurityOpt.push('seccomp=unconfined');
  else if (sc.seccompProfile?.type === 'Localhost') notEnforced.push('seccompProfile');
  if (sc.appArmorProfile?.type === 'Unconfined') hostConfig.SecurityOpt.push('apparmor=unconfined');
  else if (sc.appArmorProfile?.type === 'Localhost') notEnforced.push('appArmorProfile');
  const out: DockerSecuritySettings = { hostConfig, notEnforced };
  const user = dockerUser(sc.runAsUser, sc.runAsGroup, input.imageUser);
  if (user !== undefined) out.user = user;
  return out;
}

/** "uid", "uid:gid", or the image's user with the group replaced; undefined keeps the image's. */
export function dockerUser(runAsUser: number | undefined, runAsGroup: number | undefined, imageUser: string): string | undefined {
  if (runAsUser !== undefined) return runAsGroup !== undefined ? `${runAsUser}:${runAsGroup}` : String(runAsUser);
  if (runAsGroup === undefined) return undefined;
  const name = imageUser.split(':')[0] || '0';
  return `${name}:${runAsGroup}`;
}

/** The kubelet's runAsNonRoot check: a uid of 0, or an image user that is root or not numeric, is refused. */
export function nonRootProblem(runAsUser: number | undefined, imageUser: string): string | undefined {
  if (runAsUser !== undefined) return runAsUser === 0 ? 'runAsNonRoot is set and runAsUser is 0 (root)' : undefined;
  const user = imageUser.split(':')[0] ?? '';
  if (user === '' || user === 'root' || user === '0') return 'runAsNonRoot is set and the image will run as root (set runAsUser, or a non-root USER in the image)';
  if (!/^[0-9]+$/.test(user)) return `runAsNonRoot is set and the image has a non-numeric user (${user}): cannot verify that it is not root (set runAsUser)`;
  return undefined;
}
