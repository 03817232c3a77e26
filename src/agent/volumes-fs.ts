// Pod volumes on the node's filesystem: folders made, configMap/secret/downwardAPI/projected
// files written atomically the way the kubelet does (a new `..<timestamp>` folder, the
// `..data` symlink swapped by a rename, each top-level file a symlink through `..data`), and
// a pod's own volumes removed with it. File contents are never logged.

import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { CapstanError } from '../common/index.js';
import type { ContainerSpec, Pod } from '../api/cluster.js';
import type { EnvSourceRef } from './env.js';
import { containerMounts, planVolumes, podVolumesDir, volumeRefs, type ResolvedMount, type VolumeFile, type VolumePlan } from './volumes.js';

export type AsyncVolumeDataLookup = (ref: EnvSourceRef) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>;

const DATA = '..data';

function configError(message: string, context: Record<string, unknown>): CapstanError {
  return new CapstanError('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG', message, { context: { ...context, reason: 'CreateContainerConfigError' } });
}

/** `..2026_12_07_10_57_10.<random>`: the folder one version of a volume's files is written to. */
function versionName(now: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const stamp = `${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}`;
  return `..${stamp}.${randomBytes(5).toString('hex')}`;
}

/** The files below `dir` (relative paths), with contents and modes. */
async function readTree(dir: string, base = dir, out = new Map<string, { content: string; mode: number }>()): Promise<Map<string, { content: string; mode: number }>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await readTree(p, base, out);
    else if (entry.isFile()) out.set(relative(base, p).split(sep).join('/'), { content: await readFile(p, 'utf8'), mode: (await stat(p)).mode & 0o7777 });
  }
  return out;
}

function samePayload(current: Map<string, { content: string; mode: number }>, files: VolumeFile[]): boolean {
  if (current.size !== files.length) return false;
  return files.every((f) => {
    const c = current.get(f.path);
    return c !== undefined && c.content === f.content && c.mode === f.mode;
  });
}

/**
 * Makes `dir` hold exactly `files`, atomically for a reader: readers see the old set or the
 * new one, never a mix. Returns whether anything changed (an equal payload writes nothing).
 */
export async function writeAtomic(dir: string, files: VolumeFile[], now: Date = new Date()): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const old = await readlink(join(dir, DATA)).catch(() => undefined);
  if (old !== undefined) {
    const current = await readTree(join(dir, old)).catch(() => undefined);
    if (current !== undefined && samePayload(current, files)) return false;
  }
  const version = versionName(now);
  const target = join(dir, version);
  await mkdir(target, { mode: 0o755 });
  for (const f of files) {
    const p = join(target, f.path);
    await mkdir(dirname(p), { recursive: true, mode: 0o755 });
    await writeFile(p, f.content, { mode: f.mode });
    await chmod(p, f.mode); // the umask may have taken bits away
  }
  await chmod(target, 0o755);
  const tmp = join(dir, `${DATA}_tmp`);
  await rm(tmp, { force: true });
  await symlink(version, tmp);
  await rename(tmp, join(dir, DATA));
  // Top-level names are symlinks through ..data, so they follow the swap.
  const tops = new Set(files.map((f) => f.path.split('/')[0]));
  for (const top of tops) {
    const link = join(dir, top);
    const st = await lstat(link).catch(() => undefined);
    if (st?.isSymbolicLink() && (await readlink(link)) === join(DATA, top)) continue;
    if (st !== undefined) await rm(link, { recursive: true, force: true });
    await symlink(join(DATA, top), link);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..')) {
      if (entry !== DATA && entry !== version) await rm(join(dir, entry), { recursive: true, force: true });
      continue;
    }
    if (!tops.has(entry)) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return true;
}

async function exists(p: string): Promise<import('node:fs').Stats | undefined> {
  return stat(p).catch(() => undefined);
}

