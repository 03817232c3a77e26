import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A real folder with the given files (path → text), removed by `cleanup`. */
export async function makeRepoDir(files: Record<string, string>): Promise<{ root: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-chart-'));
  await writeFiles(root, files);
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
}

export async function link(root: string, target: string, path: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await symlink(target, join(root, path));
}

/** A minimal chart: Chart.yaml, optional values/schema, and the given templates. */
export function chartFiles(dir: string, templates: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { [`${dir}/Chart.yaml`]: `name: ${dir.split('/').pop()}\nversion: 0.1.0\n` };
  for (const [name, text] of Object.entries(templates)) out[`${dir}/templates/${name}`] = text;
  for (const [name, text] of Object.entries(extra)) out[`${dir}/${name}`] = text;
  return out;
}
