// What a process-runtime pod can reach: real processes started by a real PodManager. As root
// (CI runs as root) pods run as nobody and can read neither the data dir nor its tokens, nor
// write outside their own folder; exec probes run as that user too. The state dir's modes are
// checked, and tightened when an older one was looser.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ManualClock, PodManager, ProcessRuntime, defaultPodUser, findPasswdUser, describePodUser, canSearch } from '../../src/agent/index.js';
import { makePod, probe, StatusLog, until } from './pods.js';

const NODE = process.execPath;
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn(`process isolation tests skipped: they need root (to start pods as another user); this runs as uid ${process.getuid?.()}`);

/** Tries what a hostile pod would, and writes what happened to $RESULT. */
const PROBE_SCRIPT = `
const fs = require('fs');
const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
const out = {
  uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), env: Object.keys(process.env).sort(), cwd: process.cwd(),
  readToken: attempt(() => fs.readFileSync(process.env.TOKEN_FILE, 'utf8')),
  readTokenRelative: attempt(() => fs.readFileSync('../../../../../admin.token', 'utf8')),
  listDataDir: attempt(() => fs.readdirSync(process.env.DATA_DIR)),
  listStateFiles: attempt(() => fs.readdirSync(process.env.DATA_DIR + '/agent/containers')),
  writeOutside: attempt(() => fs.writeFileSync(process.env.OUTSIDE + '/x', 'x')),
  writePodDir: attempt(() => fs.writeFileSync('../escape', 'x')),
  writeOwn: attempt(() => fs.writeFileSync('own', 'x')),
};
fs.writeFileSync(process.env.RESULT, JSON.stringify(out));
setInterval(() => {}, 1000);
`;

interface ProbeResult {
  uid: number;
  gid: number;
  groups: number[];
  env: string[];
  cwd: string;
  readToken: string;
  readTokenRelative: string;
  listDataDir: string;
  listStateFiles: string;
  writeOutside: string;
  writePodDir: string;
  writeOwn: string;
}

let dataDir: string;
let stateDir: string;
let outside: string;
let markers: string;
let clock: ManualClock;
let log: StatusLog;
const managers: PodManager[] = [];
const savedToken = process.env.CAPSTAN_TOKEN;

function newManager(runtime: ProcessRuntime): PodManager {
  const manager = new PodManager({ driver: runtime, node: 'n1', clock, onStatus: log.onStatus, onRemoved: log.onRemoved, hostIP: '127.0.0.1', envLookup: () => undefined });
  managers.push(manager);
  return manager;
}

const mode = (path: string): number => statSync(path).mode & 0o7777;

beforeEach(() => {
  // The layout of `capstan up`: <data dir>/admin.token beside <data dir>/agent.
  dataDir = mkdtempSync(join(tmpdir(), 'capstan-iso-'));
  writeFileSync(join(dataDir, 'admin.token'), 'admin-secret\n', { mode: 0o600 });
  stateDir = join(dataDir, 'agent');
  outside = mkdtempSync(join(tmpdir(), 'capstan-outside-'));
  chmodSync(outside, 0o755);
  markers = mkdtempSync(join(tmpdir(), 'capstan-results-'));
  chmodSync(markers, 0o777);
  clock = new ManualClock();
  log = new StatusLog();
  // Capstan's own environment must not reach pods.
  process.env.CAPSTAN_TOKEN = 'capstan-own-token';
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close({ stopContainers: true });
  if (savedToken === undefined) delete process.env.CAPSTAN_TOKEN;
  else process.env.CAPSTAN_TOKEN = savedToken;
  for (const d of [dataDir, outside, markers]) rmSync(d, { recursive: true, force: true });
});

function hostilePod(name: string, extra: { workingDir?: string } = {}) {
  const result = join(markers, `${name}.json`);
  const pod = makePod(name, [
    {
      name: 'c',
      image: 'unused',
      command: [NODE, '-e', PROBE_SCRIPT],
      ...extra,
      env: [
        { name: 'TOKEN_FILE', value: join(dataDir, 'admin.token') },
        { name: 'DATA_DIR', value: dataDir },
        { name: 'OUTSIDE', value: outside },
        { name: 'RESULT', value: result },
      ],
      // Ready once the pod has written its findings; the probe notes who it ran as.
      readinessProbe: probe({
        exec: { command: [NODE, '-e', `const fs = require('fs'); fs.writeFileSync(process.env.RESULT + '.probe', String(process.getuid())); process.exit(fs.existsSync(process.env.RESULT) ? 0 : 1)`] },
      }),
    },
  ]);
  return { pod, result };
}