/** Makes (or checks) one volume's folder and files on the node. Returns whether files changed. */
export async function materialiseVolume(plan: VolumePlan, now?: Date): Promise<boolean> {
  switch (plan.kind) {
    case 'emptyDir': {
      const made = await mkdir(plan.dir, { recursive: true, mode: 0o777 });
      // Anyone in the pod may write, whatever user it runs as (Kubernetes' emptyDir is 0777).
      if (made !== undefined) await chmod(plan.dir, 0o777);
      return false;
    }
    case 'claim': {
      const made = await mkdir(plan.dir, { recursive: true, mode: 0o777 });
      if (made !== undefined) await chmod(plan.dir, 0o777);
      return false;
    }
    case 'files':
      return writeAtomic(plan.dir, plan.files, now);
    case 'hostPath': {
      const st = await exists(plan.dir);
      const type = plan.type;
      if (type === 'DirectoryOrCreate') {
        if (st === undefined) await mkdir(plan.dir, { recursive: true, mode: 0o755 });
        else if (!st.isDirectory()) throw configError(`hostPath ${plan.dir} is not a directory`, { volume: plan.name });
      } else if (type === 'FileOrCreate') {
        if (st === undefined) {
          await mkdir(dirname(plan.dir), { recursive: true, mode: 0o755 });
          await writeFile(plan.dir, '', { mode: 0o644, flag: 'a' });
        } else if (!st.isFile()) throw configError(`hostPath ${plan.dir} is not a file`, { volume: plan.name });
      } else if (type !== '') {
        const ok =
          st !== undefined &&
          ((type === 'Directory' && st.isDirectory()) ||
            (type === 'File' && st.isFile()) ||
            (type === 'Socket' && st.isSocket()) ||
            (type === 'CharDevice' && st.isCharacterDevice()) ||
            (type === 'BlockDevice' && st.isBlockDevice()));
        if (!ok) throw configError(`hostPath ${plan.dir} is not a ${type}${st === undefined ? ' (it does not exist)' : ''}`, { volume: plan.name });
      }
      return false;
    }
  }
}

/** Fetches the ConfigMaps and Secrets the pod's volumes name, then plans them. */
export async function resolveVolumePlans(pod: Pod, dataDir: string, lookup: AsyncVolumeDataLookup): Promise<VolumePlan[]> {
  const fetched = new Map<string, Record<string, string> | undefined>();
  for (const ref of volumeRefs(pod)) fetched.set(`${ref.kind}/${ref.name}`, await lookup(ref));
  return planVolumes(pod, dataDir, (ref) => fetched.get(`${ref.kind}/${ref.name}`));
}

/**
 * Makes every volume of the pod (again: what exists is kept, written files follow their
 * sources). The pod's own folder is made private to the node's root (0700). Returns the plans
 * and the names of the volumes whose files changed.
 */
export async function prepareVolumes(
  pod: Pod,
  dataDir: string,
  lookup: AsyncVolumeDataLookup,
  options: { now?: Date } = {},
): Promise<{ plans: VolumePlan[]; changed: string[] }> {
  const plans = await resolveVolumePlans(pod, dataDir, lookup);
  const own = podVolumesDir(dataDir, pod.metadata.namespace, pod.metadata.name);
  if (plans.some((p) => p.kind !== 'hostPath' && p.kind !== 'claim')) {
    // Made 0700 once; a runtime may open it to 0711 afterwards (the process runtime for its pod user).
    if ((await mkdir(own, { recursive: true, mode: 0o700 })) !== undefined) await chmod(own, 0o700);
  }
  const changed: string[] = [];
  for (const plan of plans) if (await materialiseVolume(plan, options.now)) changed.push(plan.name);
  return { plans, changed };
}

/**
 * The container's mounts with every subPath made: a missing subPath of a folder volume is
 * created as a folder (as the kubelet does); one of a files volume must exist and is resolved
 * through `..data` to the file itself.
 */
export async function resolveMounts(container: Pick<ContainerSpec, 'name' | 'volumeMounts'>, plans: VolumePlan[]): Promise<ResolvedMount[]> {
  const out: ResolvedMount[] = [];
  for (const m of containerMounts(container, plans)) {
    if (m.subPath === undefined) {
      out.push(m);
      continue;
    }
    const plan = plans.find((p) => p.name === m.volume)!;
    if (plan.kind === 'files') {
      const real = await realpath(m.source).catch(() => undefined);
      if (real === undefined) throw configError(`subPath "${m.subPath}" of volume "${m.volume}" does not exist (container "${container.name}")`, { volume: m.volume });
      out.push({ ...m, source: real, followPath: m.source });
      continue;
    }
    if ((await exists(m.source)) === undefined) {
      await mkdir(m.source, { recursive: true, mode: 0o777 });
      await chmod(m.source, 0o777);
    }
    out.push(m);
  }
  return out;
}

/** Removes the pod's own volumes (emptyDir and the written ones); claims and host paths stay. */
export async function removePodVolumes(dataDir: string, namespace: string, pod: string): Promise<void> {
  await rm(podVolumesDir(dataDir, namespace, pod), { recursive: true, force: true });
}
