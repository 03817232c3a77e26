import { describe, expect, it, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, lstatSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '../../src/api/cluster.js';
import type { Volume } from '../../src/api/pod.js';
import {
  claimVolumePath,
  containerMounts,
  downwardValue,
  planVolumes,
  podVolumesDir,
  volumeEnvName,
  volumeFiles,
  volumeRefs,
  type VolumeDataLookup,
} from '../../src/agent/volumes.js';
import { prepareVolumes, removePodVolumes, resolveMounts, writeAtomic } from '../../src/agent/volumes-fs.js';
import { makePod } from './pods.js';

const objects: Record<string, Record<string, string>> = {
  'ConfigMap/app': { 'app.conf': 'port=80', 'other.txt': 'x', 'bad/key': 'never' },
  'Secret/creds': { password: 's3cret', user: 'admin' },
};
const lookup: VolumeDataLookup = (ref) => objects[`${ref.kind}/${ref.name}`];

function podWith(volumes: Volume[]): Pod {
  const pod = makePod('web', [{ name: 'main', image: 'x', volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/mnt/${v.name}` })) }], { volumes, nodeName: 'n1' });
  pod.metadata.annotations = { 'b.io/x': 'say "hi"', a: '1' };
  return pod;
}

describe('volume files (pure)', () => {
  it('writes one file per key with the default mode 0644, skipping keys that are no file names', () => {
    const v: Volume = { name: 'cfg', configMap: { name: 'app' } };
    expect(volumeFiles(v, podWith([v]), lookup)).toEqual([
      { path: 'app.conf', content: 'port=80', mode: 0o644 },
      { path: 'other.txt', content: 'x', mode: 0o644 },
    ]);
  });

  it('applies defaultMode, items with paths and per-item modes', () => {
    const v: Volume = { name: 's', secret: { secretName: 'creds', defaultMode: 0o400, items: [{ key: 'password', path: 'db/pass' }, { key: 'user', path: 'u', mode: 0o640 }] } };
    expect(volumeFiles(v, podWith([v]), lookup)).toEqual([
      { path: 'db/pass', content: 's3cret', mode: 0o400 },
      { path: 'u', content: 'admin', mode: 0o640 },
    ]);
  });

  it('reads a mode written as octal digits (644) as 0o644', () => {
    const v: Volume = { name: 'cfg', configMap: { name: 'app', defaultMode: 644, items: [{ key: 'other.txt', path: 'o' }] } };
    expect(volumeFiles(v, podWith([v]), lookup)[0].mode).toBe(0o644);
  });

  it('fails on a missing object or key unless optional', () => {
    const gone: Volume = { name: 'cfg', configMap: { name: 'nope' } };
    expect(() => volumeFiles(gone, podWith([gone]), lookup)).toThrow(/volume "cfg": configmap "nope" not found/);
    const key: Volume = { name: 's', secret: { secretName: 'creds', items: [{ key: 'token', path: 't' }] } };
    expect(() => volumeFiles(key, podWith([key]), lookup)).toThrow(/key "token" in secret "creds" not found/);
    try {
      volumeFiles(key, podWith([key]), lookup);
    } catch (err) {
      expect((err as { code: string }).code).toBe('CAPSTAN_ERR_AGENT_CONTAINER_CONFIG');
    }
    expect(volumeFiles({ name: 'cfg', configMap: { name: 'nope', optional: true } }, podWith([]), lookup)).toEqual([]);
    expect(volumeFiles({ name: 's', secret: { secretName: 'creds', optional: true, items: [{ key: 'token', path: 't' }, { key: 'user', path: 'u' }] } }, podWith([]), lookup)).toEqual([
      { path: 'u', content: 'admin', mode: 0o644 },
    ]);
  });

  it('writes downward API fields, and projected sources into one volume', () => {
    const v: Volume = {
      name: 'info',
      projected: {
        defaultMode: 0o444,
        sources: [
          { configMap: { name: 'app', items: [{ key: 'app.conf', path: 'app.conf' }] } },
          { secret: { name: 'creds', items: [{ key: 'user', path: 'user' }] } },
          { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }, { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }, { path: 'app', fieldRef: { fieldPath: "metadata.labels['app']" } }] } },
        ],
      },
    };
    const pod = podWith([v]);
    expect(volumeFiles(v, pod, lookup)).toEqual([
      { path: 'app.conf', content: 'port=80', mode: 0o444 },
      { path: 'user', content: 'admin', mode: 0o444 },
      { path: 'name', content: 'web', mode: 0o444 },
      { path: 'annotations', content: 'a="1"\nb.io/x="say \\"hi\\""', mode: 0o444 },
      { path: 'app', content: 'web', mode: 0o444 },
    ]);
    expect(downwardValue(pod, 'metadata.namespace')).toBe('default');
    expect(downwardValue(pod, 'spec.nodeName')).toBe('n1');
    expect(downwardValue(pod, 'metadata.uid')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(volumeRefs(pod)).toEqual([{ kind: 'ConfigMap', name: 'app' }, { kind: 'Secret', name: 'creds' }]);
  });

  it('places volumes under the data dir; claims outside the pod; mounts share one folder', () => {
    const volumes: Volume[] = [
      { name: 'scratch', emptyDir: {} },
      { name: 'data', persistentVolumeClaim: { claimName: 'db', readOnly: true } },
      { name: 'host', hostPath: { path: '/var/log' } },
    ];
    const pod = makePod('web', [
      { name: 'a', image: 'x', volumeMounts: [{ name: 'scratch', mountPath: '/s' }, { name: 'data', mountPath: '/d' }] },
      { name: 'b', image: 'x', volumeMounts: [{ name: 'scratch', mountPath: '/t', subPath: 'sub/dir', readOnly: true }, { name: 'host', mountPath: '/h' }] },
    ], { volumes });
    const plans = planVolumes(pod, '/data', lookup);
    expect(plans.map((p) => [p.kind, p.dir])).toEqual([
      ['emptyDir', '/data/pods/default/web/volumes/scratch'],
      ['claim', '/data/volumes/default/db'],
      ['hostPath', '/var/log'],
    ]);
    expect(claimVolumePath('/data', 'team-a', 'db')).toBe('/data/volumes/team-a/db');
    expect(podVolumesDir('/data', 'ns', 'p')).toBe('/data/pods/ns/p/volumes');
    expect(containerMounts(pod.spec.containers[0], plans)).toEqual([
      { volume: 'scratch', source: '/data/pods/default/web/volumes/scratch', target: '/s', readOnly: false },
      { volume: 'data', source: '/data/volumes/default/db', target: '/d', readOnly: true },
    ]);
    expect(containerMounts(pod.spec.containers[1], plans)).toEqual([
      { volume: 'scratch', source: '/data/pods/default/web/volumes/scratch/sub/dir', target: '/t', readOnly: true, subPath: 'sub/dir' },
      { volume: 'host', source: '/var/log', target: '/h', readOnly: false },
    ]);
    expect(volumeEnvName('my-config.v1')).toBe('CAPSTAN_VOLUME_MY_CONFIG_V1');
  });
});

describe('volume files on disk', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'capstan-vol-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('updates a configMap volume atomically through ..data and removes the old version', async () => {
    const dir = join(tmp(), 'cfg');
    expect(await writeAtomic(dir, [{ path: 'key', content: 'one', mode: 0o644 }, { path: 'sub/x', content: 'x', mode: 0o600 }])).toBe(true);
    expect(readFileSync(join(dir, 'key'), 'utf8')).toBe('one');
    expect(lstatSync(join(dir, 'key')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'key'))).toBe('..data/key');
    expect(statSync(join(dir, 'sub/x')).mode & 0o777).toBe(0o600);
    const first = readlinkSync(join(dir, '..data'));
    expect(first).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[0-9a-f]+$/);

    // Same payload: nothing is written.
    expect(await writeAtomic(dir, [{ path: 'key', content: 'one', mode: 0o644 }, { path: 'sub/x', content: 'x', mode: 0o600 }])).toBe(false);
    expect(readlinkSync(join(dir, '..data'))).toBe(first);

    expect(await writeAtomic(dir, [{ path: 'key', content: 'two', mode: 0o644 }])).toBe(true);
    expect(readFileSync(join(dir, 'key'), 'utf8')).toBe('two');
    const second = readlinkSync(join(dir, '..data'));
    expect(second).not.toBe(first);
    expect(existsSync(join(dir, first))).toBe(false);
    expect(existsSync(join(dir, 'sub'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual([second, '..data', 'key'].sort());
  });

  it('prepares a pod: private folder, emptyDir 0777, claim kept after removal, DirectoryOrCreate made', async () => {
    const dataDir = tmp();
    const hostDir = join(tmp(), 'made', 'here');
    const volumes: Volume[] = [
      { name: 'scratch', emptyDir: {} },
      { name: 'cfg', configMap: { name: 'app', items: [{ key: 'app.conf', path: 'app.conf', mode: 0o600 }] } },
      { name: 'db', persistentVolumeClaim: { claimName: 'db' } },
      { name: 'host', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
    ];
    const pod = podWith(volumes);
    let { plans, changed } = await prepareVolumes(pod, dataDir, lookup);
    expect(changed).toEqual(['cfg']);
    const own = podVolumesDir(dataDir, 'default', 'web');
    expect(statSync(own).mode & 0o777).toBe(0o700);
    expect(statSync(join(own, 'scratch')).mode & 0o777).toBe(0o777);
    expect(statSync(join(own, 'cfg', 'app.conf')).mode & 0o777).toBe(0o600);
    expect(statSync(hostDir).isDirectory()).toBe(true);
    writeFileSync(join(claimVolumePath(dataDir, 'default', 'db'), 'kept'), 'yes');

    ({ plans, changed } = await prepareVolumes(pod, dataDir, lookup));
    expect(changed).toEqual([]);

    const mounts = await resolveMounts({ name: 'main', volumeMounts: [{ name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' }, { name: 'scratch', mountPath: '/s', subPath: 'a/b' }] }, plans);
    expect(mounts[0].source).toMatch(/\/cfg\/\.\.\d{4}_.*\/app\.conf$/);
    expect(mounts[0].followPath).toBe(join(own, 'cfg', 'app.conf'));
    expect(statSync(join(own, 'scratch', 'a', 'b')).isDirectory()).toBe(true);
    await expect(resolveMounts({ name: 'main', volumeMounts: [{ name: 'cfg', mountPath: '/x', subPath: 'nope' }] }, plans)).rejects.toThrow(/subPath "nope" of volume "cfg" does not exist/);

    await removePodVolumes(dataDir, 'default', 'web');
    expect(existsSync(own)).toBe(false);
    expect(readFileSync(join(claimVolumePath(dataDir, 'default', 'db'), 'kept'), 'utf8')).toBe('yes');
  });

  it('refuses a hostPath of the wrong type', async () => {
    const base = tmp();
    mkdirSync(join(base, 'd'));
    const pod = podWith([{ name: 'h', hostPath: { path: join(base, 'd'), type: 'File' } }]);
    await expect(prepareVolumes(pod, base, lookup)).rejects.toThrow(/is not a File/);
  });
});