describe('pod user', () => {
  it('is nobody from the passwd file when Capstan is root, none otherwise', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65533:nobody:/nonexistent:/usr/sbin/nologin\n';
    expect(defaultPodUser(0, () => passwd)).toEqual({ name: 'nobody', uid: 65534, gid: 65533 });
    expect(defaultPodUser(0, () => 'root:x:0:0::/root:/bin/sh\n')).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(defaultPodUser(0, () => { throw new Error('ENOENT'); })).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(defaultPodUser(1000, () => passwd)).toBeUndefined();
    expect(findPasswdUser('nobody:x:0:0::/:/bin/sh\n', 'nobody')).toBeUndefined(); // never root
    expect(describePodUser({ name: 'nobody', uid: 65534, gid: 65534 }, 0)).toBe('pods run as user nobody (uid 65534)');
    expect(describePodUser(undefined, 1000)).toMatch(/^pods run as Capstan's own user \(uid 1000\): Capstan is not root, so it cannot switch users/);
  });

  it('searches a directory by owner, then group, then other bits', () => {
    const user = { name: 'nobody', uid: 65534, gid: 65534 };
    expect(canSearch(0o700, { uid: 0, gid: 0 }, user)).toBe(false);
    expect(canSearch(0o711, { uid: 0, gid: 0 }, user)).toBe(true);
    expect(canSearch(0o700, { uid: 65534, gid: 0 }, user)).toBe(true);
    expect(canSearch(0o070, { uid: 65534, gid: 65534 }, user)).toBe(false);
    expect(canSearch(0o750, { uid: 0, gid: 65534 }, user)).toBe(true);
  });
});

describe.skipIf(!isRoot)('process runtime as root: pods run as an unprivileged user', () => {
  it('a pod cannot read the admin token or the data dir, nor write outside its folder; it and its exec probe run as nobody', async () => {
    const runtime = new ProcessRuntime({ stateDir, node: 'n1' });
    const user = defaultPodUser(0)!;
    expect(runtime.user).toEqual(user);
    expect(runtime.isolation).toBe(`pods run as user ${user.name} (uid ${user.uid})`);
    const manager = newManager(runtime);
    const { pod, result } = hostilePod('hostile');
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('hostile')?.ready).toBe(true));
    const r = JSON.parse(readFileSync(result, 'utf8')) as ProbeResult;

    expect(r.uid).toBe(user.uid);
    expect(r.uid).not.toBe(process.getuid!());
    expect(r.gid).toBe(user.gid);
    expect(r.groups).toEqual([user.gid]); // root's supplementary groups are dropped
    expect(r.readToken).toBe('EACCES');
    expect(r.readTokenRelative).toBe('EACCES');
    expect(r.listDataDir).toBe('EACCES');
    expect(r.listStateFiles).toBe('EACCES');
    expect(r.writeOutside).toBe('EACCES');
    expect(r.writePodDir).toBe('EACCES');
    expect(r.writeOwn).toBe('ok');
    expect(r.cwd).toBe(join(stateDir, 'pods', 'default', 'hostile', 'work'));
    // Only the pod's own variables and the runtime's: nothing of Capstan's environment.
    expect(r.env).toEqual(['DATA_DIR', 'HOME', 'HOSTNAME', 'OUTSIDE', 'PATH', 'RESULT', 'TOKEN_FILE']);
    expect(readFileSync(`${result}.probe`, 'utf8')).toBe(String(user.uid));

    // The modes that hold it: the state dir passable (not listable), its contents Capstan's.
    const podDir = join(stateDir, 'pods', 'default', 'hostile');
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(stateDir)).toBe(0o711);
    expect(mode(join(stateDir, 'containers'))).toBe(0o700);
    const id = log.last('hostile')!.containerStatuses![0].id!;
    expect(mode(join(stateDir, 'containers', `${id}.json`))).toBe(0o600);
    expect(mode(podDir)).toBe(0o711);
    expect(mode(join(podDir, 'logs'))).toBe(0o700);
    expect(mode(join(podDir, 'logs', 'c-0.log'))).toBe(0o600);
    const work = statSync(join(podDir, 'work'));
    expect([work.uid, work.gid, work.mode & 0o7777]).toEqual([user.uid, user.gid, 0o700]);
  });

  it('honours workingDir: / without giving access to the tokens', async () => {
    const manager = newManager(new ProcessRuntime({ stateDir, node: 'n1' }));
    const { pod, result } = hostilePod('rooted', { workingDir: '/' });
    await manager.sync([pod]);
    await until(manager, clock, 1000, () => expect(log.last('rooted')?.ready).toBe(true));
    const r = JSON.parse(readFileSync(result, 'utf8')) as ProbeResult;
    expect(r.cwd).toBe('/');
    expect(r.readToken).toBe('EACCES');
    expect(r.listDataDir).toBe('EACCES');
    expect(r.writeOwn).toBe('EACCES'); // / is not nobody's to write
  });

  it('refuses a workingDir the pod user could not enter on its own', async () => {
    const manager = newManager(new ProcessRuntime({ stateDir, node: 'n1' }));
    const { pod } = hostilePod('sneaky', { workingDir: dataDir });
    await manager.sync([pod]);
    const user = defaultPodUser(0)!;
    await until(manager, clock, 0, () =>
      expect(log.last('sneaky')?.containerStatuses?.[0].state).toEqual({
        waiting: {
          reason: 'CreateContainerError',
          message: `workingDir ${dataDir} is not a directory user ${user.name} (uid ${user.uid}) can enter; the process runtime runs pods as that user`,
        },
      }),
    );
  });
});

