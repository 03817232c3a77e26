// `capstan token create|list|revoke`: tokens an admin makes for people and agents; a token
// with a TTL is refused once it expires, and a revoked one at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/server/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';

let t: TestApi;
beforeAll(async () => {
  t = await startApi({ heartbeatMs: 100 });
});
afterAll(async () => t.close());

const admin = (...args: string[]) => runCli([...args, '--server', t.url, '--token', t.tokens.admin]);
const whoCan = (token: string) => fetch(`${t.url}/api/v1/pods`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

describe('capstan token', () => {
  it('creates a deployer token that works, lists it, and revokes it by id prefix', async () => {
    const made = await admin('token', 'create', '--role', 'deployer', '--user', 'alice', '--ttl', '30d');
    expect(made.code, made.stderr).toBe(0);
    const secret = made.stdout.trim();
    expect(secret).toMatch(/^capstan_\S+$/);
    expect(made.stderr).toMatch(/for alice \(deployer\), expires \d{4}-/);
    expect(await whoCan(secret)).toBe(200);

    const list = JSON.parse((await admin('token', 'list', '-o', 'json')).stdout) as { id: string; user: string; expiresAt?: string; expired: boolean }[];
    const alice = list.find((x) => x.user === 'alice')!;
    expect(alice.expired).toBe(false);
    expect(Date.parse(alice.expiresAt!) - Date.now()).toBeGreaterThan(29 * 86400_000);
    // The secret itself is never listed.
    expect(JSON.stringify(list)).not.toContain(secret);
    expect((await admin('token', 'list')).stdout).toMatch(new RegExp(`${alice.id.slice(0, 12)}\\s+deployer\\s+alice`));

    const revoked = await admin('token', 'revoke', alice.id.slice(0, 10));
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await whoCan(secret)).toBe(401);
  });

  it('binds an agent token to its node, and refuses one without --node', async () => {
    const bad = await admin('token', 'create', '--role', 'agent');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--node');
    const made = await admin('token', 'create', '--role', 'agent', '--node', 'worker-2', '-o', 'json');
    expect(made.code, made.stderr).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ role: 'agent', node: 'worker-2', user: 'agent-worker-2' });
  });

  it('refuses an expired token and marks it expired in the list', async () => {
    const old = await createToken(t.kv, { role: 'viewer', user: 'temp', ttlSeconds: 60, now: () => Date.now() - 120_000 });
    expect(await whoCan(old.token)).toBe(401);
    const list = JSON.parse((await admin('token', 'list', '-o', 'json')).stdout) as { user: string; expired: boolean }[];
    expect(list.find((x) => x.user === 'temp')?.expired).toBe(true);
  });

  it('needs an admin token', async () => {
    const out = await runCli(['token', 'list', '--server', t.url, '--token', t.tokens.deployer]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/403|admin/);
  });
});
