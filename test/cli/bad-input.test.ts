// Bad input that cannot be committed as a fixture (huge, binary, symlinks) or needs a server:
// each is one clear line with its code, exit 1 (usage errors 2), never a stack trace.
import { mkdirSync, rmSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, startSilentServer, freePort, type GitServer } from '../helpers/git-server.js';
import { createRepo, tempDir } from '../helpers/git.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const okDeployment = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ok
data: {}
`;

function expectClean(r: CliRun, code: number, errorCode: string, where?: string): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toContain(`[${errorCode}]`);
  if (where) expect(r.stderr).toContain(where);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('bad input on disk', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('capstan-bad-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function caseDir(name: string): string {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'ok.yaml'), okDeployment);
    return d;
  }

  it('a 50 MB file is refused by size, not read', async () => {
    const d = caseDir('huge');
    const fd = openSync(join(d, 'huge.yaml'), 'w');
    const chunk = Buffer.alloc(1024 * 1024, 'a: 1\n');
    for (let i = 0; i < 50; i++) writeSync(fd, chunk);
    closeSync(fd);
    const r = await runCli(['validate', '.'], { cwd: d });
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_TOO_LARGE', 'huge.yaml');
  });

  it('a binary file named .yaml', async () => {
    const d = caseDir('binary');
    writeFileSync(join(d, 'image.yaml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]));
    const r = await runCli(['validate', '.'], { cwd: d });
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_BINARY', 'image.yaml');
  });

  it('a symlink that leaves the repository', async () => {
    const d = caseDir('symlink');
    writeFileSync(join(dir, 'outside.yaml'), okDeployment.replace('name: ok', 'name: outside'));
    symlinkSync('../outside.yaml', join(d, 'escape.yaml'));
    const r = await runCli(['validate', '.'], { cwd: d });
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_PATH_ESCAPE', 'escape.yaml');
  });

  it('a path that does not exist', async () => {
    const r = await runCli(['validate', join(dir, 'nope')]);
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_NOT_FOUND');
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const r = await runCli(['plan', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option');
  });
});

describe('bad input from Git', () => {
  let server: GitServer;
  let locked: GitServer;
  let url: string;
  let lockedUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    server = await startGitServer();
    locked = await startGitServer({ auth: { username: 'deploy', password: 'right-password' } });
    url = createRepo(server, 'app', { 'ok.yaml': okDeployment }).url;
    lockedUrl = createRepo(locked, 'app', { 'ok.yaml': okDeployment }).url;
    dataDir = tempDir('capstan-bad-data-');
  });
  afterAll(async () => {
    await server?.stop();
    await locked?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a ref that does not exist', async () => {
    const r = await runCli(['plan', url, '--ref', 'no-such-branch', '--data-dir', dataDir]);
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_REF_NOT_FOUND', 'no-such-branch');
  });

  it('an unreachable remote', async () => {
    const port = await freePort();
    const r = await runCli(['plan', `http://127.0.0.1:${port}/app.git`, '--data-dir', dataDir]);
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_UNREACHABLE');
  });

  it('a remote that never answers times out', async () => {
    const silent = await startSilentServer();
    try {
      const r = await runCli(['plan', silent.url('app'), '--data-dir', dataDir], { env: { CAPSTAN_GIT_TIMEOUT_MS: '1500' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/CAPSTAN_ERR_SOURCE_(TIMEOUT|UNREACHABLE)/);
    } finally {
      await silent.stop();
    }
  });

  it('wrong credentials, which never appear in the output', async () => {
    const r = await runCli(['plan', lockedUrl, '--data-dir', dataDir], {
      env: { CAPSTAN_GIT_USERNAME: 'deploy', CAPSTAN_GIT_PASSWORD: 'wrong-password-123' },
    });
    expectClean(r, 1, 'CAPSTAN_ERR_SOURCE_AUTH');
    expect(r.stderr + r.stdout).not.toContain('wrong-password-123');
  });

  it('right credentials work', async () => {
    const r = await runCli(['plan', lockedUrl, '--data-dir', dataDir, '-o', 'json'], {
      env: { CAPSTAN_GIT_USERNAME: 'deploy', CAPSTAN_GIT_PASSWORD: 'right-password' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).changes).toHaveLength(1);
  });
});
