// Bearer tokens. Only the sha256 of a token is stored (under STORE_PREFIX.tokens), so the
// store never holds a usable secret; the token itself is shown once, when created.
// Roles: viewer reads; deployer also syncs and steers rollouts; admin does everything;
// agent is bound to one node (as Kubernetes' NodeRestriction).
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STORE_PREFIX } from '../api/cluster.js';
import { CapstanError } from '../common/index.js';
import type { KV } from '../store/index.js';
import { apiError } from './http.js';

export const ROLES = ['viewer', 'deployer', 'admin', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** What the store keeps per token (never the token). */
export interface TokenRecord {
  role: Role;
  user: string;
  /** For agents: the one node the token may act for. */
  node?: string;
  createdAt: string;
  /** After this instant the token is refused (absent: it never expires). */
  expiresAt?: string;
}

/** Who is calling, once the token checked out. */
export interface Principal extends TokenRecord {
  /** sha256 of the token (hex): an id that is safe to log and to revoke by. */
  id: string;
}

export interface CreateTokenOptions {
  role: Role;
  user: string;
  node?: string;
  /** Seconds the token is valid for (absent: until revoked). */
  ttlSeconds?: number;
  now?: () => number;
}

export interface CreatedToken {
  /** The secret: shown once, never stored. */
  token: string;
  id: string;
  record: TokenRecord;
}

const TOKEN_PREFIX = 'capstan_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function tokenKey(id: string): string {
  return `${STORE_PREFIX.tokens}${id}`;
}

function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export async function createToken(kv: KV, options: CreateTokenOptions): Promise<CreatedToken> {
  if (!isRole(options.role)) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', `unknown role ${JSON.stringify(options.role)}; use one of ${ROLES.join(', ')}`);
  }
  if (typeof options.user !== 'string' || options.user.length === 0) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', 'a token needs a user name');
  }
  if (options.role === 'agent' && (typeof options.node !== 'string' || options.node.length === 0)) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', 'an agent token must name its node');
  }
  if (options.role !== 'agent' && options.node !== undefined) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', 'only agent tokens are bound to a node');
  }
  if (options.ttlSeconds !== undefined && !(typeof options.ttlSeconds === 'number' && Number.isFinite(options.ttlSeconds) && options.ttlSeconds > 0)) {
    throw new CapstanError('CAPSTAN_ERR_API_BAD_REQUEST', `ttlSeconds must be a positive number of seconds, not ${JSON.stringify(options.ttlSeconds)}`);
  }
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = hashToken(token);
  const at = (options.now ?? Date.now)();
  const record: TokenRecord = {
    role: options.role,
    user: options.user,
    ...(options.node !== undefined ? { node: options.node } : {}),
    createdAt: new Date(at).toISOString(),
    ...(options.ttlSeconds !== undefined ? { expiresAt: new Date(at + options.ttlSeconds * 1000).toISOString() } : {}),
  };
  await kv.put(tokenKey(id), JSON.stringify(record));
  return { token, id, record };
}

export async function lookupToken(kv: KV, token: string, now: number = Date.now()): Promise<Principal | undefined> {
  const id = hashToken(token);
  const kvs = await kv.get(tokenKey(id));
  if (!kvs) return undefined;
  try {
    const record = JSON.parse(Buffer.from(kvs.value).toString('utf8')) as TokenRecord;
    // An expired token grants nothing (it stays listed until revoked, marked expired).
    if (record.expiresAt !== undefined && !(Date.parse(record.expiresAt) > now)) return undefined;
    return isRole(record.role) ? { ...record, id } : undefined;
  } catch {
    return undefined;
  }
}

export async function listTokens(kv: KV): Promise<Principal[]> {
  const r = await kv.range(STORE_PREFIX.tokens, { prefix: true });
  const out: Principal[] = [];
  for (const item of r.kvs) {
    try {
      const record = JSON.parse(Buffer.from(item.value).toString('utf8')) as TokenRecord;
      out.push({ ...record, id: item.key.slice(STORE_PREFIX.tokens.length) });
    } catch {
      // An unreadable record grants nothing; leave it out.
    }
  }
  return out;
}

/** Deletes a token by id (its sha256); true when it existed. */
export async function revokeToken(kv: KV, id: string): Promise<boolean> {
  if (!/^[0-9a-f]{64}$/.test(id)) return false;
  const r = await kv.delete(tokenKey(id));
  return r.deleted > 0;
}

/** The caller from an `Authorization: Bearer …` header, or a 401 error. */
export async function authenticate(kv: KV, header: string | undefined): Promise<Principal> {
  if (!header) throw apiError('CAPSTAN_ERR_AUTH_MISSING_TOKEN', 'send a token as "Authorization: Bearer <token>"');
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw apiError('CAPSTAN_ERR_AUTH_MISSING_TOKEN', 'the Authorization header is not "Bearer <token>"');
  const principal = await lookupToken(kv, m[1]!);
  if (!principal) throw apiError('CAPSTAN_ERR_AUTH_INVALID_TOKEN', 'the token is not valid (unknown or revoked)');
  return principal;
}

/**
 * The admin token of a local server: reuses `<dataDir>/admin.token` when the store still
 * knows it, otherwise creates one and writes the file with mode 0600.
 */
export async function bootstrapAdminToken(kv: KV, dataDir: string): Promise<string> {
  const path = join(dataDir, 'admin.token');
  let existing: string | undefined;
  try {
    existing = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CapstanError('CAPSTAN_ERR_CONFIG_INVALID', `cannot read ${path}`, { cause: err, context: { path } });
    }
  }
  if (existing) {
    const principal = await lookupToken(kv, existing);
    if (principal?.role === 'admin') {
      await chmod(path, 0o600);
      return existing;
    }
  }
  const created = await createToken(kv, { role: 'admin', user: 'admin' });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Write beside, then rename: a reader never sees a half-written token.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${created.token}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // the umask cannot widen it, but be explicit
  await rename(tmp, path);
  return created.token;
}

/**
 * What a route needs: public (no token), any valid token (the handler narrows it), read,
 * control (sync and rollout steering), admin, or node (agent writes, checked per node).
 */
export type Access = 'public' | 'any' | 'read' | 'control' | 'admin' | 'node';

/** Role check only; node binding is checked where the node is known. */
export function allowed(principal: Principal, access: Access): boolean {
  switch (access) {
    case 'public':
    case 'any':
      return true;
    case 'read':
      // Agents read only their own pods; the pod routes filter for them.
      return principal.role !== 'agent';
    case 'control':
      return principal.role === 'deployer' || principal.role === 'admin';
    case 'admin':
      return principal.role === 'admin';
    case 'node':
      return principal.role === 'agent' || principal.role === 'admin';
  }
}

export function forbidden(principal: Principal, what: string): CapstanError {
  return apiError('CAPSTAN_ERR_AUTH_FORBIDDEN', `role ${principal.role} may not ${what}`, { role: principal.role });
}