describe('process runtime state dir modes', () => {
  it('tightens an older state dir with looser modes, with an info line, and leaves the pods\' working dirs alone', async () => {
    mkdirSync(join(stateDir, 'containers'), { recursive: true, mode: 0o755 });
    mkdirSync(join(stateDir, 'pods', 'default', 'old', 'logs'), { recursive: true, mode: 0o755 });
    mkdirSync(join(stateDir, 'pods', 'default', 'old', 'work'), { recursive: true, mode: 0o755 });
    writeFileSync(join(stateDir, 'agent.token'), 'agent-secret\n', { mode: 0o644 });
    writeFileSync(join(stateDir, 'pods', 'default', 'old', 'logs', 'c-0.log'), 'hello\n', { mode: 0o644 });
    writeFileSync(join(stateDir, 'pods', 'default', 'old', 'work', 'data'), 'pod data\n', { mode: 0o644 });
    for (const p of [stateDir, join(stateDir, 'containers'), join(stateDir, 'pods', 'default', 'old', 'logs')]) chmodSync(p, (mode(p) & 0o700) | 0o055);
    const lines: string[] = [];
    const logger = pino({ level: 'info', base: undefined }, { write: (l: string) => void lines.push(l) });
    // As ourselves, so the test means the same as root or not.
    const runtime = new ProcessRuntime({ stateDir, node: 'n1', logger, user: null });
    expect(await runtime.list()).toEqual([]);

    expect(mode(stateDir)).toBe(0o700);
    expect(mode(join(stateDir, 'containers'))).toBe(0o700);
    expect(mode(join(stateDir, 'agent.token'))).toBe(0o600);
    expect(mode(join(stateDir, 'pods', 'default', 'old', 'logs'))).toBe(0o700);
    expect(mode(join(stateDir, 'pods', 'default', 'old', 'logs', 'c-0.log'))).toBe(0o600);
    expect(mode(join(stateDir, 'pods', 'default', 'old', 'work', 'data'))).toBe(0o644);
    const info = lines.map((l) => JSON.parse(l) as { level: number; msg: string; paths: string[] }).find((l) => l.msg.startsWith('tightened the modes'));
    expect(info?.level).toBe(30);
    expect(info?.msg).toMatch(/^tightened the modes of \d+ path\(s\) in .*: group and others had access$/);
    expect(info?.paths).toContain(`${join(stateDir, 'agent.token')} 0644 -> 0600`);
  });
});
