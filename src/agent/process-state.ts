// The process runtime's on-disk state: one small JSON file per container, so a restarted
// agent can find the processes it started. A file whose pid is gone, or now belongs to a
// different process (pid reuse: the kernel start time differs), is stale.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRef, PortBinding } from './runtime.js';

export interface ProcessStateFile {
  version: 1;
  id: string;
  ref: ContainerRef;
  labels: Record<string, string>;
  ports: PortBinding[];
  command: string[];
  cwd: string;
  logPath: string;
  pid?: number;
  /** Kernel start time of the process (clock ticks since boot, /proc/<pid>/stat field 22). */
  procStart?: string;
  startedAt?: number;
  /** The container's own uid and gid (securityContext), when they differ from the runtime's pod user. */
  uid?: number;
  gid?: number;
}

export function stateDirFor(root: string): string {
  return join(root, 'containers');
}

export async function writeState(root: string, state: ProcessStateFile): Promise<void> {
  const dir = stateDirFor(root);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${state.id}.json`);
  // Write then rename, so a crash mid-write never leaves half a file behind.
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await rename(tmp, file);
}

export async function removeState(root: string, id: string): Promise<void> {
  await rm(join(stateDirFor(root), `${id}.json`), { force: true });
}

/** Every readable state file; unreadable or foreign files are skipped (and left alone). */
export async function readStates(root: string): Promise<ProcessStateFile[]> {
  let names: string[];
  try {
    names = await readdir(stateDirFor(root));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ProcessStateFile[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json')) continue;
    try {
      const parsed = JSON.parse(await readFile(join(stateDirFor(root), name), 'utf8')) as ProcessStateFile;
      if (parsed.version === 1 && typeof parsed.id === 'string' && `${parsed.id}.json` === name) out.push(parsed);
    } catch {
      // A torn or foreign file: not ours to adopt.
    }
  }
  return out;
}

/** The kernel start time of `pid`, or undefined when it is not running (or is a zombie) or /proc is absent. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function hasProc(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is alive and, where /proc can tell, is the same process that was recorded. */
export function processMatches(pid: number, procStart: string | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (!hasProc()) return true;
  const now = procStartTime(pid);
  return now !== undefined && (procStart === undefined || now === procStart);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
